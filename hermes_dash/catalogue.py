"""The metric catalogue: every metric, label and recording-rule name of hermes-dash, written once.

    from hermes_dash import catalogue as C
    C.TOOL_CALLS.name              # 'hermes_tool_call_total'
    C.TOOL_CALLS.labels            # ('tool_name', 'status')
    C.LABEL_VALUES['status']       # ('success', 'error', 'timeout', 'cancelled')

Instrumentation, the Hermes plugin, dashboards, rules and tests import these objects; no other module
spells a metric, label or recording-rule name as a string literal. This module holds names, types,
help text, units, closed label-value sets and buckets only: it does not create prometheus_client
objects (``hermes_dash.instrumentation`` does) and holds no thresholds (``hermes_dash.config`` does).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

COUNTER = "counter"
GAUGE = "gauge"
HISTOGRAM = "histogram"

# ---------------------------------------------------------------------------------------------------------
# Labels. A label either has a closed set of values known in advance (initialised at zero so rate() sees
# the first increment) or is "open" (tool and model names chosen by an LLM or a user): open labels are
# bounded at run time and overflow into OTHER.
# ---------------------------------------------------------------------------------------------------------
L_STATUS = "status"
L_STEP_TYPE = "step_type"
L_TOOL = "tool_name"
L_MODEL = "model"
L_PROVIDER = "provider"
L_TOKEN_TYPE = "token_type"
L_ERROR_TYPE = "error_type"
L_OUTCOME = "outcome"
L_HOOK = "hook"
L_PLATFORM = "platform"
L_REASON = "reason"
L_WHAT = "what"

# Labels that Prometheus attaches at scrape time; a metric label of the same name would collide with them
# (the seed's `instance` label on hermes_active_sessions did). Used by the tests and the lint.
L_INSTANCE = "instance"
L_JOB = "job"
L_LE = "le"  # a histogram bucket's upper bound
TARGET_LABELS = (L_INSTANCE, L_JOB)

#: the value an open label takes once its bound of distinct values is reached
OTHER = "other"
#: the value used when Hermes does not say which model or provider served a call
UNKNOWN = "unknown"

# Turn status. A *turn* is one user message to its final answer (the seed chapter called it a "request";
# the metric keeps its contract name hermes_request_duration_seconds, everything else says turn).
# success = the turn produced a final answer; interrupted = the user or the platform stopped it;
# error = the turn ended without an answer (API failure, iteration limit, ...).
TURN_STATUSES = ("success", "error", "interrupted")
# Tool call status. A cancelled call (asyncio cancellation, KeyboardInterrupt) is not a success;
# a call refused by Hermes' policy (`blocked`) is not a success either.
TOOL_STATUSES = ("success", "error", "timeout", "cancelled", "blocked")
TOOL_FAILURE_STATUSES = tuple(s for s in TOOL_STATUSES if s != "success")
# One Hermes API call is one reasoning step. `tool_use`: the model answered with tool calls; `answer`:
# it answered with text (usually the final answer); `error`: the call failed and produced no answer.
STEP_TYPES = ("tool_use", "answer", "error")
# Token types, as Hermes reports them (its CanonicalUsage), disjoint: summed over token_type they count
# every token of a call exactly once (Hermes' total_tokens).
#   prompt       input tokens neither read from nor written to the provider's prompt cache (Hermes'
#                input_tokens), billed at the full input price. NOT including cache reads (the seed's did):
#                prompt + cache_read + cache_write is the whole input (Hermes' prompt_tokens)
#   cache_read   input tokens served from the prompt cache (billed at the cache-read price, a fraction)
#   cache_write  input tokens written to the prompt cache (billed at the cache-write price)
#   completion   output tokens that are not reasoning: output_tokens - reasoning_tokens
#   reasoning    output tokens the model spent reasoning, where the provider reports them apart (OpenAI,
#                OpenRouter); where it does not (Anthropic, Gemini native), they are inside completion
TOKEN_TYPES = ("prompt", "completion", "cache_read", "cache_write", "reasoning")
#: the token types of a call's input (the denominator of the prompt cache hit ratio)
INPUT_TOKEN_TYPES = ("prompt", "cache_read", "cache_write")
#: cost is counted by token type, and `request` for a fee some routes charge per API call (not a token)
COST_REQUEST = "request"
COST_TYPES = TOKEN_TYPES + (COST_REQUEST,)
LLM_ERROR_TYPES = ("rate_limit", "context_too_long", "timeout", "api_error")
# Outcome of a finished session: the outcome of its last turn, `abandoned` when it never finished a turn
# or its last turn expired (no hook for instrumentation.turn_max_age_seconds).
SESSION_OUTCOMES = ("completed", "failed", "interrupted", "abandoned")
#: the session outcome a turn's status gives (the outcome of its last turn)
TURN_OUTCOMES = {"success": "completed", "error": "failed", "interrupted": "interrupted"}

# Why an input was dropped instead of recorded. A number (a duration, a token count, a cost, a gauge
# value): not a number at all (a string, a bool, None where a number was required), NaN or infinite,
# or below zero (a sum or a counter must never go down), or above MAX_SAMPLE (no real count, cost or
# duration is; two values near the float limit would make a sum infinite). `no_turn`: an on_session_end
# with no turn in progress to end (a duplicate, or the end of a turn already expired): it creates no session.
DROP_REASONS = ("not_a_number", "not_finite", "negative", "no_turn", "too_large")
NOT_A_NUMBER, NOT_FINITE, NEGATIVE, NO_TURN, TOO_LARGE = DROP_REASONS
#: the largest number recorded as it is (a token count, USD, seconds, a gauge value); above it, dropped
MAX_SAMPLE = 1e15
# What the plugin gave up on: a turn in progress whose session fired no hook for
# instrumentation.turn_max_age_seconds (its duration is not recorded), a pending API request older than
# api_request_max_age_seconds or pushed out by max_pending_api_requests, a session finished early because
# max_open_sessions were open.
EXPIRED_KINDS = ("turn", "api_request", "session")
EXPIRED_TURN, EXPIRED_API_REQUEST, EXPIRED_SESSION = EXPIRED_KINDS

#: closed value sets; a label absent from this mapping is open (bounded at run time)
LABEL_VALUES: Mapping[str, Tuple[str, ...]] = {
    L_STEP_TYPE: STEP_TYPES,
    L_TOKEN_TYPE: TOKEN_TYPES,
    L_ERROR_TYPE: LLM_ERROR_TYPES,
    L_OUTCOME: SESSION_OUTCOMES,
    L_REASON: DROP_REASONS,
    L_WHAT: EXPIRED_KINDS,
}
#: the closed set of a label, per metric, where one label name serves two metrics (status)
METRIC_LABEL_VALUES_OVERRIDE = {
    ("hermes_request_duration_seconds", L_STATUS): TURN_STATUSES,
    ("hermes_tool_call_total", L_STATUS): TOOL_STATUSES,
    ("hermes_turns_total", L_STATUS): TURN_STATUSES,
    ("hermes_cost_usd_total", L_TOKEN_TYPE): COST_TYPES,
}
#: labels whose values come from outside (LLM, user, provider, Hermes' platform plugins) and are bounded at
#: run time. `platform` is Hermes' own: cli, telegram, discord, slack, api_server, cron, ... (any platform
#: plugin adds one); Hermes sends "" when an agent has none (its Python API): counted as `unknown`.
OPEN_LABELS = (L_TOOL, L_MODEL, L_PROVIDER, L_PLATFORM)
#: the Hermes lifecycle hooks the plugin subscribes to (values of the `hook` label)
HERMES_HOOKS = ("on_session_start", "pre_llm_call", "pre_api_request", "post_api_request",
                "api_request_error", "post_tool_call", "on_session_end", "on_session_finalize",
                "on_session_reset")


@dataclass(frozen=True)
class Metric:
    """One metric of the catalogue.

        m = Metric('hermes_x_total', COUNTER, 'Things done.', unit='', labels=('tool_name',))
    """
    name: str
    type: str
    help: str
    unit: str = ""
    labels: Tuple[str, ...] = ()
    buckets: Optional[Tuple[float, ...]] = None
    #: how a gauge is combined across processes in prometheus_client multiprocess mode
    multiprocess_mode: str = ""
    #: which of the five dimensions (and "meta" for the exporter itself) the metric serves
    dimension: str = ""

    def label_values(self, label: str) -> Optional[Tuple[str, ...]]:
        """The closed set of values `label` takes on this metric, or None when it is open."""
        return METRIC_LABEL_VALUES_OVERRIDE.get((self.name, label), LABEL_VALUES.get(label))

    @property
    def sample_names(self) -> Tuple[str, ...]:
        """The series names this metric exposes (histograms: _bucket, _count, _sum)."""
        if self.type == HISTOGRAM:
            return (self.name + "_bucket", self.name + "_count", self.name + "_sum")
        return (self.name,)

    @property
    def base_name(self) -> str:
        """The name prometheus_client is given (it appends `_total` to counters itself)."""
        return self.name[: -len("_total")] if self.type == COUNTER else self.name


# Buckets. Turn latency reaches minutes (tool-heavy turns); the alert thresholds (P95 30 s, P99 120 s)
# must be bucket boundaries so histogram_quantile() is exact there.
TURN_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
STEP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
SESSION_STEP_BUCKETS = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)

TURN_DURATION = Metric(
    "hermes_request_duration_seconds", HISTOGRAM,
    "Duration of one agent turn, from the user message to the final answer.",
    unit="seconds", labels=(L_STATUS,), buckets=TURN_BUCKETS, dimension="latency")
STEP_DURATION = Metric(
    "hermes_step_duration_seconds", HISTOGRAM,
    "Duration of one reasoning step (one LLM API call attempt), timed around the call itself.",
    unit="seconds", labels=(L_MODEL, L_STEP_TYPE), buckets=STEP_BUCKETS, dimension="latency")
TOOL_CALLS = Metric(
    "hermes_tool_call_total", COUNTER,
    "Tool calls by tool and status (success, error, timeout, cancelled, blocked).",
    labels=(L_TOOL, L_STATUS), dimension="reliability")
TOOL_DURATION = Metric(
    "hermes_tool_duration_seconds", HISTOGRAM,
    "Duration of one tool call, whatever its status.",
    unit="seconds", labels=(L_TOOL,), buckets=TOOL_BUCKETS, dimension="latency")
TOKENS = Metric(
    "hermes_tokens_total", COUNTER,
    "LLM tokens consumed, by model and type: prompt (uncached input), cache_read, cache_write, completion "
    "(output less reasoning), reasoning; disjoint, so their sum is every token once.",
    unit="tokens", labels=(L_MODEL, L_TOKEN_TYPE), dimension="cost")
ACTIVE_SESSIONS = Metric(
    "hermes_active_sessions", GAUGE,
    "Sessions with a turn in progress in this process.",
    unit="sessions", multiprocess_mode="livesum", dimension="capacity")
SESSION_STEPS = Metric(
    "hermes_session_steps", HISTOGRAM,
    "Reasoning steps (LLM calls) per finished session, over all its turns.",
    unit="steps", buckets=SESSION_STEP_BUCKETS, dimension="business")
COST = Metric(
    "hermes_cost_usd_total", COUNTER,
    "LLM API cost in US dollars, by model, provider and token type (request: a per-call fee).",
    unit="usd", labels=(L_MODEL, L_PROVIDER, L_TOKEN_TYPE), dimension="cost")
LLM_ERRORS = Metric(
    "hermes_llm_errors_total", COUNTER,
    "Failed LLM API call attempts, by model and error type.",
    labels=(L_MODEL, L_ERROR_TYPE), dimension="reliability")
# --- beyond the seed: what the five dimensions need -----------------------------------------------------
LLM_REQUESTS = Metric(
    "hermes_llm_requests_total", COUNTER,
    "LLM API call attempts, failed or not: the denominator of the LLM error rate.",
    labels=(L_MODEL,), dimension="reliability")
SESSIONS = Metric(
    "hermes_sessions_total", COUNTER,
    "Finished sessions by outcome (completed, failed, interrupted, abandoned) and Hermes platform.",
    labels=(L_OUTCOME, L_PLATFORM), dimension="business")
TURNS = Metric(
    "hermes_turns_total", COUNTER,
    "Agent turns by Hermes platform and status (success, error, interrupted); every turn counts, even one "
    "whose duration was dropped.",
    labels=(L_PLATFORM, L_STATUS), dimension="business")
QUEUE_DEPTH = Metric(
    "hermes_queue_depth", GAUGE,
    "Messages waiting for an agent in this process, as an embedder reports them (HermesMetrics."
    "set_queue_depth); Hermes 0.19 exposes no such signal to plugins, so the plugin leaves it at 0.",
    unit="messages", multiprocess_mode="livesum", dimension="capacity")
UNPRICED_TOKENS = Metric(
    "hermes_unpriced_tokens_total", COUNTER,
    "Tokens of models with no known price: counted here instead of silently costing $0.",
    unit="tokens", labels=(L_MODEL, L_TOKEN_TYPE), dimension="cost")
LABEL_OVERFLOW = Metric(
    "hermes_label_overflow_total", COUNTER,
    "Label values folded into `other` because the label reached its bound of distinct values.",
    labels=("label",), dimension="meta")
HOOK_ERRORS = Metric(
    "hermes_metrics_hook_errors_total", COUNTER,
    "Exceptions caught inside hermes-dash hook callbacks (the agent carried on).",
    labels=(L_HOOK,), dimension="meta")
LABEL_SANITISED = Metric(
    "hermes_label_values_sanitised_total", COUNTER,
    "Label values changed before use: invalid UTF-8 or control characters replaced, or truncated to "
    "the length bound (counted per call).",
    labels=("label",), dimension="meta")
DROPPED_SAMPLES = Metric(
    "hermes_dropped_samples_total", COUNTER,
    "Inputs dropped instead of recorded, by reason (not_a_number, not_finite, negative, no_turn, too_large).",
    labels=(L_REASON,), dimension="meta")
EXPIRED = Metric(
    "hermes_expired_total", COUNTER,
    "Turns, pending API requests and sessions the plugin gave up on: past their maximum age or bound.",
    labels=(L_WHAT,), dimension="meta")

METRICS: Tuple[Metric, ...] = (
    TURN_DURATION, STEP_DURATION, TOOL_CALLS, TOOL_DURATION, TOKENS, ACTIVE_SESSIONS,
    SESSION_STEPS, COST, LLM_ERRORS, LLM_REQUESTS, SESSIONS, TURNS, QUEUE_DEPTH, UNPRICED_TOKENS,
    LABEL_OVERFLOW, HOOK_ERRORS, LABEL_SANITISED, DROPPED_SAMPLES, EXPIRED,
)
BY_NAME: Mapping[str, Metric] = {m.name: m for m in METRICS}

# the `label` label of hermes_label_overflow_total names an open label; `hook` names a Hermes hook
LABEL_VALUES = dict(LABEL_VALUES, label=OPEN_LABELS, hook=HERMES_HOOKS)

# ---------------------------------------------------------------------------------------------------------
# Series others provide that dashboards and rules read, with the labels they carry besides the target
# labels: Prometheus itself (up, ALERTS) and prometheus_client's process collector (on the agent's own
# /metrics). Host and GPU exporters (node, DCGM) are scraped as jobs of their own: their dashboards are
# theirs, since every panel here is filtered by the Hermes job and instance.
# ---------------------------------------------------------------------------------------------------------
UP = "up"
ALERTS = "ALERTS"
# labels of Prometheus' ALERTS series, and those every hermes-dash alert carries
L_ALERTNAME = "alertname"
L_ALERTSTATE = "alertstate"   # pending or firing
FIRING = "firing"
L_SEVERITY = "severity"
L_TEAM = "team"
PROCESS_MEMORY = "process_resident_memory_bytes"
PROCESS_CPU = "process_cpu_seconds_total"
EXTERNAL_SERIES: Mapping[str, Tuple[str, ...]] = {
    UP: (),
    ALERTS: (L_ALERTNAME, L_ALERTSTATE, L_SEVERITY, L_TEAM),  # and the alert's own labels
    PROCESS_MEMORY: (),
    PROCESS_CPU: (),
}

# ---------------------------------------------------------------------------------------------------------
# Recording rules, named level:metric:operations. The level `hermes` means "the Hermes agents of one scrape
# job": every rule keeps `job`, so several jobs or Prometheus servers (federation, a long-term store) never
# mix; the rules alerts read aggregate the job, those only panels read keep `instance` too, so the
# dashboards' instance picker filters them (the panels sum). The level `hermes_instance` marks rules kept
# per instance for the dashboards, twins of job-level rules (the alerts keep reading the job-level ones).
# The seed's three names are kept.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordingRule:
    """One recorded series: its name, the labels it keeps, and what it means."""
    name: str
    labels: Tuple[str, ...]
    help: str


RULE_TOOL_SUCCESS_RATE = RecordingRule(
    "hermes:tool_success_rate:5m", (L_JOB, L_TOOL), "Share of a tool's calls that succeeded, over 5m.")
RULE_TOOL_FAILURE_RATIO = RecordingRule(
    "hermes:tool_failure_ratio:5m", (L_JOB, L_TOOL),
    "Share of a tool's calls with any status but success (error, timeout, cancelled, blocked), over 5m.")
RULE_TOOL_CALLS_RATE = RecordingRule(
    "hermes:tool_calls:rate5m", (L_JOB, L_TOOL), "Tool calls per second, over 5m.")
RULE_LLM_ERROR_RATIO = RecordingRule(
    "hermes:llm_error_ratio:5m", (L_JOB, L_MODEL), "Share of a model's LLM API calls that failed, over 5m.")
RULE_LLM_REQUESTS_RATE = RecordingRule(
    "hermes:llm_requests:rate5m", (L_JOB, L_MODEL), "LLM API calls per second, over 5m.")
RULE_TURN_P95 = RecordingRule(
    "hermes:request_duration_p95:5m", (L_JOB,), "P95 of turn duration in seconds, over 5m.")
RULE_TURN_P99 = RecordingRule(
    "hermes:request_duration_p99:5m", (L_JOB,), "P99 of turn duration in seconds, over 5m.")
RULE_STEP_P95 = RecordingRule(
    "hermes:step_duration_p95:5m", (L_JOB, L_MODEL), "P95 of a model's reasoning step duration in seconds, over 5m.")
RULE_COST_PER_HOUR = RecordingRule(
    "hermes:cost_per_hour_usd", (L_JOB, L_MODEL), "USD per hour, averaged over the last hour.")
RULE_COST_24H = RecordingRule(
    "hermes:cost_usd:increase24h", (L_JOB,), "USD spent over the last 24 hours.")
RULE_TOKENS_24H = RecordingRule(
    "hermes:tokens:increase24h", (L_JOB,), "Tokens consumed over the last 24 hours.")
RULE_TOKENS_RATE = RecordingRule(
    "hermes:tokens:rate5m", (L_JOB,), "Tokens per second, over 5m.")
RULE_UNPRICED_TOKENS_RATE = RecordingRule(
    "hermes:unpriced_tokens:rate5m", (L_JOB, L_MODEL), "Tokens of models with no known price, per second.")
RULE_SESSIONS_1H = RecordingRule(
    "hermes:sessions:increase1h", (L_JOB,), "Sessions finished over the last hour.")
RULE_COMPLETION_RATIO = RecordingRule(
    "hermes:session_completion_ratio:1h", (L_JOB,), "Share of the sessions finished over the last hour that completed.")
# Per-bucket and per-status rates over the whole job (fleet-wide queries of your own read them); the
# turn buckets keep `instance` (the turn panels read them, summing statuses away: a third of the series).
RULE_TURN_BUCKETS = RecordingRule(
    "hermes:request_duration_seconds_bucket:rate5m", (L_JOB, L_INSTANCE, L_LE),
    "Turns per second by instance and duration bucket, every status, over 5m.")
RULE_STEP_BUCKETS = RecordingRule(
    "hermes:step_duration_seconds_bucket:rate5m", (L_JOB, L_MODEL, L_STEP_TYPE, L_LE),
    "Reasoning steps per second by model, step type and duration bucket, over 5m.")
RULE_TOOL_BUCKETS = RecordingRule(
    "hermes:tool_duration_seconds_bucket:rate5m", (L_JOB, L_TOOL, L_LE),
    "Tool calls per second by tool and duration bucket, over 5m.")
RULE_TOOL_CALLS_BY_STATUS = RecordingRule(
    "hermes:tool_calls_by_status:rate5m", (L_JOB, L_TOOL, L_STATUS),
    "Tool calls per second by tool and status, over 5m.")
# Per-instance rules the dashboards read instead of raw series (a rate over a window costs Prometheus
# every sample of the window, a recorded rate one), so the instance picker filters every panel and the
# panel sums over the chosen instances: the per-instance twins of job-level rules an alert reads
# (HermesDailyCostBudget, HermesDailyTokenBudget, HermesTokenSpike) and of the per-bucket rates above.
RULE_INSTANCE_STEP_BUCKETS = RecordingRule(
    "hermes_instance:step_duration_seconds_bucket:rate5m", (L_JOB, L_INSTANCE, L_MODEL, L_STEP_TYPE, L_LE),
    "Reasoning steps per second by instance, model, step type and duration bucket, over 5m.")
RULE_INSTANCE_TOOL_BUCKETS = RecordingRule(
    "hermes_instance:tool_duration_seconds_bucket:rate5m", (L_JOB, L_INSTANCE, L_TOOL, L_LE),
    "Tool calls per second by instance, tool and duration bucket, over 5m.")
RULE_INSTANCE_TOOL_CALLS = RecordingRule(
    "hermes_instance:tool_calls_by_status:rate5m", (L_JOB, L_INSTANCE, L_TOOL, L_STATUS),
    "Tool calls per second by instance, tool and status, over 5m.")
RULE_INSTANCE_COST_24H = RecordingRule(
    "hermes_instance:cost_usd:increase24h", (L_JOB, L_INSTANCE), "USD spent over the last 24 hours, per instance.")
RULE_INSTANCE_TOKENS_24H = RecordingRule(
    "hermes_instance:tokens:increase24h", (L_JOB, L_INSTANCE), "Tokens consumed over the last 24 hours, per instance.")
RULE_INSTANCE_TOKENS_RATE = RecordingRule(
    "hermes_instance:tokens:rate5m", (L_JOB, L_INSTANCE), "Tokens per second over 5m, per instance.")
RULE_ACTIVE_SESSIONS = RecordingRule(
    "hermes:active_sessions:sum", (L_JOB, L_INSTANCE), "Sessions with a turn in progress, per instance.")

RECORDING_RULES: Tuple[RecordingRule, ...] = (
    RULE_TOOL_SUCCESS_RATE, RULE_TOOL_FAILURE_RATIO, RULE_TOOL_CALLS_RATE, RULE_LLM_ERROR_RATIO,
    RULE_LLM_REQUESTS_RATE, RULE_TURN_P95, RULE_TURN_P99, RULE_STEP_P95, RULE_COST_PER_HOUR, RULE_COST_24H,
    RULE_TOKENS_24H, RULE_TOKENS_RATE, RULE_UNPRICED_TOKENS_RATE, RULE_SESSIONS_1H, RULE_COMPLETION_RATIO,
    RULE_ACTIVE_SESSIONS, RULE_TURN_BUCKETS, RULE_STEP_BUCKETS, RULE_TOOL_BUCKETS, RULE_TOOL_CALLS_BY_STATUS,
    RULE_INSTANCE_STEP_BUCKETS, RULE_INSTANCE_TOOL_BUCKETS, RULE_INSTANCE_TOOL_CALLS, RULE_INSTANCE_COST_24H,
    RULE_INSTANCE_TOKENS_24H, RULE_INSTANCE_TOKENS_RATE,
)

# SLO error ratios, one recorded series per SLI and burn-rate window (Sloth's slo:sli_error:ratio_rate<w>).
SLI_TURN_ERRORS = "turn_errors"  # turns that ended in error, of the turns that were not interrupted
SLI_TURN_SLOW = "turn_slow"      # turns slower than slo.turn_latency_seconds, of all turns
SLIS = (SLI_TURN_ERRORS, SLI_TURN_SLOW)
_SLO_RULE = re.compile(r"hermes:(%s):ratio_rate(\w+)" % "|".join(SLIS))


def slo_rule(sli: str, window: str) -> RecordingRule:
    """The recorded error ratio of `sli` over `window`, e.g. hermes:turn_errors:ratio_rate5m."""
    assert sli in SLIS, sli
    return RecordingRule(f"hermes:{sli}:ratio_rate{window}", (L_JOB,),
                         f"SLO error ratio of {sli} over {window}.")


# What the SLO dashboard reads, per instance (its instance picker filters every panel, and turns summed
# over the chosen instances give their SLI): the two sides of each SLI's ratio, as 5m rates recorded at
# every evaluation, and as increases over each burn-rate window and the SLO period, recorded every 5
# minutes from those rates (a subquery at 5m steps: a 30-day window reads 8,640 points per series, not
# every raw sample, which Prometheus' query sample limit would refuse at fleet scale).
SLO_TURNS_FAILED = "slo_turns_failed"    # turns that ended in error (the turn_errors SLI's numerator)
SLO_TURNS_JUDGED = "slo_turns_judged"    # turns not interrupted (its denominator)
SLO_TURNS_SLOW = "slo_turns_slow"        # turns slower than slo.turn_latency_seconds (turn_slow's numerator)
SLO_TURNS = "slo_turns"                  # every turn (its denominator)
SLO_COMPONENTS = (SLO_TURNS_FAILED, SLO_TURNS_JUDGED, SLO_TURNS_SLOW, SLO_TURNS)
#: each SLI's (bad, valid) components
SLI_COMPONENTS = {SLI_TURN_ERRORS: (SLO_TURNS_FAILED, SLO_TURNS_JUDGED), SLI_TURN_SLOW: (SLO_TURNS_SLOW, SLO_TURNS)}
_SLO_COMPONENT_RULE = re.compile(r"hermes_instance:(%s):(rate5m|increase\w+)" % "|".join(SLO_COMPONENTS))


def slo_component_rate(kind: str) -> RecordingRule:
    """Turns of one SLO component per second over 5m, per instance: hermes_instance:slo_turns_failed:rate5m."""
    assert kind in SLO_COMPONENTS, kind
    return RecordingRule(f"hermes_instance:{kind}:rate5m", (L_JOB, L_INSTANCE),
                         f"SLO component {kind}: turns per second over 5m, per instance.")


def slo_component_increase(kind: str, window: str) -> RecordingRule:
    """Turns of one SLO component over `window`, per instance, recorded every 5 minutes."""
    assert kind in SLO_COMPONENTS, kind
    return RecordingRule(f"hermes_instance:{kind}:increase{window}", (L_JOB, L_INSTANCE),
                         f"SLO component {kind}: turns over the last {window}, per instance (every 5m).")


def recording_rule(name: str) -> Optional[RecordingRule]:
    """The catalogue's recording rule called `name` (SLO ratios and components for any window), or None."""
    for r in RECORDING_RULES:
        if r.name == name:
            return r
    m = _SLO_RULE.fullmatch(name)
    if m:
        return slo_rule(m.group(1), m.group(2))
    m = _SLO_COMPONENT_RULE.fullmatch(name)
    if m:
        op = m.group(2)
        return slo_component_rate(m.group(1)) if op == "rate5m" else \
            slo_component_increase(m.group(1), op[len("increase"):])
    return None


# ---------------------------------------------------------------------------------------------------------
# Alerts: Hermes<Subject><Condition>. The seed's names are kept. Teams route in Alertmanager: `finance`
# to the receiver slack-finance, everything else to slack-platform; severity critical also pages.
# ---------------------------------------------------------------------------------------------------------
A_HIGH_LATENCY = "HermesHighLatency"
A_CRITICAL_LATENCY = "HermesCriticalLatency"
A_STEP_LATENCY = "HermesStepLatencyHigh"
A_TOOL_ERROR_RATE = "HermesToolErrorRate"
A_LLM_ERROR_RATE = "HermesLLMErrorRate"
A_INSTANCE_DOWN = "HermesInstanceDown"
A_METRICS_ABSENT = "HermesMetricsAbsent"
A_COST_OVERRUN = "HermesCostOverrun"
A_DAILY_COST_BUDGET = "HermesDailyCostBudget"
A_DAILY_TOKEN_BUDGET = "HermesDailyTokenBudget"
A_TOKEN_SPIKE = "HermesTokenSpike"
A_SESSIONS_NEAR_CAPACITY = "HermesSessionsNearCapacity"
A_TASK_COMPLETION_LOW = "HermesTaskCompletionLow"
A_UNPRICED_TOKENS = "HermesUnpricedTokens"
A_TURN_ERROR_BUDGET_BURN = "HermesTurnErrorBudgetBurn"
A_TURN_LATENCY_BUDGET_BURN = "HermesTurnLatencyBudgetBurn"
ALERT_NAMES = (
    A_HIGH_LATENCY, A_CRITICAL_LATENCY, A_STEP_LATENCY, A_TOOL_ERROR_RATE, A_LLM_ERROR_RATE, A_INSTANCE_DOWN,
    A_METRICS_ABSENT, A_COST_OVERRUN, A_DAILY_COST_BUDGET, A_DAILY_TOKEN_BUDGET, A_TOKEN_SPIKE,
    A_SESSIONS_NEAR_CAPACITY, A_TASK_COMPLETION_LOW, A_UNPRICED_TOKENS, A_TURN_ERROR_BUDGET_BURN,
    A_TURN_LATENCY_BUDGET_BURN,
)

L_SLO = "slo"  # on the SLO burn-rate alerts: which SLI burns
SEVERITIES = ("critical", "warning", "info")
CRITICAL, WARNING, INFO = SEVERITIES
TEAM_PLATFORM = "platform"
TEAM_FINANCE = "finance"
TEAMS = (TEAM_PLATFORM, TEAM_FINANCE)
# Alertmanager receivers (the contract): severity=critical pages, team=finance goes to finance's Slack,
# everything else to the platform's Slack.
RECEIVER_PAGER = "pagerduty-critical"
RECEIVER_FINANCE = "slack-finance"
RECEIVER_PLATFORM = "slack-platform"
RECEIVERS = (RECEIVER_PAGER, RECEIVER_FINANCE, RECEIVER_PLATFORM)

# ---------------------------------------------------------------------------------------------------------
# Renames from the seed chapter, shown in the README.
# ---------------------------------------------------------------------------------------------------------
SEED_RENAMES = (
    ("hermes_session_steps_total", SESSION_STEPS.name,
     "a histogram, not a counter: only counters end in `_total`"),
    ("hermes_tool_call_errors_total", TOOL_CALLS.name + '{status!="success"}',
     "listed in the seed's table but never defined; failures are a status of the tool-call counter"),
    ("hermes_active_sessions{instance=...}", ACTIVE_SESSIONS.name,
     "the `instance` label collided with the target label Prometheus adds"),
    ("hermes_request_duration_seconds{method,endpoint,status}", TURN_DURATION.name + "{status}",
     "an agent turn has no HTTP method or endpoint. It measures one *turn* (user message to final answer); "
     "the name keeps the seed's word \"request\" because dashboards and alerts outside this repository "
     "depend on it, while code, docs and rules say turn"),
    ('hermes_tokens_total{token_type="prompt"} (cache reads included)',
     TOKENS.name + '{token_type=~"prompt|cache_read|cache_write"}',
     "Hermes reports cache reads, cache writes and reasoning apart; the token types are now disjoint, so "
     "`prompt` is the uncached input and the old prompt is the sum of the three input types (every sum "
     "over token_type, and every rule, is unchanged)"),
)
