"""One configuration for hermes-dash: defaults in code, overrides from a YAML file.

    from hermes_dash.config import load_config
    cfg = load_config("hermes-dash.yml")      # or load_config(None) for the defaults
    cfg.instrumentation.max_label_values      # 64

Every setting is a field of a frozen dataclass with a comment saying why it exists and who reads it.
A file may set any subset of fields; an unknown key, a wrong type or a negative number is a
`ConfigError` naming the file and the dotted key. Every value that reaches generated PromQL, YAML, Go
templates or Grafana JSON is checked here, so the generators can trust it (docs/configuration.md, "What is
refused"). This module does not create metrics or rules.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import ipaddress
import math
import os
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, NewType, Optional, Tuple, Union, get_args, get_origin, get_type_hints

import yaml

from hermes_dash import catalogue as C

#: environment variable naming the config file when no path is given
CONFIG_ENV = "HERMES_DASH_CONFIG"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


#: a Prometheus duration such as 30s, 5m, 1h30m, 3d (units ms, s, m, h, d, w, y; largest first)
Duration = NewType("Duration", str)
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_MS = (365 * 86400_000, 7 * 86400_000, 86400_000, 3600_000, 60_000, 1000, 1)
#: the longest duration Prometheus and Alertmanager accept: Go's time.Duration (int64 nanoseconds) in whole
#: milliseconds, 292y24w3d23h47m16s854ms; promtool 2.42 refuses one millisecond more as "out of range"
MAX_DURATION_MS = (2 ** 63 - 1) // 1_000_000
MAX_DURATION = "292y24w3d23h47m16s854ms"


def duration_ms(text: str) -> int:
    """Milliseconds in a Prometheus duration: duration_ms("1h30m") == 5_400_000; ValueError when unparsable.
    A number of more than 19 digits gives MAX_DURATION_MS + 1 (out of any range) without converting it."""
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not text or m is None or not any(m.groups()):
        raise ValueError(f"expected a Prometheus duration such as 30s, 5m, 1h or 3d, got {_show(text)}")
    if any(g is not None and len(g) > 19 for g in m.groups()):
        return MAX_DURATION_MS + 1
    return sum(int(g) * u for g, u in zip(m.groups(), _UNIT_MS) if g)


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration: duration_seconds("1h30m") == 5400.0; ValueError when unparsable."""
    return duration_ms(text) / 1000


@dataclass(frozen=True)
class Price:
    """USD per token for one model (per token, not per 1K: no division on the hot path), by token type
    (catalogue.TOKEN_TYPES): reasoning tokens are output tokens, priced as completion. A cache price left
    out (None) leaves that type unpriced — counted in hermes_unpriced_tokens_total, never guessed."""
    prompt: float
    completion: float
    cache_read: Optional[float] = None
    cache_write: Optional[float] = None
    # a fee per API call, on the routes that charge one (cost token_type `request`)
    request: float = 0.0

    def of(self, token_type: str) -> Optional[float]:
        """USD per token of `token_type` (per call for `request`), or None when not configured."""
        if token_type == "reasoning":
            return self.completion
        return getattr(self, token_type)


@dataclass(frozen=True)
class Instrumentation:
    """Settings of the metrics themselves (read by hermes_dash.instrumentation and the plugin)."""
    # Bound on distinct values of an open label (tool_name, model, provider) per process. Tool and model
    # names come from an LLM or a user; past this many, new values are counted under `other` so a
    # misbehaving agent cannot explode the series count. Raise it if `hermes_label_overflow_total` grows.
    max_label_values: int = 64
    # Bound on the length of one open label value, in characters. A longer name keeps its first
    # characters and gets a hash of the whole name as suffix (`<prefix>~1a2b3c4d`), so long names stay
    # distinct; counted in hermes_label_values_sanitised_total. At least 16.
    max_label_length: int = 128
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
    # A turn in progress whose session fires no hook for this long is given up on: its end hook never
    # came (a crash, a lost hook). It leaves the active sessions, its duration is not recorded, and it
    # is counted in hermes_expired_total{what="turn"}; the session then idles (outcome `abandoned`).
    turn_max_age_seconds: float = 3600.0
    # A pre_api_request with no post_api_request or api_request_error for this long is forgotten
    # (hermes_expired_total{what="api_request"}); a late answer is then timed by Hermes' api_duration.
    api_request_max_age_seconds: float = 900.0
    # Bounds on what the plugin tracks at once, whatever arrives. Past max_open_sessions the least
    # recently active session is finished early (hermes_expired_total{what="session"}); past
    # max_pending_api_requests the oldest pending request is forgotten.
    max_open_sessions: int = 10_000
    max_pending_api_requests: int = 10_000
    # How often each process finishes idle sessions and expires turns and requests, in a daemon thread
    # (every process of a multi-worker gateway sweeps its own sessions). 0: only when /metrics is scraped
    # (a process that writes into hermes-dash serve's directory is never scraped: it uses 15 then).
    sweep_interval_seconds: float = 15.0


@dataclass(frozen=True)
class Exporter:
    """Where the Hermes plugin serves /metrics (overridden by HERMES_DASH_METRICS_ADDR)."""
    # 127.0.0.1 by default: expose metrics beyond the host only on purpose. Port 9464 is not used by
    # Hermes; change it when several agents share a host.
    address: str = "127.0.0.1:9464"
    # A process that cannot bind `address` (another worker of the gateway serves it) retries every this
    # many seconds in a daemon thread, so when the serving worker dies another one takes /metrics over.
    # 0: never retry.
    bind_retry_seconds: float = 5.0
    # `hermes-dash serve` merges the files of Hermes processes that have exited into its archive this often
    # (and touches its marker, $HERMES_HOME/hermes-dash/daemon.json). Above 0.
    compact_interval_seconds: float = 30.0
    # A plugin keeps writing into the directory of a daemon that stopped (a restart, a crash before systemd
    # starts it again) for this long after the daemon's last compaction; past it the marker is stale and
    # each process serves its own /metrics again.
    daemon_grace_seconds: float = 600.0


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds. Each value feeds its alert rule and the threshold line of its dashboard panel,
    so the two can never drift."""
    # HermesHighLatency (warning) and the latency dashboard's P95 line: a turn's P95 above this is slow.
    latency_p95_seconds: float = 30.0
    # HermesCriticalLatency (critical) and the latency dashboard's P99 line.
    latency_p99_seconds: float = 120.0
    # HermesStepLatencyHigh and the latency dashboard's step P95 line: the seed's "LLM step slow", a
    # model's reasoning steps (LLM API calls) with a P95 above this. A bucket boundary of
    # hermes_step_duration_seconds keeps the quantile exact there.
    step_p95_seconds: float = 10.0
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
    # The SLO period: the SLO dashboard shows the error budget left over this rolling window (the burn
    # factors of `page` and `ticket` assume 30 days; change them with it).
    period: Duration = Duration("30d")
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
    step_latency: Duration = Duration("5m")          # HermesStepLatencyHigh
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
    # Point it at where your copy of RUNBOOK.md is served: http(s), no credentials, #fragment or {{ }}.
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
    # Refused: empty names, `"`, `$`, `[[`, `]]` (Grafana variables), spaces at either end, a name twice.
    job: str = "hermes-agent"
    # The label that tells clusters apart when one central store (VictoriaMetrics, Mimir, Thanos) holds the
    # series of several: an external label of each scraping Prometheus or vmagent, or a target label. When
    # set, every aggregating rule keeps it (alerts fire per cluster and job), Alertmanager groups and
    # inhibits within it, and every dashboard gets a Cluster picker before Job. Empty (the default): off.
    cluster_label: str = ""

    @property
    def keep(self) -> Tuple[str, ...]:
        """The labels every aggregation keeps besides its own: the cluster label when set, and job."""
        return (self.cluster_label, "job") if self.cluster_label else ("job",)

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
    # The default time range of every dashboard: a Grafana relative time (now-6h, now-7d/d).
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


#: the largest config file read (a hand-written config is a few KiB); a larger one is refused unparsed
MAX_CONFIG_BYTES = 1 << 20
#: nesting of YAML collections (the config itself needs 4: instrumentation.prices.<model>.prompt)
MAX_DEPTH = 16
#: the longest string value or key, in characters
MAX_STRING = 1024
#: the largest number: thresholds, budgets, prices, counts (above 2**53 floats are no longer exact)
MAX_NUMBER = 1e15
#: burn windows per list (slo.page, slo.ticket): each adds recording rules
MAX_BURN_WINDOWS = 10
#: integers with more digits are not converted (Python refuses above 4300) but reported by length
_MAX_DIGITS = 30


class _Huge:
    """An integer literal too long to convert: reported as 'a N-digit number'."""

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"a {self.digits}-digit number"


def _show(value: Any, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters with the full length noted, so an error stays one short line."""
    if isinstance(value, _Huge):
        return repr(value)
    if isinstance(value, str) and len(value) > limit:
        text = repr(value[:limit])
        return f"{text[:-1]}…{text[-1]} ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _key(k: Any) -> str:
    """A mapping key as it appears in a dotted key path: plain names as they are, anything else quoted."""
    if isinstance(k, str) and re.fullmatch(r"[\w.+@/:-]{1,64}", k, re.ASCII) and not k.endswith(":"):
        return k
    return _show(k if isinstance(k, str) else str(k), 40)


def _fail(path: Optional[str], key: str, msg: str) -> ConfigError:
    where = path or "<config>"
    return ConfigError(f"{where}: {key}: {msg}")


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader for config files: no anchors or aliases (a 349-byte "billion laughs" file expands
    to gigabytes), collections at most MAX_DEPTH deep (no RecursionError), no key given twice in one
    mapping (the second silently won), integers of more than _MAX_DIGITS digits kept unconverted."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _YamlRefusal(event.start_mark, "YAML anchors and aliases are not allowed; write each value out")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            self._depth = getattr(self, "_depth", 0) + 1
            if self._depth > MAX_DEPTH:
                raise _YamlRefusal(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise _YamlRefusal(key_node.start_mark, f"key {_show(key_node.value, 40)} appears twice")
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = sum(c.isdigit() for c in node.value)
        if digits > _MAX_DIGITS:
            return _Huge(digits)
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


class _YamlRefusal(Exception):
    def __init__(self, mark, problem: str):
        super().__init__(problem)
        self.mark, self.problem = mark, problem


def _place(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line for a YAML error: where, then what (PyYAML's own message spans several lines)."""
    if isinstance(e, yaml.reader.ReaderError):
        return f"position {e.position}: not valid YAML: {str(e).splitlines()[0]}"
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{_place(mark)}: not valid YAML: {problem}" if mark else f"not valid YAML: {problem}"


#: code point categories never accepted in a string: they end a YAML line or a PromQL string, hide text,
#: or cannot be encoded (Cc control, Cf format such as U+202E, Cs surrogate, Co private use, Zl/Zp separators)
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "a format character", "Cs": "a surrogate",
                       "Co": "a private-use character", "Zl": "a line or paragraph separator",
                       "Zp": "a line or paragraph separator"}


def _check_text(value: str, path: Optional[str], key: str) -> str:
    """Every string of a config: at most MAX_STRING characters, only visible characters and spaces."""
    if len(value) > MAX_STRING:
        raise _fail(path, key, f"is {len(value)} characters long, more than {MAX_STRING}")
    for i, c in enumerate(value):
        cp = ord(c)
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(c))
        if kind is None and (0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE):
            kind = "a noncharacter"
        if kind:
            raise _fail(path, key, f"must not contain U+{cp:04X} ({kind}) at position {i}")
    return value


def _convert(value: Any, tp: Any, path: Optional[str], key: str) -> Any:
    """Convert one YAML value to the annotated type `tp`, or raise ConfigError naming `key`."""
    origin = get_origin(tp)
    if origin is Union:  # Optional[X]: null, or an X
        inner = [a for a in get_args(tp) if a is not type(None)]
        return None if value is None else _convert(value, inner[0], path, key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
        return _build(tp, value, path, key)
    if origin in (collections.abc.Mapping, dict) or tp is dict:
        kt, vt = get_args(tp)
        if not isinstance(value, dict):
            raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
        out = {}
        for k, v in value.items():
            sub = f"{key}.{_key(k)}"
            out[_check_text(str(k), path, sub)] = _convert(v, vt, path, sub)
        return out
    if origin is tuple:
        (it, *_rest) = get_args(tp)
        if not isinstance(value, list):
            raise _fail(path, key, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(v, it, path, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(path, key, f"expected true or false, got {_show(value)}")
        return value
    if tp in (int, float):
        if isinstance(value, _Huge):
            raise _fail(path, key, f"must be at most {MAX_NUMBER:g}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (tp is int and not isinstance(value, int)):
            raise _fail(path, key, f"expected a number ({tp.__name__}), got {_show(value)}")
        if isinstance(value, float) and not math.isfinite(value) or value < 0:
            raise _fail(path, key, f"must be a finite number >= 0, got {_show(value)}")
        if value > MAX_NUMBER:
            raise _fail(path, key, f"must be at most {MAX_NUMBER:g}, got {_show(value)}")
        return tp(value)
    if tp is Duration:
        try:
            ms = duration_ms(value)
        except ValueError as e:
            raise _fail(path, key, str(e)) from None
        if ms > MAX_DURATION_MS:
            raise _fail(path, key, f"is longer than Prometheus accepts ({MAX_DURATION}), got {_show(value)}")
        return Duration(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, key, f"expected a string, got {_show(value)}")
        return _check_text(value, path, key)
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in this module, not in a file


def _build(cls: type, data: Mapping[str, Any], path: Optional[str], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: Dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{_key(k)}" if prefix else _key(k)
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


_HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
                        r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
#: Grafana's relative times: now, now-6h, now-7d/d, now/w (units s m h d w M y)
_GRAFANA_TIME = re.compile(r"now(?:-[0-9]{1,9}[smhdwMy])?(?:/[smhdwMy])?")


def is_host_port(addr: str) -> bool:
    """HOST:PORT that Prometheus can scrape or send to: a host name, an IPv4 address or a bracketed IPv6
    address, and a port from 1 to 65535."""
    host, sep, port = addr.rpartition(":")
    if not sep or not _PORT.fullmatch(port) or int(port) > 65535:
        return False
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return bool(_HOST_NAME.fullmatch(host))


def _no_template(value: str, path: Optional[str], key: str) -> None:
    """Prometheus expands {{ }} in annotations, Alertmanager in receiver fields: a literal must not hold them."""
    if "{{" in value or "}}" in value:
        raise _fail(path, key, f"must not contain {{{{ or }}}} (it would run as a Go template), got {_show(value)}")


def _no_grafana_variable(value: str, path: Optional[str], key: str) -> None:
    """Grafana expands $name, ${name} and [[name]] in queries and variable values."""
    if "$" in value or "[[" in value or "]]" in value:
        raise _fail(path, key, f"must not contain $, [[ or ]] (Grafana would expand it as a variable), "
                               f"got {_show(value)}")


def _not_empty(value: str, path: Optional[str], key: str) -> None:
    if not value:
        raise _fail(path, key, "must not be empty")


def _check_url(value: str, path: Optional[str], key: str) -> None:
    """An http(s) URL written into every alert: a host, no credentials, no fragment, no spaces or templates."""
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        parts = None
    if "@" in (parts.netloc if parts else value):
        raise _fail(path, key, "must not carry credentials (user:password@): it is written into every alert")
    _no_template(value, path, key)
    if parts is None or parts.scheme not in ("http", "https"):
        raise _fail(path, key, f"must be an http(s) URL, got {_show(value)}")
    if any(c.isspace() for c in value):
        raise _fail(path, key, f"must be a URL without spaces, got {_show(value)}")
    if not parts.hostname:
        raise _fail(path, key, f"must be an http(s) URL with a host, got {_show(value)}")
    if "#" in value:
        raise _fail(path, key, f"must not have a #fragment: each alert adds #<its name>, got {_show(value)}")
    try:
        parts.port
    except ValueError:
        raise _fail(path, key, f"has a bad port, got {_show(value)}") from None


def _positive(value: str, path: Optional[str], key: str) -> None:
    """A duration Prometheus or Alertmanager refuses, or silently replaces, when 0."""
    if duration_ms(value) == 0:
        raise _fail(path, key, f"must be longer than 0, got {_show(value)}")


#: a Prometheus label name
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: names a cluster label must not take: every metric's label, the target's, a histogram's or summary's, an
#: alert's, and the datasource variable's (the cluster picker is a dashboard variable named after its label)
_TAKEN_LABELS = frozenset({lab for m in C.METRICS for lab in m.labels} | set(C.TARGET_LABELS) |
                          {C.L_LE, "quantile", C.L_ALERTNAME, C.L_ALERTSTATE, C.L_SEVERITY, C.L_TEAM, C.L_SLO,
                           "datasource"})


def _validate(cfg: Config, path: Optional[str]) -> Config:
    if cfg.instrumentation.max_label_values < 1:
        raise _fail(path, "instrumentation.max_label_values", "must be at least 1")
    if cfg.instrumentation.max_label_length < 16:
        raise _fail(path, "instrumentation.max_label_length", "must be at least 16 (room for the hash suffix)")
    for key in ("turn_max_age_seconds", "api_request_max_age_seconds", "max_open_sessions",
                "max_pending_api_requests"):
        if getattr(cfg.instrumentation, key) <= 0:
            raise _fail(path, f"instrumentation.{key}", "must be above 0")
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
        if len(windows) > MAX_BURN_WINDOWS:
            raise _fail(path, f"slo.{kind}", f"at most {MAX_BURN_WINDOWS} burn windows, got {len(windows)}")
        for i, w in enumerate(windows):
            _positive(w.long, path, f"slo.{kind}[{i}].long")
            _positive(w.short, path, f"slo.{kind}[{i}].short")
            if duration_ms(w.short) >= duration_ms(w.long):
                raise _fail(path, f"slo.{kind}[{i}].short", "must be shorter than long")
            for side in ("long", "short"):
                if duration_seconds(getattr(w, side)) % 300:
                    raise _fail(path, f"slo.{kind}[{i}].{side}", "must be a whole number of 5m (the SLO "
                                "dashboard records its windows every 5m)")
    if duration_seconds(cfg.slo.period) % 300 or duration_seconds(cfg.slo.period) < 86400:
        raise _fail(path, "slo.period", "must be a whole number of 5m and at least 1d")
    _check_url(cfg.alerting.runbook_url_base, path, "alerting.runbook_url_base")
    r = cfg.routing
    _not_empty(r.secrets_dir, path, "routing.secrets_dir")
    for key in ("slack_platform_channel", "slack_finance_channel"):
        _not_empty(getattr(r, key), path, f"routing.{key}")
        _no_template(getattr(r, key), path, f"routing.{key}")
    for key in ("group_interval", "repeat_interval", "page_repeat_interval", "finance_repeat_interval"):
        _positive(getattr(r, key), path, f"routing.{key}")
    for key in ("scrape_interval", "evaluation_interval"):
        _positive(getattr(cfg.prometheus, key), path, f"prometheus.{key}")
    for key in ("targets", "alertmanagers"):
        for i, a in enumerate(getattr(cfg.prometheus, key)):
            if not is_host_port(a):
                raise _fail(path, f"prometheus.{key}[{i}]", "expected HOST:PORT (a host name or IP address, a port "
                            f"from 1 to 65535), got {_show(a)}")
    cl = cfg.selectors.cluster_label
    if cl and (not _LABEL_NAME.fullmatch(cl) or cl.startswith("__") or cl in _TAKEN_LABELS):
        raise _fail(path, "selectors.cluster_label", "must be a Prometheus label name of its own (letters, digits, "
                    "_; not a label the metrics, targets or alerts already carry), got " + _show(cl))
    job = cfg.selectors.job
    _no_grafana_variable(job, path, "selectors.job")
    if not all(cfg.selectors.jobs) or '"' in job:
        raise _fail(path, "selectors.job", "must be a job name, or several separated by |, none empty and "
                    f"without quotes, got {_show(job)}")
    seen = set()
    for name in cfg.selectors.jobs:
        if name != name.strip():
            raise _fail(path, "selectors.job", f"job name {_show(name)} begins or ends with a space")
        if name in seen:
            raise _fail(path, "selectors.job", f"job name {_show(name)} is listed twice")
        seen.add(name)
    g = cfg.grafana
    _not_empty(g.datasource, path, "grafana.datasource")
    _no_grafana_variable(g.datasource, path, "grafana.datasource")
    if not _GRAFANA_TIME.fullmatch(g.time_from):
        raise _fail(path, "grafana.time_from", "must be a Grafana relative time such as now-6h or now-7d/d, "
                    f"got {_show(g.time_from)}")
    try:
        parse_address(cfg.exporter.address)
    except ValueError as e:
        raise _fail(path, "exporter.address", str(e)) from None
    if cfg.exporter.compact_interval_seconds <= 0:
        raise _fail(path, "exporter.compact_interval_seconds", "must be above 0")
    return cfg


#: a Kubernetes label key (optional DNS-subdomain prefix, then a name) and value
_K8S_LABEL_KEY = re.compile(r"(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_K8S_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
#: a Kubernetes namespace or port name (an RFC 1123 label; port names at most 15 characters)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
#: a file_sd_configs file name as Prometheus accepts it (discovery/file: patFileSDName): a * only in the base name
_SD_FILE = re.compile(r"[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)")
#: a job name the rules' and the Operator's selectors can quote as is
_LABEL_VALUE_SAFE = re.compile(r"[^\"|\\\n]+")


def _validate_deployment(cfg: Config, path: Optional[str]) -> Config:
    """The deployment sections: discovery, exporters, operator, scale_out, prometheus.external_labels."""
    for name, value in cfg.prometheus.external_labels.items():
        key = f"prometheus.external_labels.{name}"
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise _fail(path, key, "a label name is letters, digits and _, not starting with a digit or __, "
                        f"got {_show(name)}")
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
            if not _SD_FILE.fullmatch(f):
                raise _fail(path, f"{key}[{i}]", "a target file ends in .json, .yml or .yaml (a * only in "
                            f"the file name), got {_show(f)}")

    def k8s_labels(labels: Mapping[str, str], key: str) -> None:
        for k, v in labels.items():
            if not _K8S_LABEL_KEY.fullmatch(k) or not _K8S_LABEL_VALUE.fullmatch(v):
                raise _fail(path, f"{key}.{k}", f"not a Kubernetes label: {_show(k)}={_show(v)}")

    def port_name(name: str, key: str) -> None:
        if not (_DNS_LABEL.fullmatch(name) and len(name) <= 15 and re.search("[a-z]", name)):
            raise _fail(path, key, "a Kubernetes port name: at most 15 lower-case letters, digits and -, "
                        f"with a letter, got {_show(name)}")
    sd_files(cfg.discovery.file_sd, "discovery.file_sd")
    for i, ns in enumerate(k8s.namespaces):
        if not _DNS_LABEL.fullmatch(ns):
            raise _fail(path, f"discovery.kubernetes.namespaces[{i}]", f"not a Kubernetes namespace: {_show(ns)}")
    k8s_labels(k8s.pod_labels, "discovery.kubernetes.pod_labels")
    port_name(k8s.port_name, "discovery.kubernetes.port_name")
    jobs = set(cfg.selectors.jobs) | {f"{cfg.selectors.jobs[0]}-pods"}
    for name in ("node", "redis"):
        e: ScrapedExporter = getattr(cfg.exporters, name)
        key = f"exporters.{name}"
        if not _LABEL_VALUE_SAFE.fullmatch(e.job) or e.job != e.job.strip():
            raise _fail(path, f"{key}.job", f"a job name without quotes, | or spaces at either end, got {_show(e.job)}")
        if e.enabled and e.job in jobs:
            raise _fail(path, f"{key}.job", f"{_show(e.job)} is already a job of this config: the rules would read it")
        jobs.add(e.job)
        for i, t in enumerate(e.targets):
            if not is_host_port(t):
                raise _fail(path, f"{key}.targets[{i}]", "expected HOST:PORT (a host name or IP address, a port "
                            f"from 1 to 65535), got {_show(t)}")
        sd_files(e.file_sd, f"{key}.file_sd")
        if e.enabled and not (e.targets or e.file_sd):
            raise _fail(path, f"{key}.targets", "an enabled exporter needs targets or file_sd")
        k8s_labels(e.service_labels, f"{key}.service_labels")
        port_name(e.port_name, f"{key}.port_name")
    if cfg.operator.namespace and not _DNS_LABEL.fullmatch(cfg.operator.namespace):
        raise _fail(path, "operator.namespace", f"not a Kubernetes namespace: {_show(cfg.operator.namespace)}")
    k8s_labels(cfg.operator.labels, "operator.labels")
    url = cfg.scale_out.remote_write_url
    parts = urllib.parse.urlsplit(url) if re.fullmatch(r"[!-~]+", url) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc \
            or parts.fragment or "{{" in url:
        raise _fail(path, "scale_out.remote_write_url", "must be an http(s) URL with a host, no credentials "
                    f"(a scraper reads those from a file), no #fragment, got {_show(url)}")
    try:
        parts.port
    except ValueError:
        raise _fail(path, "scale_out.remote_write_url", f"has a bad port: {_show(url)}") from None
    return cfg


def config_from_mapping(data: Mapping[str, Any], path: Optional[str] = None) -> Config:
    """Build a Config from a parsed YAML mapping (defaults for everything it leaves out)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(path, "<top>", f"expected a mapping, got {type(data).__name__}")
    return _validate_deployment(_validate(_build(Config, data, path), path), path)


def parse_yaml(text: str, path: Optional[str] = None) -> Any:
    """Parse config text with the restricted loader; ConfigError naming the file and the place."""
    try:
        return yaml.load(text, Loader=_Loader)
    except _YamlRefusal as e:
        raise ConfigError(f"{path or '<config>'}: {_place(e.mark)}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path or '<config>'}: {_yaml_problem(e)}") from None


def load_config(path: Optional[str] = None) -> Config:
    """Load the config file at `path` (or $HERMES_DASH_CONFIG); the defaults when neither is set.
    The file must be UTF-8 and at most MAX_CONFIG_BYTES (1 MiB)."""
    path = path or os.environ.get(CONFIG_ENV) or None
    if path is None:
        return DEFAULT
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than 1 MiB ({MAX_CONFIG_BYTES} bytes): not a hermes-dash config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    return config_from_mapping(parse_yaml(text, path), path)
