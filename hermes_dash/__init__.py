"""hermes-dash: Prometheus metrics for Hermes Agent, and the dashboards, rules and tests around them.

    from hermes_dash import HermesMetrics
    m = HermesMetrics()                      # on prometheus_client's default registry
    with m.tool_call("web_search"):
        ...

The modules at this level are the runtime, what `pip install hermes-dash` puts into an agent's
environment: ``catalogue`` (every name), ``config``, ``instrumentation`` (the metrics and their helpers),
``exporter`` (/metrics), ``store`` (the directory a host's processes share), ``daemon`` (`hermes-dash
serve`) and ``plugin`` (Hermes' hooks). They import only prometheus_client and pyyaml.
``hermes_dash.build`` generates and checks dashboards, rules and deploy files (the `build` extra);
``hermes_dash.harness`` tests them against real servers (the `test` extra); ``hermes_dash.cli`` is the
`hermes-dash` command, which nothing imports.
"""
from . import catalogue
from .config import Config, ConfigError, load_config
from .instrumentation import HermesMetrics, classify_llm_error, tool_status_for

__all__ = ["catalogue", "Config", "ConfigError", "load_config", "HermesMetrics",
           "classify_llm_error", "tool_status_for"]
__version__ = "0.1.0"
