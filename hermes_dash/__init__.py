"""hermes-dash: monitoring-as-code for Hermes Agent — metrics, dashboards, rules, tests.

    from hermes_dash import HermesMetrics, catalogue
    m = HermesMetrics()                      # on prometheus_client's default registry
    with m.tool_call("web_search"):
        ...
"""
from . import catalogue
from .config import Config, ConfigError, load_config
from .instrumentation import HermesMetrics, classify_llm_error, tool_status_for

__all__ = ["catalogue", "Config", "ConfigError", "load_config", "HermesMetrics",
           "classify_llm_error", "tool_status_for"]
__version__ = "0.1.0"
