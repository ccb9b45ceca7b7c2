"""`hermes-dash build`: committed generated files are current, marked, deterministic; a bad config
changes nothing; one config value moves an alert and its dashboard line together."""
import subprocess
from pathlib import Path

import pytest
import yaml

from hermes_dash import catalogue as C
from hermes_dash.build import generated_files
from hermes_dash.build.rules import ALERTS_FILE, RECORDING_FILE
from hermes_dash.build.deploy import (ALERTMANAGER_FILE, POD_MONITOR_FILE, PROMETHEUS_FILE, PROMETHEUS_RULE_FILE,
                                      SCRAPER_FILE)
from hermes_dash.build.text import YAML_MARK
from hermes_dash.config import DEFAULT

from conftest import ROOT, cli, require_tool


def test_committed_rules_and_deploy_files_are_fresh():
    """rules/ and deploy/ equal what the catalogue and the default config generate now."""
    for path, text in generated_files(DEFAULT, ("rules", "deploy")).items():
        assert (ROOT / path).read_text() == text, f"{path} is stale: run `make generate`"


def test_generated_files_are_marked_and_deterministic():
    """Every generated rule and deploy file starts with the DO NOT EDIT marker and renders identically twice."""
    first, second = generated_files(DEFAULT, ("rules", "deploy")), generated_files(DEFAULT, ("rules", "deploy"))
    assert first == second
    assert sorted(first) == sorted([f"rules/{RECORDING_FILE}", f"rules/{ALERTS_FILE}", f"deploy/{PROMETHEUS_FILE}",
                                    f"deploy/{ALERTMANAGER_FILE}", f"deploy/{PROMETHEUS_RULE_FILE}",
                                    f"deploy/{POD_MONITOR_FILE}", f"deploy/{SCRAPER_FILE}"])
    assert all(text.startswith(YAML_MARK) for text in first.values())


def test_build_check_reports_a_stale_rule_file(tmp_path):
    """`hermes-dash build --check` exits 1 naming a rule file edited by hand, and writes nothing."""
    assert cli("build", "--root", str(tmp_path)).returncode == 0
    alerts_path = tmp_path / "rules" / ALERTS_FILE
    alerts_path.write_text(alerts_path.read_text().replace("> 30", "> 31"))
    r = cli("build", "--check", "--root", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip() == f"{alerts_path} is stale: run `make generate`"
    assert "> 31" in alerts_path.read_text()


@pytest.mark.parametrize("text, message", [
    ("thresholds:\n  latency_p95_seconds: -3\n", "thresholds.latency_p95_seconds: must be a finite number >= 0"),
    ("thresholds:\n  latency_p95: 3\n", "thresholds.latency_p95: unknown key"),
    ("alerting:\n  for_durations:\n    high_latency: 5 minutes\n",
     "alerting.for_durations.high_latency: expected a Prometheus duration"),
    ("slo:\n  turn_latency_seconds: 45\n", "slo.turn_latency_seconds: must be a bucket boundary"),
    ("slo:\n  page: [{factor: 14.4, long: 5m, short: 1h}]\n", "slo.page[0].short: must be shorter than long"),
    ("thresholds:\n  tool_error_rate: '5%'\n", "thresholds.tool_error_rate: expected a number"),
    ("slo:\n  ticket: [{factor: 2, long: 1d, short: 7m}]\n", "slo.ticket[0].short: must be a whole number of 5m"),
    ("slo:\n  period: 12h\n", "slo.period: must be a whole number of 5m and at least 1d"),
])
def test_bad_config_exits_2_naming_file_and_key_and_writes_nothing(tmp_path, text, message):
    """A bad config file fails `build` with exit 2, names the file and key, and leaves every output as it was."""
    assert cli("build", "--root", str(tmp_path)).returncode == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    r = cli("build", "--config", str(bad), "--root", str(tmp_path))
    assert r.returncode == 2
    assert f"{bad}: {message}" in r.stderr
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != bad}
    assert after == before


def _p95_test_file(rules_root: Path, path: Path, fires_with_threshold):
    """A promtool test: 40 turns/min, 37 of them within 30 s and 3 in (30, 60]. The P95 rank 38 lies 1/3
    into (30, 60], so P95 = 40 s. It expects HermesHighLatency firing with the given threshold, or nothing."""
    series = [(le, v) for le, v in (("30.0", "0+37x10"), ("60.0", "0+40x10"), ("+Inf", "0+40x10"))]
    exp = [] if fires_with_threshold is None else [{
        "exp_labels": {"severity": "warning", "team": "platform", "job": "hermes-agent"},
        "exp_annotations": {
            "summary": f"Hermes turn latency P95 is above {fires_with_threshold}s",
            "description": f"P95 of turn duration on job hermes-agent is 40s over the last 5m "
                           f"(threshold {fires_with_threshold}s).",
            "runbook_url": "https://github.com/hermes-dash/hermes-dash/blob/main/RUNBOOK.md#hermeshighlatency"}}]
    path.write_text(yaml.safe_dump({
        "rule_files": [str(rules_root / "rules" / RECORDING_FILE), str(rules_root / "rules" / ALERTS_FILE)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m",
                   "input_series": [{"series": f'hermes_request_duration_seconds_bucket{{job="hermes-agent", '
                                               f'le="{le}"}}', "values": v} for le, v in series],
                   "promql_expr_test": [{"expr": "abs(hermes:request_duration_p95:5m - 40) < bool 1e-9",
                                         "eval_time": "10m",
                                         "exp_samples": [{"labels": '{job="hermes-agent"}', "value": 1}]}],
                   "alert_rule_test": [{"eval_time": "10m", "alertname": C.A_HIGH_LATENCY, "exp_alerts": exp}]}]}))
    return path


def test_a_changed_threshold_moves_the_alert_and_the_dashboard_line(tmp_path):
    """latency_p95_seconds: 45 in a config file changes HermesHighLatency's expression, summary and
    behaviour (a P95 of 40 s fires under the default 30 s, not under 45 s) and the latency dashboard's
    threshold line, from one build."""
    cfg_file = tmp_path / "hermes-dash.yml"
    cfg_file.write_text("thresholds:\n  latency_p95_seconds: 45\n")
    changed, default = tmp_path / "changed", tmp_path / "default"
    assert cli("build", "--config", str(cfg_file), "--root", str(changed)).returncode == 0
    assert cli("build", "--root", str(default)).returncode == 0
    rules = yaml.safe_load((changed / "rules" / ALERTS_FILE).read_text())
    high = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == C.A_HIGH_LATENCY)
    assert high["expr"] == 'hermes:request_duration_p95:5m{job="hermes-agent"} > 45'
    assert high["annotations"]["summary"] == "Hermes turn latency P95 is above 45s"
    for root, line in ((changed, 45), (default, 30)):
        dash = yaml.safe_load((root / "dashboards" / "latency.json").read_text())
        steps = [s["value"] for p in dash["panels"] if p.get("title", "").startswith("Turn P95")
                 for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]
        assert steps and set(steps) == {line}
    promtool = require_tool("promtool")
    for root, fires in ((default, 30), (changed, None)):
        f = _p95_test_file(root, tmp_path / f"p95_{root.name}.yml", fires)
        out = subprocess.run([promtool, "test", "rules", str(f)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
