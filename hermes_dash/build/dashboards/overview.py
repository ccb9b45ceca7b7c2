"""Overview: the headline number of each dimension, each linking to its dashboard."""
from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ..text import num, pct
from ._common import Panel, Q, Row, dashboard

NAME = "overview"
TITLE = "Hermes / Overview"
ORDER = 0
ABOUT = "Headline numbers of Hermes agents; each panel links to its dashboard."
#: the dashboard's variables besides job and instance
VARIABLES = ()


def build(cfg: Config):
    q, t = Queries(cfg, VARIABLES), cfg.thresholds
    return dashboard(NAME, q, [
        Row("Hermes at a glance", [
            Panel("Turn P95 latency", (Q(q.turn_quantile(0.95), "P95"),), "s", C.TURN_DURATION, kind="stat",
                  width=4, threshold=t.latency_p95_seconds, link="latency"),
            Panel("Turn success rate", (Q(q.turn_success_rate(), "success"),), "percentunit", C.TURN_DURATION,
                  kind="stat", width=4, link="reliability"),
            Panel("USD per hour", (Q(q.cost_per_hour(), "USD/h"),), "currencyUSD", C.COST, kind="stat", width=4,
                  threshold=t.cost_per_hour_usd, link="cost"),
            Panel("Active sessions", (Q(q.active_sessions_total(), "sessions"),), "short", C.ACTIVE_SESSIONS,
                  kind="stat", width=4, link="capacity"),
            Panel("Task completion rate", (Q(q.completion_rate(), "completed"),), "percentunit", C.SESSIONS,
                  kind="stat", width=4, threshold=t.task_completion_target, threshold_below=True, link="business"),
            Panel("Instances up", (Q(f"sum({q.instances_up()})", "up"),), "short",
                  "Agents Prometheus scraped at the last attempt (metric `up`).", kind="stat", width=4,
                  link="reliability"),
        ]),
        Row("Service level objectives", [
            Panel("Turn success: error budget left", (Q(q.slo_budget_remaining(
                C.SLI_TURN_ERRORS, cfg.slo.turn_success_target), "budget left"),), "percentunit",
                f"Share of the turn success SLO's error budget ({pct(cfg.slo.turn_success_target)} of turns "
                f"succeed over {cfg.slo.period}) not spent yet.", kind="stat", width=12,
                steps=((0, "orange"), (0.25, "green")), threshold_below=True, link="slo"),
            Panel("Turn latency: error budget left", (Q(q.slo_budget_remaining(
                C.SLI_TURN_SLOW, cfg.slo.turn_latency_target), "budget left"),), "percentunit",
                f"Share of the turn latency SLO's error budget ({pct(cfg.slo.turn_latency_target)} of turns "
                f"within {num(cfg.slo.turn_latency_seconds)}s over {cfg.slo.period}) not spent yet.", kind="stat",
                width=12, steps=((0, "orange"), (0.25, "green")), threshold_below=True, link="slo"),
        ]),
    ])
