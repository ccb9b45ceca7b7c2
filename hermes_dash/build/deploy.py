"""Deployment files generated from the same config as the rules: Prometheus, Alertmanager, Kubernetes.

    from hermes_dash.build.deploy import render_deploy_files
    files = render_deploy_files(load_config(None))
    # {"prometheus/prometheus.yml": ..., "alertmanager/alertmanager.yml": ...,
    #  "kubernetes/hermes-prometheusrule.yml": ...}

Alertmanager routes by severity and team to the contract's receivers and inhibits alert storms; it
reads every secret (Slack webhook URL, PagerDuty routing key) from a file under routing.secrets_dir,
so no secret is ever in a generated file. These are examples to adapt (targets, channels), not a
deployment tool: nothing here starts a server.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

from .. import catalogue as C
from ..config import Config
from .promql import matcher
from .rules import ALERTS_FILE, RECORDING_FILE, alert_groups, recording_groups
from .text import YAML_MARK, dump

PROMETHEUS_FILE = "prometheus/prometheus.yml"
ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
PROMETHEUS_RULE_FILE = "kubernetes/hermes-prometheusrule.yml"
#: the secret files Alertmanager reads, relative to routing.secrets_dir
SECRET_FILES = {
    C.RECEIVER_PAGER: "pagerduty-routing-key",
    C.RECEIVER_FINANCE: "slack-finance-webhook-url",
    C.RECEIVER_PLATFORM: "slack-platform-webhook-url",
}


def prometheus_config(cfg: Config, rules_dir: str = "../../rules") -> dict:
    """prometheus.yml: scrape the agents as the configured job, load both rule files, alert to AM."""
    p = cfg.prometheus
    return {
        "global": {"scrape_interval": p.scrape_interval, "evaluation_interval": p.evaluation_interval},
        "rule_files": [f"{rules_dir}/{RECORDING_FILE}", f"{rules_dir}/{ALERTS_FILE}"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(p.alertmanagers)}]}]},
        "scrape_configs": [{"job_name": cfg.selectors.jobs[0], "static_configs": [{"targets": list(p.targets)}]}],
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
        "metadata": {"name": "hermes-dash", "labels": {"app.kubernetes.io/name": "hermes-dash",
                                                        "app.kubernetes.io/component": "rules"}},
        "spec": {"groups": [g.to_dict() for g in recording_groups(cfg) + alert_groups(cfg)]},
    }


def render_deploy_files(cfg: Config) -> Dict[str, str]:
    """The deployment files as deterministic YAML text, by path under deploy/."""
    return {PROMETHEUS_FILE: YAML_MARK + dump(prometheus_config(cfg)),
            ALERTMANAGER_FILE: YAML_MARK + dump(alertmanager_config(cfg)),
            PROMETHEUS_RULE_FILE: YAML_MARK + dump(prometheus_rule(cfg))}


def secret_paths(cfg: Config) -> Dict[str, str]:
    """receiver -> the file Alertmanager reads its secret from."""
    return {name: os.path.join(cfg.routing.secrets_dir, f) for name, f in SECRET_FILES.items()}
