"""Latency alerts (group `hermes_performance`): turn P95 and P99, and a model's step P95, above their
thresholds."""
from __future__ import annotations

from typing import Tuple

from ... import catalogue as C
from ...config import Config
from ..text import num
from .model import Alert, job_scope

GROUP = "hermes_performance"


def alerts(cfg: Config) -> Tuple[Alert, ...]:
    e, t, f = job_scope(cfg), cfg.thresholds, cfg.alerting.for_durations
    return (
        Alert(C.A_HIGH_LATENCY, f"{e.rec(C.RULE_TURN_P95)} > {num(t.latency_p95_seconds)}",
              f.high_latency, C.WARNING, C.TEAM_PLATFORM,
              f"Hermes turn latency P95 is above {num(t.latency_p95_seconds)}s",
              "P95 of turn duration on job {{ $labels.job }} is {{ $value | humanizeDuration }} over the "
              f"last 5m (threshold {num(t.latency_p95_seconds)}s)."),
        Alert(C.A_CRITICAL_LATENCY, f"{e.rec(C.RULE_TURN_P99)} > {num(t.latency_p99_seconds)}",
              f.critical_latency, C.CRITICAL, C.TEAM_PLATFORM,
              f"Hermes turn latency P99 is above {num(t.latency_p99_seconds)}s",
              "P99 of turn duration on job {{ $labels.job }} is {{ $value | humanizeDuration }} over the "
              f"last 5m (threshold {num(t.latency_p99_seconds)}s)."),
        Alert(C.A_STEP_LATENCY, f"{e.rec(C.RULE_STEP_P95)} > {num(t.step_p95_seconds)}",
              f.step_latency, C.WARNING, C.TEAM_PLATFORM,
              f"Hermes LLM steps are slow: a model's step P95 is above {num(t.step_p95_seconds)}s",
              "P95 of reasoning steps (LLM API calls) to model {{ $labels.model }} on job {{ $labels.job }} is "
              "{{ $value | humanizeDuration }} over the last 5m "
              f"(threshold {num(t.step_p95_seconds)}s)."),
    )
