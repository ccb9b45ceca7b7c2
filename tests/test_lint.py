"""`hermes-dash lint` on rule files: catalogue names, PromQL, and the alert house style."""
import pytest

from hermes_dash import catalogue as C
from hermes_dash.build.lint import lint_paths, lint_rule_groups
from hermes_dash.build.rules import all_alert_rules
from hermes_dash.config import DEFAULT

from conftest import ROOT, cli

SEED = ROOT / "rule_tests" / "seed"


def test_hermes_dash_lint_passes_on_the_generated_files():
    """`hermes-dash lint` (what `make test` runs) exits 0 on rules/ and dashboards/."""
    r = cli("lint")
    assert (r.returncode, r.stderr) == (0, "")
    assert lint_paths([str(ROOT / "rules"), str(ROOT / "dashboards")]) == []


def _one_alert(**changes):
    rule = next(r for r in all_alert_rules(DEFAULT) if r.name == C.A_HIGH_LATENCY).to_dict()
    for k, v in changes.items():
        section, _, key = k.partition("__")
        if key:
            if v is None:
                rule[section].pop(key)
            else:
                rule[section][key] = v
        elif v is None:
            rule.pop(section)
        else:
            rule[section] = v
    return {"groups": [{"name": "g", "rules": [rule]}]}


@pytest.mark.parametrize("changes, problem", [
    ({"alert": "hermes_high_latency"}, "alert name 'hermes_high_latency' is not CamelCase Hermes<Subject><Condition>"),
    ({"alert": "HighLatency"}, "alert name 'HighLatency' is not CamelCase Hermes<Subject><Condition>"),
    ({"labels__severity": "page"}, "labels.severity is 'page', not one of critical, warning, info"),
    ({"labels__team": None}, "labels.team is None, not one of platform, finance"),
    ({"labels__owner": "me"}, "label owner is not an alert label of the catalogue"),
    ({"for": None}, "no `for` duration"),
    ({"annotations__summary": "P95 is {{ $value }}"},
     "summary must be static (no template), got 'P95 is {{ $value }}'"),
    ({"annotations__description": "P95 is high"},
     "description should be templated ($labels / $value), got 'P95 is high'"),
    ({"annotations__runbook_url": None}, "no runbook_url annotation (an http(s) URL)"),
    ({"expr": "hermes_request_seconds > 30"}, "unknown metric hermes_request_seconds"),
    ({"expr": 'hermes:request_duration_p95:5m{endpoint="/run"} > 30'},
     "metric hermes:request_duration_p95:5m has no label endpoint"),
    ({"expr": "hermes:request_p95:5m > 30"}, "unknown metric hermes:request_p95:5m"),
    ({"expr": "sum(rate(hermes_tool_call_total[5m]) > 0"}, "does not parse"),
])
def test_lint_names_each_style_violation(changes, problem):
    """Each house-style rule and catalogue check produces its own message naming file, group and alert."""
    errors = lint_rule_groups(_one_alert(**changes), "x.yml")
    assert len(errors) == 1, errors
    assert errors[0].startswith("x.yml: group g: alert ")
    assert problem in errors[0]


def test_lint_rejects_a_recording_rule_outside_the_catalogue():
    """A recorded name the catalogue does not hold is reported."""
    data = {"groups": [{"name": "g", "rules": [{"record": "job:hermes_tools:rate5m",
                                                  "expr": "sum(rate(hermes_tool_call_total[5m]))"}]}]}
    assert lint_rule_groups(data, "x.yml") == [
        "x.yml: group g: record job:hermes_tools:rate5m: recording rule name is not in the catalogue"]


def test_lint_cli_fails_on_the_seed_rules(tmp_path):
    """`hermes-dash lint` on the seed chapter's alerts exits 1 and names what each one lacks."""
    r = cli("lint", str(SEED / "seed_alerts.yml"))
    assert r.returncode == 1
    for name in ("HermesHighLatency", "HermesCriticalLatency", "HermesToolErrorRate", "HermesInstanceDown",
                 "HermesCostOverrun", "HermesTokenSpike"):
        assert f"alert {name}: no runbook_url annotation" in r.stderr
    assert "alert HermesCriticalLatency: no description annotation" in r.stderr
    assert "alert HermesInstanceDown: labels.team is None" in r.stderr
    assert "alert HermesToolErrorRate: summary must be static" in r.stderr
