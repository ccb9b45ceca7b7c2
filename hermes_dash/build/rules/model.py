"""Typed rules: a recording rule, an alert, a group; serialised to Prometheus' rule-file shape at one edge.

    Alert(name="HermesX", expr="up == 0", for_="1m", severity="critical", team="platform",
          summary="...", description="{{ $labels.instance }} ...").to_dict()
    # {'alert': 'HermesX', 'expr': 'up == 0', 'for': '1m', 'labels': {...}, 'annotations': {...}}

As sloth does with `rulefmt.Rule`: the generators build immutable values; only `to_dict` knows the file
format. Every alert goes through one transform, `with_runbook`, which adds its `runbook_url`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

from ... import catalogue as C
from ...config import Config
from ..promql import Scope, one_of

#: seconds in the window of the `:rate5m` rules: rate * WINDOW_5M = events in the window (minimum traffic)
WINDOW_5M = 300


@dataclass(frozen=True)
class Recording:
    """A recording rule: the catalogue's recorded series and the expression that computes it."""
    rule: C.RecordingRule
    expr: str

    def to_dict(self) -> Dict[str, object]:
        return {"record": self.rule.name, "expr": self.expr}


@dataclass(frozen=True)
class Alert:
    """An alert rule with the labels and annotations every hermes-dash alert carries."""
    name: str
    expr: str
    for_: str
    severity: str
    team: str
    #: static one-line summary; `description` is templated with $labels and $value
    summary: str
    description: str
    #: labels beyond severity and team (the SLO alerts' `slo`)
    labels: Tuple[Tuple[str, str], ...] = ()
    runbook_url: str = ""

    @property
    def all_labels(self) -> Dict[str, str]:
        return {C.L_SEVERITY: self.severity, C.L_TEAM: self.team, **dict(self.labels)}

    def to_dict(self) -> Dict[str, object]:
        annotations = {"summary": self.summary, "description": self.description}
        if self.runbook_url:
            annotations["runbook_url"] = self.runbook_url
        return {"alert": self.name, "expr": self.expr, "for": self.for_, "labels": self.all_labels,
                "annotations": annotations}


Rule = Union[Recording, Alert]


@dataclass(frozen=True)
class Group:
    name: str
    rules: Tuple[Rule, ...]
    #: the group's own evaluation interval; None: the server's evaluation_interval
    interval: Optional[str] = None

    def to_dict(self) -> Dict[str, object]:
        out: Dict[str, object] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict() for r in self.rules]
        return out


def runbook_url(cfg: Config, alertname: str) -> str:
    """The alert's section of RUNBOOK.md: alerting.runbook_url_base + '#' + the name in lower case."""
    return f"{cfg.alerting.runbook_url_base}#{alertname.lower()}"


def with_runbook(alert: Alert, cfg: Config) -> Alert:
    """The one transform every alert goes through: its runbook_url, a heading of RUNBOOK.md."""
    return dataclasses.replace(alert, runbook_url=runbook_url(cfg, alert.name))


def keep(cfg: Config, *labels: str) -> Tuple[str, ...]:
    """`labels` as an aggregation of the rules keeps them: the configured cluster label before `job`."""
    cluster = cfg.selectors.cluster_label
    if not cluster or C.L_JOB not in labels:
        return labels
    return tuple(x for label in labels for x in ((cluster, label) if label == C.L_JOB else (label,)))


def on(cfg: Config, *labels: str) -> str:
    """The `on (...)` of a binary operation between two rules' results: job (and the cluster), and `labels`."""
    return f"on ({', '.join(keep(cfg, C.L_JOB, *labels))})"


def job_scope(cfg: Config) -> Scope:
    """Raw series of the configured scrape job (no Grafana variables: rules see every instance)."""
    return Scope(one_of(C.L_JOB, cfg.selectors.jobs))
