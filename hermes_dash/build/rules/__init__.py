"""Prometheus recording and alert rules, generated from the catalogue and one config.

    from hermes_dash.build.rules import render_rule_files
    files = render_rule_files(load_config(None))
    # {"hermes_recording_rules.yml": "...", "hermes_alerts.yml": "..."}, deterministic YAML

One module per group, shaped like the dashboards and rule_tests/: ``recording`` (what alerts and panels
read), then the alerts by dimension — ``latency``, ``reliability``, ``cost``, ``capacity``, ``business`` —
and ``slo`` (its recorded error ratios and the burn-rate alerts). Every threshold, minimum traffic, `for`
and SLO target comes from the config, the same value the dashboards draw as threshold lines. Rules are
typed values (``model``) serialised at one edge; every alert gets its runbook_url from one transform.
This package does not route alerts (``hermes_dash.build.deploy`` writes alertmanager.yml) and does not
test them (rule_tests/ and the tests do, with promtool).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from ...config import Config
from ..text import YAML_MARK, dump
from . import business, capacity, cost, latency, recording, reliability, slo
from .model import Alert, Group, Recording, with_runbook

RECORDING_FILE = "hermes_recording_rules.yml"
ALERTS_FILE = "hermes_alerts.yml"
#: the alert groups in file order
ALERT_MODULES = (latency, reliability, cost, capacity, business, slo)

__all__ = ["Alert", "Group", "Recording", "RECORDING_FILE", "ALERTS_FILE", "recording_groups", "alert_groups",
           "all_alert_rules", "render_rule_files", "as_file"]


def recording_groups(cfg: Config) -> List[Group]:
    """The recording rules: what alerts and fleet-wide panels read, the SLO error ratios, then what the SLO
    dashboard reads."""
    return [recording.group(cfg), slo.recording_group(cfg), *slo.component_groups(cfg)]


def alert_groups(cfg: Config) -> List[Group]:
    """The alerts, one group per dimension, each with its runbook_url."""
    return [Group(m.GROUP, tuple(with_runbook(a, cfg) for a in m.alerts(cfg))) for m in ALERT_MODULES]


def all_alert_rules(cfg: Config) -> Tuple[Alert, ...]:
    return tuple(r for g in alert_groups(cfg) for r in g.rules if isinstance(r, Alert))


def as_file(groups: List[Group]) -> dict:
    """Groups in the shape of a Prometheus rule file ({"groups": [...]})."""
    return {"groups": [g.to_dict() for g in groups]}


def render_rule_files(cfg: Config) -> Dict[str, str]:
    """Both rule files as deterministic YAML text, by file name."""
    return {RECORDING_FILE: YAML_MARK + dump(as_file(recording_groups(cfg))),
            ALERTS_FILE: YAML_MARK + dump(as_file(alert_groups(cfg)))}
