"""The recording rules alerts and fleet-wide panels read (group `hermes_recording_rules`).

Level `hermes` = aggregated over the agents of one scrape job: every rule keeps `job`, so several jobs or
Prometheus servers never mix. The SLO error ratios are recorded in ``slo``.
"""
from __future__ import annotations

from ... import catalogue as C
from ...config import Config
from ..promql import histogram_quantile, matcher, ratio
from .model import Group, Recording, job_scope, keep

GROUP = "hermes_recording_rules"


def group(cfg: Config) -> Group:
    e = job_scope(cfg)
    calls, llm_err, llm_req = C.TOOL_CALLS.name, C.LLM_ERRORS.name, C.LLM_REQUESTS.name
    buckets = C.TURN_DURATION.name + "_bucket"
    success, not_success = matcher(C.L_STATUS, "success"), matcher(C.L_STATUS, "success", "!=")
    completed = matcher(C.L_OUTCOME, "completed")
    job, tool, model = keep(cfg, C.L_JOB), keep(cfg, C.L_JOB, C.L_TOOL), keep(cfg, C.L_JOB, C.L_MODEL)

    def turn_quantile(q: float) -> str:
        return histogram_quantile(q, e.sum(buckets, "5m", by=keep(cfg, C.L_JOB, C.L_LE)))

    def per_bucket(rule: C.RecordingRule, metric: C.Metric) -> Recording:
        return Recording(rule, e.sum(metric.name + "_bucket", "5m", by=keep(cfg, *rule.labels)))

    sessions_1h = e.sum(C.SESSIONS.name, "1h", by=job, fn="increase")
    return Group(GROUP, (
        Recording(C.RULE_TOOL_SUCCESS_RATE, ratio(e.sum(calls, "5m", success, by=tool), e.sum(calls, "5m", by=tool))),
        Recording(C.RULE_TOOL_FAILURE_RATIO,
                  ratio(e.sum(calls, "5m", not_success, by=tool), e.sum(calls, "5m", by=tool))),
        Recording(C.RULE_TOOL_CALLS_RATE, e.sum(calls, "5m", by=tool)),
        Recording(C.RULE_LLM_ERROR_RATIO, ratio(e.sum(llm_err, "5m", by=model), e.sum(llm_req, "5m", by=model))),
        Recording(C.RULE_LLM_REQUESTS_RATE, e.sum(llm_req, "5m", by=model)),
        Recording(C.RULE_TURN_P95, turn_quantile(0.95)),
        Recording(C.RULE_TURN_P99, turn_quantile(0.99)),
        Recording(C.RULE_STEP_P95, histogram_quantile(
            0.95, e.sum(C.STEP_DURATION.name + "_bucket", "5m", by=keep(cfg, C.L_JOB, C.L_MODEL, C.L_LE)))),
        Recording(C.RULE_COST_PER_HOUR, f"{e.sum(C.COST.name, '1h', by=model)} * 3600"),
        Recording(C.RULE_COST_24H, e.sum(C.COST.name, "24h", by=job, fn="increase")),
        Recording(C.RULE_TOKENS_24H, e.sum(C.TOKENS.name, "24h", by=job, fn="increase")),
        Recording(C.RULE_TOKENS_RATE, e.sum(C.TOKENS.name, "5m", by=job)),
        Recording(C.RULE_UNPRICED_TOKENS_RATE, e.sum(C.UNPRICED_TOKENS.name, "5m", by=model)),
        Recording(C.RULE_SESSIONS_1H, sessions_1h),
        Recording(C.RULE_COMPLETION_RATIO,
                  ratio(e.sum(C.SESSIONS.name, "1h", completed, by=job, fn="increase"), sessions_1h)),
        Recording(C.RULE_ACTIVE_SESSIONS, f"sum by ({', '.join(keep(cfg, C.L_JOB, C.L_INSTANCE))}) ({e.series(C.ACTIVE_SESSIONS.name)})"),
        per_bucket(C.RULE_TURN_BUCKETS, C.TURN_DURATION),
        per_bucket(C.RULE_STEP_BUCKETS, C.STEP_DURATION),
        per_bucket(C.RULE_TOOL_BUCKETS, C.TOOL_DURATION),
        Recording(C.RULE_TOOL_CALLS_BY_STATUS, e.sum(calls, "5m", by=keep(cfg, *C.RULE_TOOL_CALLS_BY_STATUS.labels))),
        per_bucket(C.RULE_INSTANCE_STEP_BUCKETS, C.STEP_DURATION),
        per_bucket(C.RULE_INSTANCE_TOOL_BUCKETS, C.TOOL_DURATION),
        Recording(C.RULE_INSTANCE_TOOL_CALLS, e.sum(calls, "5m", by=keep(cfg, *C.RULE_INSTANCE_TOOL_CALLS.labels))),
        Recording(C.RULE_INSTANCE_COST_24H,
                  e.sum(C.COST.name, "24h", by=keep(cfg, *C.RULE_INSTANCE_COST_24H.labels), fn="increase")),
        Recording(C.RULE_INSTANCE_TOKENS_24H,
                  e.sum(C.TOKENS.name, "24h", by=keep(cfg, *C.RULE_INSTANCE_TOKENS_24H.labels), fn="increase")),
        Recording(C.RULE_INSTANCE_TOKENS_RATE, e.sum(C.TOKENS.name, "5m", by=keep(cfg, *C.RULE_INSTANCE_TOKENS_RATE.labels))),
    ))
