"""Reliability: turn success, tool failures by tool and status, LLM errors, instances up."""
from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ._common import Panel, Q, Row, dashboard

NAME = "reliability"
TITLE = "Hermes / Reliability"
ORDER = 2
ABOUT = "Turn success, tool and LLM failures, and instance health of Hermes agents."
#: the dashboard's variables besides job and instance
VARIABLES = (C.L_MODEL, C.L_TOOL)


def build(cfg: Config):
    q, t = Queries(cfg, VARIABLES), cfg.thresholds
    return dashboard(NAME, q, [
        Row("Turns and instances", [
            Panel("Turn success rate", (Q(q.turn_success_rate(), "success"),), "percentunit", C.TURN_DURATION,
                  kind="stat", width=8),
            Panel("Instances up", (Q(q.instances_up(), "{{instance}}"),), "short",
                  "1 when Prometheus scraped the agent's /metrics at the last attempt (metric `up`).",
                  kind="stat", width=16),
        ]),
        Row("Tools", [
            Panel("Tool failure share by tool", (Q(q.tool_failure_share(), "{{tool_name}}"),), "percentunit",
                  "Share of each tool's calls that did not succeed (error, timeout, cancelled, blocked), over 5m: "
                  f"what {C.A_TOOL_ERROR_RATE} compares with its threshold (metric `{C.TOOL_CALLS.name}`).",
                  threshold=t.tool_error_rate),
            Panel("Tool calls by tool and status", (Q(q.tool_calls_by_status(), "{{tool_name}} {{status}}"),),
                  "reqps", C.TOOL_CALLS, stacked=True),
        ]),
        Row("LLM API", [
            Panel("LLM error rate", (Q(q.llm_error_rate(), "errors / calls"),), "percentunit", C.LLM_REQUESTS,
                  threshold=t.llm_error_rate),
            Panel("LLM errors by type", (Q(q.llm_errors_by_type(), "{{error_type}}"),), "reqps", C.LLM_ERRORS,
                  stacked=True),
        ]),
    ])
