"""Reliability alerts (group `hermes_reliability`): tool and LLM failure shares, instances down or gone."""
from __future__ import annotations

from typing import Tuple

from ... import catalogue as C
from ...config import Config
from ..promql import matcher
from ..text import num, pct
from .model import WINDOW_5M, Alert, job_scope, keep, on

GROUP = "hermes_reliability"


def alerts(cfg: Config) -> Tuple[Alert, ...]:
    e, t, f = job_scope(cfg), cfg.thresholds, cfg.alerting.for_durations
    P = C.TEAM_PLATFORM
    up = e.series(C.UP)
    # absent() of a regex selector has no `job` label: one absent() per job, so each keeps its own
    absent = "\nor\n".join(f"absent({C.UP}{{{matcher(C.L_JOB, job)}}})" for job in cfg.selectors.jobs)
    return (
        Alert(C.A_TOOL_ERROR_RATE,
              f"{e.rec(C.RULE_TOOL_FAILURE_RATIO)} > {num(t.tool_error_rate)}\n"
              f"and {on(cfg, C.L_TOOL)}\n"
              f"{e.rec(C.RULE_TOOL_CALLS_RATE)} * {WINDOW_5M} >= {num(t.tool_error_min_calls)}",
              f.tool_error_rate, C.WARNING, P,
              f"A Hermes tool fails more than {pct(t.tool_error_rate)} of its calls",
              "{{ $value | humanizePercentage }} of calls to tool {{ $labels.tool_name }} (job {{ $labels.job }}) "
              f"did not succeed over the last 5m: errors, timeouts, cancellations and blocks "
              f"(threshold {pct(t.tool_error_rate)})."),
        Alert(C.A_LLM_ERROR_RATE,
              f"{e.rec(C.RULE_LLM_ERROR_RATIO)} > {num(t.llm_error_rate)}\n"
              f"and {on(cfg, C.L_MODEL)}\n{e.rec(C.RULE_LLM_REQUESTS_RATE)} * {WINDOW_5M} >= "
              f"{num(t.llm_error_min_requests)}",
              f.llm_error_rate, C.WARNING, P,
              f"Hermes LLM API calls to a model fail more than {pct(t.llm_error_rate)} of the time",
              "{{ $value | humanizePercentage }} of LLM API calls to model {{ $labels.model }} (job "
              "{{ $labels.job }}) failed over the last 5m "
              f"(threshold {pct(t.llm_error_rate)})."),
        Alert(C.A_INSTANCE_DOWN, f"{up} == 0", f.instance_down, C.CRITICAL, P,
              "A Hermes agent cannot be scraped",
              "Prometheus has failed to scrape {{ $labels.instance }} of job {{ $labels.job }} for "
              f"{f.instance_down}: the agent is down or its /metrics endpoint is unreachable."),
        Alert(C.A_METRICS_ABSENT,
              f"sum by ({', '.join(keep(cfg, C.L_JOB))}) ({up}) == 0\nor\n{absent}",
              f.metrics_absent, C.CRITICAL, P,
              "No Hermes agent is being scraped",
              "No target of job {{ $labels.job }} has been scraped successfully for "
              f"{f.metrics_absent}: every agent is down, or service discovery finds none. "
              "Every other Hermes alert is blind until this is fixed."),
    )
