"""PromQL for the dashboards, built from catalogue names and the config's selectors.

    q = Queries(DEFAULT, variables=("model",))   # the queries of a dashboard with a model variable
    q.turn_quantile(0.95)   # 'histogram_quantile(0.95, sum by (le) (hermes:request_...{job=~"$job", ...}))'

Queries only; panel layout lives in hermes_dash.build.dashboards. PromQL syntax comes from
``hermes_dash.build.promql``, shared with the rules. Grafana variables ($job, $instance, $model,
$tool_name) and macros ($__rate_interval, $__range) appear as Grafana expects them: every selector is
filtered by the job and instance pickers, as Grafana's dashboard linter requires.
"""
from __future__ import annotations

from typing import Sequence, Tuple

from .. import catalogue as C
from ..config import Config, duration_seconds
from .promql import Scope, histogram_quantile, matcher, one_of, sum_by
from .text import num

RATE = "$__rate_interval"
SUCCESS = matcher(C.L_STATUS, "success")
NOT_SUCCESS = matcher(C.L_STATUS, "success", "!=")
COMPLETED = matcher(C.L_OUTCOME, "completed")
#: the series each dashboard variable takes its values from
_VARIABLE_SOURCES = {C.L_JOB: C.ACTIVE_SESSIONS, C.L_INSTANCE: C.ACTIVE_SESSIONS, C.L_MODEL: C.TOKENS,
                     C.L_TOOL: C.TOOL_CALLS}


def variable(label: str) -> str:
    """The matcher of a dashboard variable named after its label: model=~"$model"."""
    return matcher(label, f"${label}", "=~")


class Queries:
    """The queries of one dashboard, whose variables are `job`, `instance` and `variables`.

    Every selector carries job=~"$job" and instance=~"$instance"; a query filters by model or tool only
    where the dashboard has that variable (a variable Grafana does not know is sent literally)."""

    def __init__(self, cfg: Config, variables: Sequence[str] = ()):
        self.cfg = cfg
        #: the pickers that filter every panel: the cluster (when the config names its label), job, instance
        self.scope_variables: Tuple[str, ...] = cfg.selectors.keep + (C.L_INSTANCE,)
        self.variables: Tuple[str, ...] = self.scope_variables + tuple(variables)
        #: every series a panel reads: the chosen clusters, jobs and instances
        self.scope = Scope(*(variable(v) for v in self.scope_variables))

    def _by(self, label: str) -> Tuple[str, ...]:
        """The matcher of `label`'s variable, when this dashboard has it."""
        return (variable(label),) if label in self.variables else ()

    def _sum(self, series: str, *matchers: str, by: tuple = (), fn: str = "rate", window: str = RATE) -> str:
        """sum [by (...)] (fn(series{job, instance, matchers}[window]))"""
        return self.scope.sum(series, window, *matchers, by=by, fn=fn)

    def _recorded(self, rule: C.RecordingRule, *matchers: str, by: tuple = ()) -> str:
        """A per-instance recording rule summed over the chosen instances."""
        return sum_by(by, self.scope.rec(rule, *matchers))

    def _quantile(self, q: float, rule: C.RecordingRule, *matchers: str, by: tuple = ()) -> str:
        """histogram_quantile over a recorded per-instance bucket rate, summed by `le` and `by`."""
        return histogram_quantile(q, self._recorded(rule, *matchers, by=(C.L_LE,) + by))

    # -- variables ----------------------------------------------------------------------------------
    def variable_values(self, label: str) -> str:
        """The query of the dashboard variable `label`: its values on a catalogue metric, within the
        configured jobs and the pickers before it (cluster, then job, then instance)."""
        source = _VARIABLE_SOURCES.get(label, C.ACTIVE_SESSIONS).name
        if label in self.scope_variables:
            before = self.scope_variables[:self.scope_variables.index(label)]
            configured = () if C.L_JOB in before else (one_of(C.L_JOB, self.cfg.selectors.jobs),)
            within = Scope(*configured, *(variable(v) for v in before))
        else:
            within = self.scope
        return f"label_values({within.series(source)}, {label})"

    # -- latency ------------------------------------------------------------------------------------
    def turn_quantile(self, q: float) -> str:
        return self._quantile(q, C.RULE_TURN_BUCKETS)

    def step_quantile(self, q: float, by_step_type: bool = False) -> str:
        """By model (what HermesStepLatencyHigh compares), or by model and step type."""
        by = (C.L_MODEL, C.L_STEP_TYPE) if by_step_type else (C.L_MODEL,)
        return self._quantile(q, C.RULE_INSTANCE_STEP_BUCKETS, *self._by(C.L_MODEL), by=by)

    def tool_quantile(self, q: float) -> str:
        return self._quantile(q, C.RULE_INSTANCE_TOOL_BUCKETS, *self._by(C.L_TOOL), by=(C.L_TOOL,))

    # -- reliability --------------------------------------------------------------------------------
    def turn_success_rate(self) -> str:
        m = C.TURN_DURATION.name + "_count"
        return f"{self._sum(m, SUCCESS)} / {self._sum(m)}"

    def tool_failure_share(self) -> str:
        """What HermesToolErrorRate compares, for the chosen instances: calls that did not succeed over
        all calls, by tool."""
        tool, by = self._by(C.L_TOOL), (C.L_TOOL,)
        return (f"{self._recorded(C.RULE_INSTANCE_TOOL_CALLS, *tool, NOT_SUCCESS, by=by)} / "
                f"{self._recorded(C.RULE_INSTANCE_TOOL_CALLS, *tool, by=by)}")

    def tool_calls_by_status(self) -> str:
        return self._recorded(C.RULE_INSTANCE_TOOL_CALLS, *self._by(C.L_TOOL), by=(C.L_TOOL, C.L_STATUS))

    def llm_errors_by_type(self) -> str:
        return self._sum(C.LLM_ERRORS.name, *self._by(C.L_MODEL), by=(C.L_ERROR_TYPE,))

    def llm_error_rate(self) -> str:
        model = self._by(C.L_MODEL)
        return f"{self._sum(C.LLM_ERRORS.name, *model)} / {self._sum(C.LLM_REQUESTS.name, *model)}"

    def instances_up(self) -> str:
        return self.scope.series(C.UP)

    # -- cost ---------------------------------------------------------------------------------------
    def tokens_by_model_type(self) -> str:
        return self._sum(C.TOKENS.name, *self._by(C.L_MODEL), by=(C.L_MODEL, C.L_TOKEN_TYPE))

    def cost_per_hour(self) -> str:
        return f"{self._sum(C.COST.name, *self._by(C.L_MODEL))} * 3600"

    def cost_by_model_per_hour(self) -> str:
        return f"{self._sum(C.COST.name, *self._by(C.L_MODEL), by=(C.L_MODEL,))} * 3600"

    def cost_by_type_per_hour(self) -> str:
        """USD per hour by token type (and `request`, the per-call fees)."""
        return f"{self._sum(C.COST.name, *self._by(C.L_MODEL), by=(C.L_TOKEN_TYPE,))} * 3600"

    def cache_hit_ratio(self) -> str:
        """The share of input tokens served from the prompt cache, by model: cache_read over every input
        token (prompt, cache_read, cache_write)."""
        model, by = self._by(C.L_MODEL), (C.L_MODEL,)
        return (f"{self._sum(C.TOKENS.name, *model, matcher(C.L_TOKEN_TYPE, 'cache_read'), by=by)} / "
                f"{self._sum(C.TOKENS.name, *model, one_of(C.L_TOKEN_TYPE, C.INPUT_TOKEN_TYPES), by=by)}")

    def cost_last_24h(self) -> str:
        """USD over the last 24 h of the chosen instances (what HermesDailyCostBudget sums for the job)."""
        return self._recorded(C.RULE_INSTANCE_COST_24H)

    def cost_budget_burn(self) -> str:
        return f"{self.cost_last_24h()} / {num(self.cfg.thresholds.daily_cost_budget_usd)}"

    def token_budget_burn(self) -> str:
        return f"{self._recorded(C.RULE_INSTANCE_TOKENS_24H)} / {num(self.cfg.thresholds.daily_token_budget)}"

    def cost_per_session(self) -> str:
        return (f"{self._sum(C.COST.name, fn='increase', window='1h')} / "
                f"{self._sum(C.SESSIONS.name, fn='increase', window='1h')}")

    def token_rate(self) -> str:
        """Tokens/s of the chosen instances over 5m (what HermesTokenSpike compares, for the whole job)."""
        return self._recorded(C.RULE_INSTANCE_TOKENS_RATE)

    def token_spike_level(self) -> str:
        """factor x the hourly average of that rate: above it (and the floor), HermesTokenSpike's condition holds."""
        avg = f"avg_over_time({self.scope.rec(C.RULE_INSTANCE_TOKENS_RATE)}[1h])"
        return f"{num(self.cfg.thresholds.token_spike_factor)} * {sum_by((), avg)}"

    def unpriced_tokens(self) -> str:
        return self._sum(C.UNPRICED_TOKENS.name, *self._by(C.L_MODEL), by=(C.L_MODEL,))

    # -- capacity -----------------------------------------------------------------------------------
    def active_sessions(self) -> str:
        return sum_by((C.L_INSTANCE,), self.scope.series(C.ACTIVE_SESSIONS.name))

    def active_sessions_total(self) -> str:
        return sum_by((), self.scope.series(C.ACTIVE_SESSIONS.name))

    def capacity_used(self) -> str:
        return f"{self.active_sessions()} / {num(self.cfg.thresholds.session_capacity_per_instance)}"

    def memory(self) -> str:
        return self.scope.series(C.PROCESS_MEMORY)

    def cpu(self) -> str:
        return self.scope.rate(C.PROCESS_CPU, RATE)

    # -- business -----------------------------------------------------------------------------------
    def completion_rate(self) -> str:
        return f"{self._sum(C.SESSIONS.name, COMPLETED)} / {self._sum(C.SESSIONS.name)}"

    def sessions_by_outcome(self) -> str:
        return self._sum(C.SESSIONS.name, by=(C.L_OUTCOME,))

    def sessions_by_platform(self) -> str:
        """Finished sessions per second by the Hermes platform they came from."""
        return self._sum(C.SESSIONS.name, by=(C.L_PLATFORM,))

    def turns_by_platform(self) -> str:
        return self._sum(C.TURNS.name, by=(C.L_PLATFORM,))

    def completion_rate_by_platform(self) -> str:
        by = (C.L_PLATFORM,)
        return f"{self._sum(C.SESSIONS.name, COMPLETED, by=by)} / {self._sum(C.SESSIONS.name, by=by)}"

    def avg_steps_per_session(self) -> str:
        m = C.SESSION_STEPS.name
        return f"{self._sum(m + '_sum')} / {self._sum(m + '_count')}"

    def steps_distribution(self) -> str:
        return self._sum(C.SESSION_STEPS.name + "_bucket", by=(C.L_LE,), fn="increase", window="$__range")

    # -- SLOs ---------------------------------------------------------------------------------------
    def slo_error_ratio(self, sli: str, window: str) -> str:
        """Bad turns over valid turns of the chosen instances over `window` (a burn-rate window or the SLO
        period), from the per-instance increases the SLO rules record every 5 minutes."""
        bad, valid = C.SLI_COMPONENTS[sli]
        return (f"{self._recorded(C.slo_component_increase(bad, window))} / "
                f"{self._recorded(C.slo_component_increase(valid, window))}")

    def slo_sli(self, sli: str, window: str) -> str:
        """The share of good turns over `window`: what the objective is set on."""
        return f"1 - ({self.slo_error_ratio(sli, window)})"

    def slo_budget_remaining(self, sli: str, target: float) -> str:
        """The share of the SLO period's error budget (1 - target) not spent: 1 at none spent, below 0 when
        the objective is missed over the period."""
        return f"1 - ({self.slo_error_ratio(sli, self.cfg.slo.period)}) / (1 - {num(target)})"

    def slo_burn_rate(self, sli: str, window: str, target: float) -> str:
        """How fast the error budget burns over `window`: 1 spends exactly the budget in the SLO period."""
        return f"({self.slo_error_ratio(sli, window)}) / (1 - {num(target)})"

    def slo_alert_state(self, sli: str, target: float) -> str:
        """2 when a page condition of the SLO's burn-rate alert holds for the chosen instances, 1 when a
        ticket condition does, else 0 (nothing when the chosen instances have no SLO data): both windows of
        a condition above its factor."""
        def conditions(windows) -> str:
            return " or ".join(
                f"({self.slo_burn_rate(sli, bw.long, target)} > {num(bw.factor)} and "
                f"{self.slo_burn_rate(sli, bw.short, target)} > {num(bw.factor)})" for bw in windows)
        valid = C.SLI_COMPONENTS[sli][1]
        shortest = min((w for bw in self.cfg.slo.page + self.cfg.slo.ticket for w in (bw.long, bw.short)),
                       key=duration_seconds)
        return (f"max(({conditions(self.cfg.slo.page)}) * 0 + 2 or ({conditions(self.cfg.slo.ticket)}) * 0 + 1 "
                f"or {self._recorded(C.slo_component_increase(valid, shortest))} * 0)")

    def alerts_firing(self) -> str:
        """Firing Hermes alerts of the chosen jobs (the dashboards' annotation)."""
        return Scope().series(C.ALERTS, matcher(C.L_ALERTNAME, "Hermes.*", "=~"),
                              matcher(C.L_ALERTSTATE, C.FIRING), *(variable(v) for v in self.cfg.selectors.keep))
