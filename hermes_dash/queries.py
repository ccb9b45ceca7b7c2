"""PromQL for the dashboards, built from catalogue names and the config's selectors.

    q = Queries(DEFAULT)                 # or Queries(load_config(path))
    q.turn_quantile(0.95)                # 'histogram_quantile(0.95, sum by (le) (rate(...)))'

Queries only; panel layout lives in hermes_dash.dashboards. Grafana variables ($instance, $model,
$tool_name) and macros ($__rate_interval, $__range) appear as Grafana expects them.
"""
from __future__ import annotations

from . import catalogue as C
from .config import Config

RATE = "$__rate_interval"
MODEL = f'{C.L_MODEL}=~"$model"'
TOOL = f'{C.L_TOOL}=~"$tool_name"'
SUCCESS = f'{C.L_STATUS}="success"'
NOT_SUCCESS = f'{C.L_STATUS}!="success"'
COMPLETED = f'{C.L_OUTCOME}="completed"'
#: series other exporters provide that the dashboards read (checked by the lint, not the catalogue)
EXTERNAL_METRICS = ("up", "ALERTS", "process_resident_memory_bytes", "process_cpu_seconds_total",
                    "DCGM_FI_DEV_GPU_UTIL")


class Queries:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.job = f'job="{cfg.selectors.job}"'
        self.sel = f'{self.job}, instance=~"$instance"'

    def _s(self, *extra: str) -> str:
        return "{" + ", ".join((self.sel,) + extra) + "}"

    # -- latency ------------------------------------------------------------------------------------
    def turn_quantile(self, q: float) -> str:
        m = C.REQUEST_DURATION.name
        return f"histogram_quantile({q}, sum by (le) (rate({m}_bucket{self._s()}[{RATE}])))"

    def step_quantile(self, q: float) -> str:
        m = C.STEP_DURATION.name
        return (f"histogram_quantile({q}, sum by (le, {C.L_MODEL}, {C.L_STEP_TYPE}) "
                f"(rate({m}_bucket{self._s(MODEL)}[{RATE}])))")

    def tool_quantile(self, q: float) -> str:
        m = C.TOOL_DURATION.name
        return (f"histogram_quantile({q}, sum by (le, {C.L_TOOL}) "
                f"(rate({m}_bucket{self._s(TOOL)}[{RATE}])))")

    # -- reliability --------------------------------------------------------------------------------
    def turn_success_rate(self) -> str:
        m = C.REQUEST_DURATION.name + "_count"
        return (f'sum(rate({m}{self._s(SUCCESS)}[{RATE}])) / '
                f"sum(rate({m}{self._s()}[{RATE}]))")

    def tool_failure_share(self) -> str:
        m = C.TOOL_CALLS.name
        return (f'sum by ({C.L_TOOL}) (rate({m}{self._s(TOOL, NOT_SUCCESS)}[{RATE}])) / '
                f"sum by ({C.L_TOOL}) (rate({m}{self._s(TOOL)}[{RATE}]))")

    def tool_calls_by_status(self) -> str:
        return (f"sum by ({C.L_TOOL}, {C.L_STATUS}) "
                f"(rate({C.TOOL_CALLS.name}{self._s(TOOL)}[{RATE}]))")

    def llm_errors_by_type(self) -> str:
        return (f"sum by ({C.L_ERROR_TYPE}) "
                f"(rate({C.LLM_ERRORS.name}{self._s(MODEL)}[{RATE}]))")

    def llm_error_rate(self) -> str:
        return (f"sum(rate({C.LLM_ERRORS.name}{self._s(MODEL)}[{RATE}])) / "
                f"sum(rate({C.LLM_REQUESTS.name}{self._s(MODEL)}[{RATE}]))")

    def instances_up(self) -> str:
        return f"up{{{self.sel}}}"

    # -- cost ---------------------------------------------------------------------------------------
    def tokens_by_model_type(self) -> str:
        return (f"sum by ({C.L_MODEL}, {C.L_TOKEN_TYPE}) "
                f"(rate({C.TOKENS.name}{self._s(MODEL)}[{RATE}]))")

    def cost_per_hour(self) -> str:
        return f"sum(rate({C.COST.name}{self._s(MODEL)}[{RATE}])) * 3600"

    def cost_by_model_per_hour(self) -> str:
        return f"sum by ({C.L_MODEL}) (rate({C.COST.name}{self._s(MODEL)}[{RATE}])) * 3600"

    def cost_last_24h(self) -> str:
        return f"sum(increase({C.COST.name}{self._s()}[24h]))"

    def cost_budget_burn(self) -> str:
        return f"{self.cost_last_24h()} / {self.cfg.thresholds.daily_cost_budget_usd:g}"

    def token_budget_burn(self) -> str:
        return f"sum(increase({C.TOKENS.name}{self._s()}[24h])) / {self.cfg.thresholds.daily_token_budget:g}"

    def cost_per_session(self) -> str:
        return (f"sum(increase({C.COST.name}{self._s()}[1h])) / "
                f"sum(increase({C.SESSIONS.name}{self._s()}[1h]))")

    def unpriced_tokens(self) -> str:
        return f"sum by ({C.L_MODEL}) (rate({C.UNPRICED_TOKENS.name}{self._s()}[{RATE}]))"

    def gpu_utilisation(self) -> str:
        return 'avg by (gpu, Hostname) (DCGM_FI_DEV_GPU_UTIL{instance=~"$instance"}) / 100'

    # -- capacity -----------------------------------------------------------------------------------
    def active_sessions(self) -> str:
        return f"sum by (instance) ({C.ACTIVE_SESSIONS.name}{self._s()})"

    def active_sessions_total(self) -> str:
        return f"sum({C.ACTIVE_SESSIONS.name}{self._s()})"

    def capacity_used(self) -> str:
        return f"{self.active_sessions()} / {self.cfg.thresholds.session_capacity_per_instance:g}"

    def queue_depth(self) -> str:
        return f"sum by (instance) ({C.QUEUE_DEPTH.name}{self._s()})"

    def memory(self) -> str:
        return f"process_resident_memory_bytes{{{self.sel}}}"

    def cpu(self) -> str:
        return f"rate(process_cpu_seconds_total{{{self.sel}}}[{RATE}])"

    # -- business -----------------------------------------------------------------------------------
    def completion_rate(self) -> str:
        m = C.SESSIONS.name
        return (f'sum(rate({m}{self._s(COMPLETED)}[{RATE}])) / '
                f"sum(rate({m}{self._s()}[{RATE}]))")

    def sessions_by_outcome(self) -> str:
        return f"sum by ({C.L_OUTCOME}) (rate({C.SESSIONS.name}{self._s()}[{RATE}]))"

    def avg_steps_per_session(self) -> str:
        m = C.SESSION_STEPS.name
        return f"sum(rate({m}_sum{self._s()}[{RATE}])) / sum(rate({m}_count{self._s()}[{RATE}]))"

    def steps_distribution(self) -> str:
        return f"sum by (le) (increase({C.SESSION_STEPS.name}_bucket{self._s()}[$__range]))"

    def alerts_firing(self) -> str:
        return 'ALERTS{alertname=~"Hermes.*", alertstate="firing"}'
