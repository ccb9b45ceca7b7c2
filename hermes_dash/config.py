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
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, NewType, Optional, Tuple, get_args, get_origin, get_type_hints

import yaml

#: environment variable naming the config file when no path is given
CONFIG_ENV = "HERMES_DASH_CONFIG"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


#: a Prometheus duration such as 30s, 5m, 1h30m, 3d (units ms, s, m, h, d, w, y; largest first)
Duration = NewType("Duration", str)
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration: duration_seconds("1h30m") == 5400.0; ValueError when unparsable."""
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not text or m is None or not any(m.groups()):
        raise ValueError(f"expected a Prometheus duration such as 30s, 5m, 1h or 3d, got {text!r}")
    return float(sum(int(g) * u for g, u in zip(m.groups(), _UNIT_SECONDS) if g))


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
    # HermesTaskCompletionLow and the business dashboard's completion line: share of the sessions
    # finished over the last hour that completed.
    task_completion_target: float = 0.9
    # Minimum traffic. A ratio over a handful of events is noise (1 failed call of 2 is "50%"), so the
    # ratio alerts fire only with at least this many events in their window:
    # HermesToolErrorRate — calls of the tool over 5m;
    tool_error_min_calls: float = 10.0
    # HermesLLMErrorRate — API calls to the model over 5m;
    llm_error_min_requests: float = 10.0
    # HermesTaskCompletionLow — sessions finished over 1h.
    task_completion_min_sessions: float = 10.0
    # HermesTokenSpike: the 5m token rate is above `token_spike_factor` times its average over the last
    # hour AND above `token_spike_min_tokens_per_second`. The floor keeps trivial traffic quiet (the seed's
    # 0.1 -> 0.3 tokens/s was a "3x spike"). The cost dashboard's "Token rate against the spike
    # alert" panel draws the floor and the factor.
    token_spike_factor: float = 2.0
    token_spike_min_tokens_per_second: float = 100.0


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window burn-rate condition: the error ratio over both `long` and `short` is above
    `factor` times the error budget (1 - target). The short window makes the alert stop soon after
    the burning stops."""
    factor: float
    long: Duration
    short: Duration


@dataclass(frozen=True)
class Slo:
    """Service level objectives of agent turns, alerted on with multi-window multi-burn-rate rules
    (Google SRE workbook ch. 5, as Sloth generates them). Read by HermesTurnErrorBudgetBurn,
    HermesTurnLatencyBudgetBurn and the `hermes:turn_*:ratio_rate<window>` recording rules."""
    # Share of turns (interrupted ones excluded) that must end without error, over the SLO period.
    turn_success_target: float = 0.99
    # Share of turns that must finish within `turn_latency_seconds`. That value must be a bucket
    # boundary of hermes_request_duration_seconds: the rule counts turns in that bucket.
    turn_latency_target: float = 0.99
    turn_latency_seconds: float = 60.0
    # Burn-rate windows for a 30-day period. A factor F over window W spends F*W/30d of the budget:
    # 14.4 over 1h is 2% of it, 6 over 6h 5%, 3 over 1d 10%, 1 over 3d 10%. `page` conditions fire
    # the critical alert, `ticket` conditions the warning one; either condition of a list suffices.
    page: Tuple[BurnWindow, ...] = (BurnWindow(14.4, Duration("1h"), Duration("5m")),
                                    BurnWindow(6.0, Duration("6h"), Duration("30m")))
    ticket: Tuple[BurnWindow, ...] = (BurnWindow(3.0, Duration("1d"), Duration("2h")),
                                      BurnWindow(1.0, Duration("3d"), Duration("6h")))


@dataclass(frozen=True)
class ForDurations:
    """How long each alert's condition must hold before it fires (the rule's `for`). Longer is quieter
    and later; the promtool tests check each boundary."""
    high_latency: Duration = Duration("5m")          # HermesHighLatency (seed: 5m)
    critical_latency: Duration = Duration("2m")      # HermesCriticalLatency (seed: 2m)
    tool_error_rate: Duration = Duration("5m")       # HermesToolErrorRate (seed: 5m)
    llm_error_rate: Duration = Duration("5m")        # HermesLLMErrorRate
    instance_down: Duration = Duration("1m")         # HermesInstanceDown (seed: 1m)
    metrics_absent: Duration = Duration("5m")        # HermesMetricsAbsent: no target up at all
    cost_overrun: Duration = Duration("15m")         # HermesCostOverrun (seed: 15m)
    daily_cost_budget: Duration = Duration("5m")     # HermesDailyCostBudget
    daily_token_budget: Duration = Duration("5m")    # HermesDailyTokenBudget
    token_spike: Duration = Duration("10m")          # HermesTokenSpike (seed: 10m)
    sessions_near_capacity: Duration = Duration("10m")  # HermesSessionsNearCapacity
    task_completion_low: Duration = Duration("15m")  # HermesTaskCompletionLow
    unpriced_tokens: Duration = Duration("15m")      # HermesUnpricedTokens
    slo_page: Duration = Duration("2m")              # Hermes*BudgetBurn, critical (page) form
    slo_ticket: Duration = Duration("15m")           # Hermes*BudgetBurn, warning (ticket) form


@dataclass(frozen=True)
class Alerting:
    """Settings every alert shares (read by hermes_dash.rules and the runbook test)."""
    # Every alert's runbook_url is this plus `#<alertname in lower case>`, a heading of RUNBOOK.md.
    # Point it at where your copy of RUNBOOK.md is served.
    runbook_url_base: str = "https://github.com/hermes-dash/hermes-dash/blob/main/RUNBOOK.md"
    for_durations: ForDurations = field(default_factory=ForDurations)


@dataclass(frozen=True)
class Routing:
    """deploy/alertmanager/alertmanager.yml. Secrets are never in it: each receiver reads its Slack
    webhook URL or PagerDuty routing key from a file under `secrets_dir`."""
    secrets_dir: str = "/etc/alertmanager/secrets"
    slack_platform_channel: str = "#hermes-alerts"
    slack_finance_channel: str = "#hermes-cost"
    # Alerts with the same alertname and job are sent together; wait this long for more to arrive.
    group_wait: Duration = Duration("30s")
    # How soon changes to a group already sent (a new tool failing) are sent.
    group_interval: Duration = Duration("5m")
    # How often a still-firing group is sent again: pages hourly, Slack every 4 hours, cost twice a day.
    repeat_interval: Duration = Duration("4h")
    page_repeat_interval: Duration = Duration("1h")
    finance_repeat_interval: Duration = Duration("12h")


@dataclass(frozen=True)
class Prometheus:
    """deploy/prometheus/prometheus.yml, the example server config (hermes-dash demo uses it too)."""
    scrape_interval: Duration = Duration("15s")
    evaluation_interval: Duration = Duration("15s")
    # HOST:PORT of the Hermes agents' /metrics (the plugin's exporter.address) ...
    targets: Tuple[str, ...] = ("127.0.0.1:9464",)
    # ... and of the Alertmanagers.
    alertmanagers: Tuple[str, ...] = ("127.0.0.1:9093",)
    # Labels the server adds to every series and alert it sends elsewhere (remote write, federation,
    # Alertmanager): `global.external_labels` of prometheus.yml and of the scale-out scrapers' config
    # (say {cluster: eu-1} to tell clusters apart in a central store), target labels of the Prometheus
    # Operator monitors. Empty: none.
    external_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Selectors:
    """Which series are Hermes' (read by every rule and by the dashboards' job variable)."""
    # The scrape job of the Hermes agents, or several separated by `|` (say `hermes-prod|hermes-staging`):
    # the rules select them all and keep `job`, so each is alerted on separately; the dashboards' job
    # variable offers them. deploy/prometheus/prometheus.yml scrapes `prometheus.targets` as the first.
    job: str = "hermes-agent"

    @property
    def jobs(self) -> Tuple[str, ...]:
        """The job names, in the order written."""
        return tuple(self.job.split("|"))


@dataclass(frozen=True)
class Grafana:
    """Settings of the generated dashboards."""
    # The Prometheus datasource the `datasource` variable selects by default; any Prometheus datasource
    # can be picked in Grafana, so the JSON imports without editing.
    datasource: str = "Prometheus"
    # The default time range of every dashboard.
    time_from: str = "now-6h"


@dataclass(frozen=True)
class KubernetesPods:
    """Kubernetes pod discovery of the agents: the `<job>-pods` job of the generated Prometheus configs
    (kubernetes_sd_configs, role pod) and the PodMonitor of deploy/kubernetes/ (Prometheus Operator)."""
    # Add the kubernetes_sd_configs job to prometheus.yml and the scrapers' config. The PodMonitor is
    # generated either way (the Operator, not this flag, decides whether it is used).
    enabled: bool = False
    # Namespaces to look in; empty: every namespace the server may list.
    namespaces: Tuple[str, ...] = ()
    # The agents' pods carry these labels (a Kubernetes equality selector).
    pod_labels: Mapping[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "hermes-agent"})
    # The name of the container port that serves /metrics (the plugin's exporter.address port).
    port_name: str = "metrics"


@dataclass(frozen=True)
class Discovery:
    """How the scrapers find the agents besides `prometheus.targets` (static targets). Every discovered
    agent is scraped as job `selectors.job` (the first, when several) with its own `instance`."""
    # Target files a deploy tool writes (file_sd_configs: JSON or YAML lists of {targets, labels}; a `*`
    # in the file name matches several). Relative paths resolve against the config file's directory.
    file_sd: Tuple[str, ...] = ()
    kubernetes: KubernetesPods = field(default_factory=KubernetesPods)


@dataclass(frozen=True)
class ScrapedExporter:
    """An exporter scraped beside the agents as its own job (the seed chapter's prometheus.yml scraped
    node_exporter and redis_exporter). Off by default."""
    enabled: bool = False
    # The job name (its series are not Hermes': no rule or panel selects it).
    job: str = ""
    # HOST:PORT of each exporter, and/or target files as discovery.file_sd.
    targets: Tuple[str, ...] = ()
    file_sd: Tuple[str, ...] = ()
    # Prometheus Operator: the ServiceMonitor selects Services carrying these labels, and scrapes their
    # port of this name.
    service_labels: Mapping[str, str] = field(default_factory=dict)
    port_name: str = "metrics"


@dataclass(frozen=True)
class NodeExporter(ScrapedExporter):
    """node_exporter (host CPU, memory, disk, network), port 9100 (seed: job `node`)."""
    job: str = "node"
    targets: Tuple[str, ...] = ("127.0.0.1:9100",)
    service_labels: Mapping[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "node-exporter"})


@dataclass(frozen=True)
class RedisExporter(ScrapedExporter):
    """redis_exporter (the Redis a Hermes deployment may share), port 9121 (seed: job `redis`)."""
    job: str = "redis"
    targets: Tuple[str, ...] = ("127.0.0.1:9121",)
    service_labels: Mapping[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "redis-exporter"})


@dataclass(frozen=True)
class Exporters:
    """Other exporters scraped beside the agents (not the plugin's own `exporter`), each opt-in."""
    node: NodeExporter = field(default_factory=NodeExporter)
    redis: RedisExporter = field(default_factory=RedisExporter)

    def enabled(self) -> Tuple[ScrapedExporter, ...]:
        """The exporters switched on, in a fixed order (node, redis)."""
        return tuple(e for e in (self.node, self.redis) if e.enabled)


@dataclass(frozen=True)
class Operator:
    """deploy/kubernetes/: the Prometheus Operator resources (PrometheusRule, PodMonitor, ServiceMonitors)."""
    # metadata.namespace of each resource; empty: none written (kubectl's namespace applies).
    namespace: str = ""
    # Extra metadata.labels, so that the Prometheus resource's ruleSelector / podMonitorSelector /
    # serviceMonitorSelector picks them up (kube-prometheus-stack selects `release: <its release name>`).
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScaleOut:
    """deploy/scale-out/: scrapers (vmagent, or Prometheus in agent mode) that remote-write to a central
    store, where a ruler (vmalert, Mimir's or Thanos' ruler) evaluates the same rule files."""
    # Where the scrapers write: VictoriaMetrics /api/v1/write, Mimir /api/v1/push, Thanos Receive
    # /api/v1/receive, Cortex /api/v1/push.
    remote_write_url: str = "http://127.0.0.1:8428/api/v1/write"


@dataclass(frozen=True)
class Config:
    instrumentation: Instrumentation = field(default_factory=Instrumentation)
    exporter: Exporter = field(default_factory=Exporter)
    thresholds: Thresholds = field(default_factory=Thresholds)
    selectors: Selectors = field(default_factory=Selectors)
    grafana: Grafana = field(default_factory=Grafana)
    slo: Slo = field(default_factory=Slo)
    alerting: Alerting = field(default_factory=Alerting)
    routing: Routing = field(default_factory=Routing)
    prometheus: Prometheus = field(default_factory=Prometheus)
    discovery: Discovery = field(default_factory=Discovery)
    exporters: Exporters = field(default_factory=Exporters)
    operator: Operator = field(default_factory=Operator)
    scale_out: ScaleOut = field(default_factory=ScaleOut)


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
    if tp is Duration:
        try:
            duration_seconds(value)
        except ValueError as e:
            raise _fail(path, key, str(e)) from None
        return Duration(value)
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
    if cfg.thresholds.token_spike_factor <= 1:
        raise _fail(path, "thresholds.token_spike_factor", "must be above 1 (a spike is more than the average)")
    for key in ("turn_success_target", "turn_latency_target"):
        if not 0 < getattr(cfg.slo, key) < 1:
            raise _fail(path, f"slo.{key}", "is a ratio: must be above 0 and below 1")
    from .catalogue import TURN_BUCKETS
    if cfg.slo.turn_latency_seconds not in TURN_BUCKETS:
        raise _fail(path, "slo.turn_latency_seconds", "must be a bucket boundary of "
                    f"hermes_request_duration_seconds: one of {', '.join(f'{b:g}' for b in TURN_BUCKETS)}")
    for kind in ("page", "ticket"):
        windows = getattr(cfg.slo, kind)
        if not windows:
            raise _fail(path, f"slo.{kind}", "needs at least one burn window")
        for i, w in enumerate(windows):
            if duration_seconds(w.short) >= duration_seconds(w.long):
                raise _fail(path, f"slo.{kind}[{i}].short", "must be shorter than long")
    if not cfg.alerting.runbook_url_base.startswith(("http://", "https://")):
        raise _fail(path, "alerting.runbook_url_base", "must be an http(s) URL")
    for key in ("targets", "alertmanagers"):
        for i, a in enumerate(getattr(cfg.prometheus, key)):
            try:
                parse_address(a)
            except ValueError as e:
                raise _fail(path, f"prometheus.{key}[{i}]", str(e)) from None
    if not all(cfg.selectors.jobs) or '"' in cfg.selectors.job:
        raise _fail(path, "selectors.job", "must be a job name, or several separated by |, none empty and "
                    f"without quotes, got {cfg.selectors.job!r}")
    try:
        parse_address(cfg.exporter.address)
    except ValueError as e:
        raise _fail(path, "exporter.address", str(e)) from None
    return cfg


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: a Kubernetes label key (optional DNS-subdomain prefix, then a name) and value
_K8S_LABEL_KEY = re.compile(r"(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_K8S_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
#: a Kubernetes namespace or port name (an RFC 1123 label; port names at most 15 characters)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SD_FILE = re.compile(r".+\.(json|ya?ml)")
#: a job name the rules' and the Operator's selectors can quote as is
_LABEL_VALUE_SAFE = re.compile(r"[^\"|\\\n]+")


def _validate_deployment(cfg: Config, path: Optional[str]) -> Config:
    """The deployment sections: discovery, exporters, operator, scale_out, prometheus.external_labels."""
    for name, value in cfg.prometheus.external_labels.items():
        key = f"prometheus.external_labels.{name}"
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise _fail(path, key, "a label name is letters, digits and _, not starting with a digit or __")
        if name in ("job", "instance"):
            raise _fail(path, key, "job and instance are set per target; an external label cannot replace them")
        if not value:
            raise _fail(path, key, "must not be empty")
    k8s = cfg.discovery.kubernetes
    if not (cfg.prometheus.targets or cfg.discovery.file_sd or k8s.enabled):
        raise _fail(path, "prometheus.targets", "no agent to scrape: give targets, discovery.file_sd, or "
                    "set discovery.kubernetes.enabled")

    def sd_files(files: Tuple[str, ...], key: str) -> None:
        for i, f in enumerate(files):
            if not _SD_FILE.fullmatch(f) or "*" in os.path.dirname(f):
                raise _fail(path, f"{key}[{i}]", "a target file ends in .json, .yml or .yaml (a * only in "
                            f"the file name), got {f!r}")

    def k8s_labels(labels: Mapping[str, str], key: str) -> None:
        for k, v in labels.items():
            if not _K8S_LABEL_KEY.fullmatch(k) or not _K8S_LABEL_VALUE.fullmatch(v):
                raise _fail(path, f"{key}.{k}", f"not a Kubernetes label: {k}={v!r}")

    def port_name(name: str, key: str) -> None:
        if not (_DNS_LABEL.fullmatch(name) and len(name) <= 15 and re.search("[a-z]", name)):
            raise _fail(path, key, "a Kubernetes port name: at most 15 lower-case letters, digits and -, "
                        f"with a letter, got {name!r}")
    sd_files(cfg.discovery.file_sd, "discovery.file_sd")
    for i, ns in enumerate(k8s.namespaces):
        if not _DNS_LABEL.fullmatch(ns):
            raise _fail(path, f"discovery.kubernetes.namespaces[{i}]", f"not a Kubernetes namespace: {ns!r}")
    k8s_labels(k8s.pod_labels, "discovery.kubernetes.pod_labels")
    port_name(k8s.port_name, "discovery.kubernetes.port_name")
    jobs = set(cfg.selectors.jobs) | {f"{cfg.selectors.jobs[0]}-pods"}
    for name in ("node", "redis"):
        e: ScrapedExporter = getattr(cfg.exporters, name)
        key = f"exporters.{name}"
        if not _LABEL_VALUE_SAFE.fullmatch(e.job):
            raise _fail(path, f"{key}.job", f"a job name without quotes or |, got {e.job!r}")
        if e.enabled and e.job in jobs:
            raise _fail(path, f"{key}.job", f"{e.job!r} is already a job of this config: the rules would read it")
        jobs.add(e.job)
        for i, t in enumerate(e.targets):
            try:
                parse_address(t)
            except ValueError as err:
                raise _fail(path, f"{key}.targets[{i}]", str(err)) from None
        sd_files(e.file_sd, f"{key}.file_sd")
        if e.enabled and not (e.targets or e.file_sd):
            raise _fail(path, f"{key}.targets", "an enabled exporter needs targets or file_sd")
        k8s_labels(e.service_labels, f"{key}.service_labels")
        port_name(e.port_name, f"{key}.port_name")
    if cfg.operator.namespace and not _DNS_LABEL.fullmatch(cfg.operator.namespace):
        raise _fail(path, "operator.namespace", f"not a Kubernetes namespace: {cfg.operator.namespace!r}")
    k8s_labels(cfg.operator.labels, "operator.labels")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", cfg.scale_out.remote_write_url):
        raise _fail(path, "scale_out.remote_write_url", "must be an http(s) URL")
    return cfg


def config_from_mapping(data: Mapping[str, Any], path: Optional[str] = None) -> Config:
    """Build a Config from a parsed YAML mapping (defaults for everything it leaves out)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(path, "<top>", f"expected a mapping, got {type(data).__name__}")
    return _validate_deployment(_validate(_build(Config, data, path), path), path)


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
