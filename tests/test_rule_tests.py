"""The hand-written promtool rule tests in rule_tests/: they pass, load the generated rules in order,
cover every alert (firing, quiet, `for` boundary) and every recorded series, and the seed-defect cases
fail on the seed chapter's rules."""
import os
import re
import subprocess

import pytest
import yaml

from hermes_dash import catalogue as C
from hermes_dash.build.rules import ALERTS_FILE, RECORDING_FILE, alert_groups, recording_groups, slo
from hermes_dash.config import DEFAULT, duration_seconds

from conftest import ROOT, require_tool

RULE_TESTS = ROOT / "rule_tests"
SEED = RULE_TESTS / "seed"
HAND_WRITTEN = sorted(RULE_TESTS.glob("*.yml")) + sorted((RULE_TESTS / "seed_defects").glob("*.yml")) \
    + sorted((RULE_TESTS / "regressions").glob("*.yml"))  # minimal failures saved by the property tests
SEED_DEFECTS = sorted((RULE_TESTS / "seed_defects").glob("*.yml"))


def test_hand_written_promtool_tests_pass():
    """Every file in rule_tests/, seed_defects/ and regressions/ passes `promtool test rules`, in one call."""
    out = subprocess.run([require_tool("promtool"), "test", "rules", *map(str, HAND_WRITTEN)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(HAND_WRITTEN)


def _cases():
    for f in HAND_WRITTEN:
        data = yaml.safe_load(f.read_text())
        for t in data["tests"]:
            yield f, data, t


def test_rule_test_files_load_the_generated_rules_in_order():
    """Each hand-written file loads rules/ and evaluates the recording groups alerts read before the alert
    groups (the SLO dashboard's groups, which no alert reads, are evaluated after the groups listed)."""
    dashboard_only = {slo.COMPONENTS_GROUP, slo.WINDOWS_GROUP}
    groups = [g.name for g in recording_groups(DEFAULT) + alert_groups(DEFAULT) if g.name not in dashboard_only]
    for f, data, _ in _cases():
        rel = os.path.relpath(ROOT / "rules", f.parent)
        assert data["rule_files"] == [f"{rel}/{RECORDING_FILE}", f"{rel}/{ALERTS_FILE}"], f
        assert data["group_eval_order"] == groups, f


def test_every_alert_has_a_firing_case_a_not_firing_case_and_a_for_boundary_pair():
    """For every alert: a case asserting all its labels and annotations, a case where it must not fire,
    and, within one test, an evaluation at `for` minus one interval with nothing firing followed by one
    with the alert firing."""
    firing, quiet, boundary = set(), set(), set()
    for f, data, t in _cases():
        step = duration_seconds(data["evaluation_interval"])
        by_alert = {}
        for a in t.get("alert_rule_test", []):
            by_alert.setdefault(a["alertname"], []).append(a)
            for exp in a["exp_alerts"]:
                assert {"severity", "team"} <= set(exp["exp_labels"]), (f, t["name"])
                assert set(exp["exp_annotations"]) == {"summary", "description", "runbook_url"}, (f, t["name"])
            if a["exp_alerts"]:
                firing.add(a["alertname"])
            elif "does not fire" in t["name"] and a["alertname"] in t["name"]:
                quiet.add(a["alertname"])
        for name, evals in by_alert.items():
            times = {duration_seconds(a["eval_time"]): a["exp_alerts"] for a in evals}
            for ts, exp in times.items():
                before = times.get(ts - step)
                if exp and before is not None and not [e for e in before
                                                       if e["exp_labels"] in [x["exp_labels"] for x in exp]]:
                    boundary.add(name)
    every = set(C.ALERT_NAMES)
    assert every - firing == set(), "no firing case"
    assert every - quiet == set(), "no not-firing case"
    assert every - boundary == set(), "no for: boundary pair"


def test_every_recording_rule_value_is_asserted():
    """Each recorded series (SLO windows included) appears in a promql_expr_test of the hand-written tests."""
    exprs = " ".join(p["expr"] for _, _, t in _cases() for p in t.get("promql_expr_test", []))
    names = [r.rule.name for g in recording_groups(DEFAULT) for r in g.rules]
    missing = [n for n in names if not re.search(re.escape(n) + r"(?![\w:])", exprs)]
    assert missing == []


@pytest.mark.parametrize("path", SEED_DEFECTS, ids=lambda p: p.stem)
def test_seed_defect_case_fails_on_the_seeds_original_rules(tmp_path, path):
    """Each seed-defect case passes on rules/ (test_hand_written_promtool_tests_pass) and fails on the
    seed chapter's rules for the defect's reason: the alert that must fire does not, or the one that must
    stay quiet fires."""
    data = yaml.safe_load(path.read_text())
    data["rule_files"] = [str(SEED / "seed_recording_rules.yml"), str(SEED / "seed_alerts.yml")]
    del data["group_eval_order"]  # the seed's groups have other names
    on_seed = tmp_path / path.name
    on_seed.write_text(yaml.safe_dump(data))
    out = subprocess.run([require_tool("promtool"), "test", "rules", str(on_seed)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    must_fire = any(a["exp_alerts"] for t in data["tests"] for a in t["alert_rule_test"])
    report = re.sub(r"\s+", "", out.stderr)
    assert ("got:[]" in report) if must_fire else ("exp:[],got:[0:" in report), out.stderr
