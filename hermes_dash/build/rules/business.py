"""Business alerts (group `hermes_business`): too few sessions complete their task."""
from __future__ import annotations

from typing import Tuple

from ... import catalogue as C
from ...config import Config
from ..text import num, pct
from .model import Alert, job_scope, on

GROUP = "hermes_business"


def alerts(cfg: Config) -> Tuple[Alert, ...]:
    e, t, f = job_scope(cfg), cfg.thresholds, cfg.alerting.for_durations
    return (
        Alert(C.A_TASK_COMPLETION_LOW,
              f"{e.rec(C.RULE_COMPLETION_RATIO)} < {num(t.task_completion_target)}\n"
              f"and {on(cfg)}\n{e.rec(C.RULE_SESSIONS_1H)} >= {num(t.task_completion_min_sessions)}",
              f.task_completion_low, C.WARNING, C.TEAM_PLATFORM,
              f"Fewer than {pct(t.task_completion_target)} of Hermes sessions complete",
              "Only {{ $value | humanizePercentage }} of the sessions job {{ $labels.job }} finished over the "
              f"last hour completed (target {pct(t.task_completion_target)})."),
    )
