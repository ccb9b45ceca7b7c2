"""One configuration for hermes-dash: defaults in code, overrides from a YAML file.

    from hermes_dash.config import load_config
    cfg = load_config("hermes-dash.yml")      # or load_config(None) for the defaults
    cfg.instrumentation.max_label_values      # 64

Every setting is a field of a frozen dataclass with a comment saying why it exists and who reads it.
A file may set any subset of fields; an unknown key, a wrong type or a negative number is a
`ConfigError` naming the file and the dotted key. This module does not create metrics or rules.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, get_args, get_origin, get_type_hints

import yaml

#: environment variable naming the config file when no path is given
CONFIG_ENV = "HERMES_DASH_CONFIG"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Price:
    """USD per token for one model (per token, not per 1K: no division on the hot path)."""
    prompt: float
    completion: float


@dataclass(frozen=True)
class Instrumentation:
    """Settings of the metrics themselves (read by hermes_dash.instrumentation and the plugin)."""
    # Bound on distinct values of an open label (tool_name, model, provider) per process. Tool and model
    # names come from an LLM or a user; past this many, new values are counted under `other` so a
    # misbehaving agent cannot explode the series count. Raise it if `hermes_label_overflow_total` grows.
    max_label_values: int = 64
    # Fallback price table, USD per token, used when Hermes' own pricing does not know a model (and by
    # code instrumented directly). A model in neither is counted in hermes_unpriced_tokens_total.
    prices: Mapping[str, Price] = field(default_factory=dict)
    # Tools and models initialised at zero at start-up (every status / token type), so rate() sees their
    # first increment. Values first seen at run time are initialised when first seen.
    known_tools: Tuple[str, ...] = ()
    known_models: Tuple[str, ...] = ()
    # Provider label used when a caller does not name one.
    default_provider: str = "unknown"
    # A session with no turn in progress for this long is finished (steps and outcome recorded) even if
    # Hermes never fires on_session_finalize (its Python API never does). 0 finishes a session as soon
    # as its turn ends: one run_conversation() is one session.
    session_idle_timeout_seconds: float = 1800.0


@dataclass(frozen=True)
class Exporter:
    """Where the Hermes plugin serves /metrics (overridden by HERMES_DASH_METRICS_ADDR)."""
    # 127.0.0.1 by default: expose metrics beyond the host only on purpose. Port 9464 is not used by
    # Hermes; change it when several agents share a host.
    address: str = "127.0.0.1:9464"


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds. Each value feeds its alert rule and the threshold line of its dashboard panel,
    so the two can never drift."""
    # HermesHighLatency (warning) and the latency dashboard's P95 line: a turn's P95 above this is slow.
    latency_p95_seconds: float = 30.0
    # HermesCriticalLatency (critical) and the latency dashboard's P99 line.
    latency_p99_seconds: float = 120.0
    # HermesToolErrorRate and the reliability dashboard's tool failure line: share of a tool's calls that
    # did not succeed (errors, timeouts, cancellations, blocks).
    tool_error_rate: float = 0.05
    # HermesLLMErrorRate and the reliability dashboard's LLM error line: failed share of LLM API calls.
    llm_error_rate: float = 0.05
    # HermesCostOverrun and the cost dashboard's USD/hour line.
    cost_per_hour_usd: float = 100.0
    # HermesDailyCostBudget and the cost dashboard's budget burn (100% = this much spent in 24 h).
    daily_cost_budget_usd: float = 1000.0
    # HermesDailyTokenBudget and the cost dashboard's token budget burn.
    daily_token_budget: float = 50_000_000.0
    # HermesSessionsNearCapacity and the capacity dashboard: sessions one instance can run at once,
    # and the share of it at which to warn.
    session_capacity_per_instance: float = 32.0
    capacity_warning_ratio: float = 0.8
    # HermesTaskCompletionLow and the business dashboard's completion line.
    task_completion_target: float = 0.9


@dataclass(frozen=True)
class Selectors:
    """Which series are Hermes' (read by every dashboard query and rule)."""
    # The scrape job of the Hermes agents (deploy/prometheus/prometheus.yml uses the same name).
    job: str = "hermes-agent"


@dataclass(frozen=True)
class Grafana:
    """Settings of the generated dashboards."""
    # The Prometheus datasource the `datasource` variable selects by default; any Prometheus datasource
    # can be picked in Grafana, so the JSON imports without editing.
    datasource: str = "Prometheus"
    # The default time range of every dashboard.
    time_from: str = "now-6h"


@dataclass(frozen=True)
class Config:
    instrumentation: Instrumentation = field(default_factory=Instrumentation)
    exporter: Exporter = field(default_factory=Exporter)
    thresholds: Thresholds = field(default_factory=Thresholds)
    selectors: Selectors = field(default_factory=Selectors)
    grafana: Grafana = field(default_factory=Grafana)


DEFAULT = Config()


def _fail(path: Optional[str], key: str, msg: str) -> ConfigError:
    where = path or "<config>"
    return ConfigError(f"{where}: {key}: {msg}")


def _convert(value: Any, tp: Any, path: Optional[str], key: str) -> Any:
    """Convert one YAML value to the annotated type `tp`, or raise ConfigError naming `key`."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
        return _build(tp, value, path, key)
    if origin in (collections.abc.Mapping, dict) or tp is dict:
        kt, vt = get_args(tp)
        if not isinstance(value, dict):
            raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
        return {str(k): _convert(v, vt, path, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        (it, *_rest) = get_args(tp)
        if not isinstance(value, list):
            raise _fail(path, key, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(v, it, path, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(path, key, f"expected true or false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (tp is int and not isinstance(value, int)):
            raise _fail(path, key, f"expected a number ({tp.__name__}), got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise _fail(path, key, f"must be a finite number >= 0, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in this module, not in a file


def _build(cls: type, data: Mapping[str, Any], path: Optional[str], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: Dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            raise _fail(path, key, f"unknown key (known: {', '.join(sorted(names))})")
        kwargs[k] = _convert(v, hints[k], path, key)
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field (e.g. Price.completion) is missing
        raise _fail(path, prefix or "<top>", str(e)) from None


def parse_address(addr: str) -> Tuple[str, int]:
    """Split HOST:PORT (IPv6 hosts in brackets) into (host, port); ValueError names the bad value."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _validate(cfg: Config, path: Optional[str]) -> Config:
    if cfg.instrumentation.max_label_values < 1:
        raise _fail(path, "instrumentation.max_label_values", "must be at least 1")
    for key in ("tool_error_rate", "llm_error_rate", "capacity_warning_ratio", "task_completion_target"):
        if getattr(cfg.thresholds, key) > 1:
            raise _fail(path, f"thresholds.{key}", "is a ratio: must be between 0 and 1")
    if not cfg.selectors.job or '"' in cfg.selectors.job:
        raise _fail(path, "selectors.job", f"must be a non-empty job name without quotes, got {cfg.selectors.job!r}")
    try:
        parse_address(cfg.exporter.address)
    except ValueError as e:
        raise _fail(path, "exporter.address", str(e)) from None
    return cfg


def config_from_mapping(data: Mapping[str, Any], path: Optional[str] = None) -> Config:
    """Build a Config from a parsed YAML mapping (defaults for everything it leaves out)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(path, "<top>", f"expected a mapping, got {type(data).__name__}")
    return _validate(_build(Config, data, path), path)


def load_config(path: Optional[str] = None) -> Config:
    """Load the config file at `path` (or $HERMES_DASH_CONFIG); the defaults when neither is set."""
    path = path or os.environ.get(CONFIG_ENV) or None
    if path is None:
        return DEFAULT
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return config_from_mapping(data, path)
