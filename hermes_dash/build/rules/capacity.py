"""Capacity alerts (group `hermes_capacity`): an instance near its session capacity."""
from __future__ import annotations

from typing import Tuple

from ... import catalogue as C
from ...config import Config
from ..text import num, pct
from .model import Alert, job_scope

GROUP = "hermes_capacity"


def alerts(cfg: Config) -> Tuple[Alert, ...]:
    e, t, f = job_scope(cfg), cfg.thresholds, cfg.alerting.for_durations
    return (
        Alert(C.A_SESSIONS_NEAR_CAPACITY,
              f"{e.rec(C.RULE_ACTIVE_SESSIONS)} / {num(t.session_capacity_per_instance)} > "
              f"{num(t.capacity_warning_ratio)}",
              f.sessions_near_capacity, C.WARNING, C.TEAM_PLATFORM,
              f"A Hermes agent runs more than {pct(t.capacity_warning_ratio)} of its session capacity",
              "{{ $labels.instance }} (job {{ $labels.job }}) runs {{ $value | humanizePercentage }} of its "
              f"capacity of {num(t.session_capacity_per_instance)} concurrent sessions."),
    )
