"""Deployment files generated from the same config as the rules, for the three shapes of a deployment:
one Prometheus, the Prometheus Operator, and scrapers that remote-write to a central store.

    from hermes_dash.build.deploy import render_deploy_files
    files = render_deploy_files(load_config(None))
    # {"prometheus/prometheus.yml": ..., "alertmanager/alertmanager.yml": ...,
    #  "kubernetes/hermes-prometheusrule.yml": ..., "kubernetes/hermes-podmonitor.yml": ...,
    #  "scale-out/scraper.yml": ...}   (+ kubernetes/hermes-servicemonitor-<exporter>.yml per exporter on)

The scrape jobs come from one function (`scrape_configs`) for prometheus.yml and the scrapers: the agents
as job `selectors.job` (static targets and target files), Kubernetes pods as `<job>-pods` relabelled to
the same `job`, and each exporter switched on as its own job. The Operator's PodMonitor keeps the same
`job` by relabelling. Alertmanager routes by severity and team to the contract's receivers and inhibits
alert storms; it reads every secret (Slack webhook URL, PagerDuty routing key) from a file under
routing.secrets_dir, so no secret is ever in a generated file. These are examples to adapt (targets,
channels), not a deployment tool: nothing here starts a server.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

from .. import catalogue as C
from ..config import Config, ScrapedExporter
from .promql import matcher
from .rules import ALERTS_FILE, RECORDING_FILE, alert_groups, recording_groups
from .text import YAML_MARK, dump

PROMETHEUS_FILE = "prometheus/prometheus.yml"
ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
PROMETHEUS_RULE_FILE = "kubernetes/hermes-prometheusrule.yml"
POD_MONITOR_FILE = "kubernetes/hermes-podmonitor.yml"
#: one ServiceMonitor per exporter switched on (exporters.<name>)
SERVICE_MONITOR_FILE = "kubernetes/hermes-servicemonitor-{name}.yml"
SCRAPER_FILE = "scale-out/scraper.yml"
#: name (and name prefix) of every Kubernetes resource generated
K8S_NAME = "hermes-dash"
#: the secret files Alertmanager reads, relative to routing.secrets_dir
SECRET_FILES = {
    C.RECEIVER_PAGER: "pagerduty-routing-key",
    C.RECEIVER_FINANCE: "slack-finance-webhook-url",
    C.RECEIVER_PLATFORM: "slack-platform-webhook-url",
}


def _global(cfg: Config, evaluation: bool = True) -> dict:
    p = cfg.prometheus
    out = {"scrape_interval": p.scrape_interval}
    if evaluation:
        out["evaluation_interval"] = p.evaluation_interval
    if p.external_labels:
        out["external_labels"] = dict(sorted(p.external_labels.items()))
    return out


def _static_and_files(job: str, targets, files) -> dict:
    out: dict = {"job_name": job}
    if targets:
        out["static_configs"] = [{"targets": list(targets)}]
    if files:
        out["file_sd_configs"] = [{"files": list(files)}]
    return out


def pods_job_name(cfg: Config) -> str:
    """The scrape job that discovers the agents' pods (its targets are relabelled to `selectors.job`)."""
    return f"{cfg.selectors.jobs[0]}-pods"


def pod_relabel_configs(cfg: Config) -> List[dict]:
    """Kubernetes pod discovery -> the agents' targets: keep the container port named
    `discovery.kubernetes.port_name` of running pods, set `job` to the agents' job, keep `instance` (the
    pod's IP:port, Prometheus' default: unique per agent while it lives) and add `namespace`, `pod` and
    `container`, as the Operator does for a PodMonitor."""
    k = cfg.discovery.kubernetes
    return [
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": k.port_name, "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Failed|Succeeded", "action": "drop"},
        {"target_label": C.L_JOB, "replacement": cfg.selectors.jobs[0]},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
    ]


def scrape_configs(cfg: Config) -> List[dict]:
    """Every scrape job, for prometheus.yml and the scale-out scrapers alike: the agents as job
    `selectors.job` (static targets and target files), their pods when Kubernetes discovery is on, then
    each exporter switched on."""
    job, d = cfg.selectors.jobs[0], cfg.discovery
    out = []
    agents = _static_and_files(job, cfg.prometheus.targets, d.file_sd)
    if len(agents) > 1:
        out.append(agents)
    if d.kubernetes.enabled:
        sd: dict = {"role": "pod"}
        if d.kubernetes.namespaces:
            sd["namespaces"] = {"names": list(d.kubernetes.namespaces)}
        if d.kubernetes.pod_labels:
            sd["selectors"] = [{"role": "pod", "label": ",".join(f"{k}={v}" for k, v in
                                                                 sorted(d.kubernetes.pod_labels.items()))}]
        out.append({"job_name": pods_job_name(cfg), "kubernetes_sd_configs": [sd],
                    "relabel_configs": pod_relabel_configs(cfg)})
    for e in cfg.exporters.enabled():
        out.append(_static_and_files(e.job, e.targets, e.file_sd))
    return out


def prometheus_config(cfg: Config, rules_dir: str = "../../rules") -> dict:
    """prometheus.yml: scrape the agents as the configured job (and the exporters switched on), load both
    rule files, alert to AM."""
    p = cfg.prometheus
    return {
        "global": _global(cfg),
        "rule_files": [f"{rules_dir}/{RECORDING_FILE}", f"{rules_dir}/{ALERTS_FILE}"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(p.alertmanagers)}]}]},
        "scrape_configs": scrape_configs(cfg),
    }


def scraper_config(cfg: Config) -> dict:
    """scale-out/scraper.yml: what each scraper of the scale-out shape runs. The same scrape jobs as
    prometheus.yml, no rules, and a `remote_write` to the central store: Prometheus runs it as is in agent
    mode (--enable-feature=agent); vmagent reads the scrape jobs and external labels
    (-promscrape.config.strictParse=false) and takes the URL from -remoteWrite.url. Each scraper is given
    its shard through its own target files (discovery.file_sd), or shards with vmagent's
    -promscrape.cluster.* flags or the Operator's `shards`."""
    return {
        "global": _global(cfg, evaluation=False),
        "scrape_configs": scrape_configs(cfg),
        "remote_write": [{"url": cfg.scale_out.remote_write_url}],
    }


def _metadata(cfg: Config, name: str, component: str) -> dict:
    meta: dict = {"name": name}
    if cfg.operator.namespace:
        meta["namespace"] = cfg.operator.namespace
    meta["labels"] = {"app.kubernetes.io/name": K8S_NAME, "app.kubernetes.io/component": component,
                      **dict(sorted(cfg.operator.labels.items()))}
    return meta


def _operator_relabelings(cfg: Config, job: str) -> List[dict]:
    """A monitor's relabelings: `job` set to the job the rules select (the Operator's default is
    `<namespace>/<monitor name>`), then `prometheus.external_labels` as target labels (a monitor cannot
    set the Prometheus resource's externalLabels)."""
    return [{"targetLabel": C.L_JOB, "replacement": job}] + [
        {"targetLabel": k, "replacement": v} for k, v in sorted(cfg.prometheus.external_labels.items())]


def _namespace_selector(namespaces) -> dict:
    return {"matchNames": list(namespaces)} if namespaces else {"any": True}


def pod_monitor(cfg: Config) -> dict:
    """The agents as a Prometheus Operator PodMonitor: pods with `discovery.kubernetes.pod_labels`, their
    port `port_name`, scraped every `prometheus.scrape_interval` as job `selectors.job`."""
    k = cfg.discovery.kubernetes
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _metadata(cfg, K8S_NAME, "agents"),
        "spec": {
            "selector": {"matchLabels": dict(sorted(k.pod_labels.items()))},
            "namespaceSelector": _namespace_selector(k.namespaces),
            "podMetricsEndpoints": [{"port": k.port_name, "path": "/metrics",
                                     "interval": cfg.prometheus.scrape_interval,
                                     "relabelings": _operator_relabelings(cfg, cfg.selectors.jobs[0])}],
        },
    }


def service_monitor(cfg: Config, name: str, e: ScrapedExporter) -> dict:
    """One exporter as a Prometheus Operator ServiceMonitor: Services with `service_labels`, their port
    `port_name`, scraped as job `job` (any namespace, or `operator.namespace` when set)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(cfg, f"{K8S_NAME}-{name}", f"{name}-exporter"),
        "spec": {
            "selector": {"matchLabels": dict(sorted(e.service_labels.items()))},
            "namespaceSelector": _namespace_selector((cfg.operator.namespace,) if cfg.operator.namespace else ()),
            "endpoints": [{"port": e.port_name, "path": "/metrics", "interval": cfg.prometheus.scrape_interval,
                           "relabelings": _operator_relabelings(cfg, e.job)}],
        },
    }


def inhibit_rules(cfg: Config) -> List[dict]:
    """Inhibitions that stop alert storms (each one is tested on a live Alertmanager), within one job (and
    one cluster, when the config names the cluster label)."""
    A, job = C.L_ALERTNAME, list(cfg.selectors.keep)
    return [
        # The critical form of an alert silences its warning form (the SLO burn alerts: page vs ticket).
        {"source_matchers": [matcher(C.L_SEVERITY, C.CRITICAL)],
         "target_matchers": [matcher(C.L_SEVERITY, f"{C.WARNING}|{C.INFO}", "=~")],
         "equal": [A, *job]},
        # Critical latency (P99) silences high latency (P95) of the same job.
        {"source_matchers": [matcher(A, C.A_CRITICAL_LATENCY)],
         "target_matchers": [matcher(A, C.A_HIGH_LATENCY)],
         "equal": job},
        # An instance that is down silences that instance's other alerts.
        {"source_matchers": [matcher(A, C.A_INSTANCE_DOWN)],
         "target_matchers": [matcher(A, "Hermes.+", "=~"), matcher(A, C.A_INSTANCE_DOWN, "!=")],
         "equal": [*job, C.L_INSTANCE]},
        # No target up at all: one page for the job, not one per instance.
        {"source_matchers": [matcher(A, C.A_METRICS_ABSENT)],
         "target_matchers": [matcher(A, C.A_INSTANCE_DOWN)],
         "equal": job},
    ]


_SLACK_TITLE = ('[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
                '{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})')
_SLACK_TEXT = ('{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n'
               'Runbook: {{ .Annotations.runbook_url }}\n{{ end }}')


def alertmanager_config(cfg: Config, webhook_url: Optional[str] = None) -> dict:
    """alertmanager.yml: critical pages (and also reaches its team's Slack), finance's alerts go to
    slack-finance, everything else to slack-platform. With `webhook_url` (the tests, the demo) every
    receiver posts to `webhook_url/<receiver>` instead of Slack or PagerDuty; routes and inhibition stay."""
    r = cfg.routing
    secret = secret_paths(cfg)

    def slack(name: str, channel: str) -> dict:
        return {"name": name, "slack_configs": [{
            "api_url_file": secret[name], "channel": channel, "send_resolved": True,
            "title": _SLACK_TITLE, "text": _SLACK_TEXT}]}

    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": C.RECEIVER_PLATFORM,
            "group_by": [C.L_ALERTNAME, *cfg.selectors.keep],
            "group_wait": r.group_wait, "group_interval": r.group_interval, "repeat_interval": r.repeat_interval,
            "routes": [
                {"receiver": C.RECEIVER_PAGER, "matchers": [matcher(C.L_SEVERITY, C.CRITICAL)],
                 "repeat_interval": r.page_repeat_interval, "continue": True},
                {"receiver": C.RECEIVER_FINANCE, "matchers": [matcher(C.L_TEAM, C.TEAM_FINANCE)],
                 "repeat_interval": r.finance_repeat_interval},
                {"receiver": C.RECEIVER_PLATFORM},
            ],
        },
        "receivers": [{"name": n, "webhook_configs": [{"url": f"{webhook_url}/{n}"}]} for n in C.RECEIVERS]
        if webhook_url else [
            {"name": C.RECEIVER_PAGER, "pagerduty_configs": [{
                "routing_key_file": secret[C.RECEIVER_PAGER], "send_resolved": True,
                "severity": "{{ .CommonLabels.severity }}",
                "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
                "links": [{"href": "{{ (index .Alerts 0).Annotations.runbook_url }}", "text": "Runbook"}],
            }]},
            slack(C.RECEIVER_FINANCE, r.slack_finance_channel),
            slack(C.RECEIVER_PLATFORM, r.slack_platform_channel),
        ],
        "inhibit_rules": inhibit_rules(cfg),
    }


def prometheus_rule(cfg: Config) -> dict:
    """The same rules as a Prometheus Operator PrometheusRule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(cfg, K8S_NAME, "rules"),
        "spec": {"groups": [g.to_dict() for g in recording_groups(cfg) + alert_groups(cfg)]},
    }


def render_deploy_files(cfg: Config) -> Dict[str, str]:
    """The deployment files as deterministic YAML text, by path under deploy/."""
    files = {PROMETHEUS_FILE: YAML_MARK + dump(prometheus_config(cfg)),
             ALERTMANAGER_FILE: YAML_MARK + dump(alertmanager_config(cfg)),
             PROMETHEUS_RULE_FILE: YAML_MARK + dump(prometheus_rule(cfg)),
             POD_MONITOR_FILE: YAML_MARK + dump(pod_monitor(cfg)),
             SCRAPER_FILE: YAML_MARK + dump(scraper_config(cfg))}
    for name in ("node", "redis"):
        e = getattr(cfg.exporters, name)
        if e.enabled:
            files[SERVICE_MONITOR_FILE.format(name=name)] = YAML_MARK + dump(service_monitor(cfg, name, e))
    return files


def secret_paths(cfg: Config) -> Dict[str, str]:
    """receiver -> the file Alertmanager reads its secret from."""
    return {name: os.path.join(cfg.routing.secrets_dir, f) for name, f in SECRET_FILES.items()}
