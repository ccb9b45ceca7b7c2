"""Business: task completion rate, sessions by outcome and platform, turns by platform, steps per session."""
from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ._common import Panel, Q, Row, dashboard

NAME = "business"
TITLE = "Hermes / Business"
ORDER = 5
ABOUT = "Whether Hermes agents finish the tasks they are given, and how many steps it takes."
#: the dashboard's variables besides job and instance
VARIABLES = ()


def build(cfg: Config):
    q, t = Queries(cfg, VARIABLES), cfg.thresholds
    return dashboard(NAME, q, [
        Row("Outcomes", [
            Panel("Task completion rate", (Q(q.completion_rate(), "completed"),), "percentunit", C.SESSIONS,
                  width=8, kind="stat", threshold=t.task_completion_target, threshold_below=True),
            Panel("Task completion rate over time", (Q(q.completion_rate(), "completed"),), "percentunit",
                  C.SESSIONS, width=16, threshold=t.task_completion_target, threshold_below=True),
            Panel("Sessions by outcome", (Q(q.sessions_by_outcome(), "{{outcome}}"),), "short", C.SESSIONS,
                  width=24, stacked=True),
        ]),
        Row("Platforms", [
            Panel("Sessions by platform", (Q(q.sessions_by_platform(), "{{platform}}"),), "short",
                  "Finished sessions per second by the Hermes platform they came from: cli, telegram, "
                  f"discord, api_server, cron, ... (metric `{C.SESSIONS.name}`).", width=8, stacked=True),
            Panel("Turns by platform", (Q(q.turns_by_platform(), "{{platform}}"),), "short", C.TURNS, width=8,
                  stacked=True),
            Panel("Task completion rate by platform", (Q(q.completion_rate_by_platform(), "{{platform}}"),),
                  "percentunit", C.SESSIONS, width=8, threshold=t.task_completion_target, threshold_below=True),
        ]),
        Row("Steps", [
            Panel("Average steps per session", (Q(q.avg_steps_per_session(), "steps"),), "short",
                  C.SESSION_STEPS),
            Panel("Steps per session (distribution over the range)",
                  (Q(q.steps_distribution(), "{{le}}", instant=True, format="heatmap"),), "short",
                  C.SESSION_STEPS, kind="bargauge"),
        ]),
    ])
