"""PromQL for the dashboards, built from catalogue names and the config's selectors.

    q = Queries(DEFAULT)                 # or Queries(load_config(path))
    q.turn_quantile(0.95)                # 'histogram_quantile(0.95, sum by (le) (hermes:request_...{...}))'

Queries only; panel layout lives in hermes_dash.build.dashboards. PromQL syntax comes from
``hermes_dash.build.promql``, shared with the rules. Grafana variables ($instance, $model,
$tool_name) and macros ($__rate_interval, $__range) appear as Grafana expects them.
"""
from __future__ import annotations

from .. import catalogue as C
from ..config import Config
from .promql import Scope, histogram_quantile, matcher, one_of, sum_by

RATE = "$__rate_interval"
MODEL = matcher(C.L_MODEL, "$model", "=~")
TOOL = matcher(C.L_TOOL, "$tool_name", "=~")
INSTANCE = matcher(C.L_INSTANCE, "$instance", "=~")
SUCCESS = matcher(C.L_STATUS, "success")
COMPLETED = matcher(C.L_OUTCOME, "completed")


class Queries:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        job = one_of(C.L_JOB, cfg.selectors.jobs)
        #: raw series of the job on the chosen instances
        self.raw = Scope(job, INSTANCE)
        #: recorded series of the job (recording rules keep `job`; only some keep `instance`)
        self.recorded = Scope(job)

    def _sum(self, series: str, *matchers: str, by: tuple = (), fn: str = "rate", window: str = RATE) -> str:
        """sum [by (...)] (fn(series{job, instance, matchers}[window]))"""
        return self.raw.sum(series, window, *matchers, by=by, fn=fn)

    def _quantile(self, q: float, rule: C.RecordingRule, *matchers: str, by: tuple = ()) -> str:
        """histogram_quantile over a recorded per-bucket rate, summed by `le` and `by`."""
        return histogram_quantile(q, sum_by((C.L_LE,) + by, self.recorded.rec(rule, *matchers)))

    # -- variables ----------------------------------------------------------------------------------
    _VARIABLE_SOURCES = {C.L_INSTANCE: C.ACTIVE_SESSIONS, C.L_MODEL: C.TOKENS, C.L_TOOL: C.TOOL_CALLS}

    def variable_values(self, label: str) -> str:
        """The query of the dashboard variable named after `label`: its values on a catalogue metric."""
        return f"label_values({self.recorded.series(self._VARIABLE_SOURCES[label].name)}, {label})"

    # -- latency ------------------------------------------------------------------------------------
    def turn_quantile(self, q: float) -> str:
        """From the recorded per-instance bucket rates (the instance variable applies)."""
        return self._quantile(q, C.RULE_TURN_BUCKETS, INSTANCE)

    def step_quantile(self, q: float) -> str:
        """From the recorded per-bucket rates: every instance of the job."""
        return self._quantile(q, C.RULE_STEP_BUCKETS, MODEL, by=(C.L_MODEL, C.L_STEP_TYPE))

    def tool_quantile(self, q: float) -> str:
        """From the recorded per-bucket rates: every instance of the job."""
        return self._quantile(q, C.RULE_TOOL_BUCKETS, TOOL, by=(C.L_TOOL,))

    # -- reliability --------------------------------------------------------------------------------
    def turn_success_rate(self) -> str:
        m = C.TURN_DURATION.name + "_count"
        return f"{self._sum(m, SUCCESS)} / {self._sum(m)}"

    def tool_failure_share(self) -> str:
        """The recorded failure ratio HermesToolErrorRate reads: every instance of the job."""
        return self.recorded.rec(C.RULE_TOOL_FAILURE_RATIO, TOOL)

    def tool_calls_by_status(self) -> str:
        return self.recorded.rec(C.RULE_TOOL_CALLS_BY_STATUS, TOOL)

    def llm_errors_by_type(self) -> str:
        return self._sum(C.LLM_ERRORS.name, MODEL, by=(C.L_ERROR_TYPE,))

    def llm_error_rate(self) -> str:
        return f"{self._sum(C.LLM_ERRORS.name, MODEL)} / {self._sum(C.LLM_REQUESTS.name, MODEL)}"

    def instances_up(self) -> str:
        return self.raw.series(C.UP)

    # -- cost ---------------------------------------------------------------------------------------
    def tokens_by_model_type(self) -> str:
        return self._sum(C.TOKENS.name, MODEL, by=(C.L_MODEL, C.L_TOKEN_TYPE))

    def cost_per_hour(self) -> str:
        return f"{self._sum(C.COST.name, MODEL)} * 3600"

    def cost_by_model_per_hour(self) -> str:
        return f"{self._sum(C.COST.name, MODEL, by=(C.L_MODEL,))} * 3600"

    def cost_last_24h(self) -> str:
        """The recorded 24 h spend HermesDailyCostBudget reads: every instance of the job."""
        return sum_by((), self.recorded.rec(C.RULE_COST_24H))

    def cost_budget_burn(self) -> str:
        return f"{self.cost_last_24h()} / {self.cfg.thresholds.daily_cost_budget_usd:g}"

    def token_budget_burn(self) -> str:
        return f"{sum_by((), self.recorded.rec(C.RULE_TOKENS_24H))} / {self.cfg.thresholds.daily_token_budget:g}"

    def cost_per_session(self) -> str:
        return (f"{self._sum(C.COST.name, fn='increase', window='1h')} / "
                f"{self._sum(C.SESSIONS.name, fn='increase', window='1h')}")

    def token_rate_fleet(self) -> str:
        """Tokens/s of the whole job from the recording rule HermesTokenSpike reads (no instance filter)."""
        return self.recorded.rec(C.RULE_TOKENS_RATE)

    def token_spike_level(self) -> str:
        """The rate above which HermesTokenSpike's ratio condition holds: factor x the hourly average."""
        return f"{self.cfg.thresholds.token_spike_factor:g} * avg_over_time({self.recorded.rec(C.RULE_TOKENS_RATE)}[1h])"

    def unpriced_tokens(self) -> str:
        return self._sum(C.UNPRICED_TOKENS.name, by=(C.L_MODEL,))

    def gpu_utilisation(self) -> str:
        return f"avg by (gpu, Hostname) ({Scope(INSTANCE).series(C.GPU_UTIL)}) / 100"

    # -- capacity -----------------------------------------------------------------------------------
    def active_sessions(self) -> str:
        return sum_by((C.L_INSTANCE,), self.raw.series(C.ACTIVE_SESSIONS.name))

    def active_sessions_total(self) -> str:
        return sum_by((), self.raw.series(C.ACTIVE_SESSIONS.name))

    def capacity_used(self) -> str:
        return f"{self.active_sessions()} / {self.cfg.thresholds.session_capacity_per_instance:g}"

    def queue_depth(self) -> str:
        return sum_by((C.L_INSTANCE,), self.raw.series(C.QUEUE_DEPTH.name))

    def memory(self) -> str:
        return self.raw.series(C.PROCESS_MEMORY)

    def cpu(self) -> str:
        return self.raw.rate(C.PROCESS_CPU, RATE)

    # -- business -----------------------------------------------------------------------------------
    def completion_rate(self) -> str:
        return f"{self._sum(C.SESSIONS.name, COMPLETED)} / {self._sum(C.SESSIONS.name)}"

    def sessions_by_outcome(self) -> str:
        return self._sum(C.SESSIONS.name, by=(C.L_OUTCOME,))

    def avg_steps_per_session(self) -> str:
        m = C.SESSION_STEPS.name
        return f"{self._sum(m + '_sum')} / {self._sum(m + '_count')}"

    def steps_distribution(self) -> str:
        return self._sum(C.SESSION_STEPS.name + "_bucket", by=(C.L_LE,), fn="increase", window="$__range")

    def alerts_firing(self) -> str:
        return Scope().series(C.ALERTS, matcher(C.L_ALERTNAME, "Hermes.*", "=~"), matcher(C.L_ALERTSTATE, C.FIRING))
