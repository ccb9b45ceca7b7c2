"""The generated deployment files: prometheus.yml (promtool), alertmanager.yml (amtool routes, secrets
in files, inhibition on a live Alertmanager) and the PrometheusRule manifest."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hermes_dash import catalogue as C
from hermes_dash.build.deploy import (ALERTMANAGER_FILE, PROMETHEUS_FILE, PROMETHEUS_RULE_FILE, alertmanager_config,
                                      prometheus_rule)
from hermes_dash.build.rules import all_alert_rules, render_rule_files
from hermes_dash.config import DEFAULT, config_from_mapping

from conftest import ROOT, require_tool

AM_FILE = ROOT / "deploy" / ALERTMANAGER_FILE


def test_prometheus_config_passes_promtool_check_config():
    """deploy/prometheus/prometheus.yml is valid and loads both rule files."""
    out = subprocess.run([require_tool("promtool"), "check", "config", str(ROOT / "deploy" / PROMETHEUS_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 2 rule files found" in out.stdout
    data = yaml.safe_load((ROOT / "deploy" / PROMETHEUS_FILE).read_text())
    assert [s["job_name"] for s in data["scrape_configs"]] == [DEFAULT.selectors.job]


def test_alertmanager_config_passes_amtool_check_config():
    """deploy/alertmanager/alertmanager.yml is valid: 3 receivers, 4 inhibit rules."""
    out = subprocess.run([require_tool("amtool"), "check-config", str(ROOT / "deploy" / ALERTMANAGER_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " - 3 receivers" in out.stdout and " - 4 inhibit rules" in out.stdout


def _secret_values(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _secret_values(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _secret_values(v, f"{path}[{i}]")
    else:
        yield path, node


def test_alertmanager_reads_every_secret_from_a_file():
    """No secret field holds a value: Slack URLs and PagerDuty keys are *_file paths under secrets_dir."""
    data = yaml.safe_load((ROOT / "deploy" / ALERTMANAGER_FILE).read_text())
    leaves = dict(_secret_values(data))
    secret_keys = ("api_url", "slack_api_url", "routing_key", "service_key", "url", "http_config")
    assert [p for p in leaves if p.rsplit(".", 1)[-1] in secret_keys] == []
    files = {p: v for p, v in leaves.items() if p.endswith("_file")}
    assert sorted(files.values()) == ["/etc/alertmanager/secrets/pagerduty-routing-key",
                                      "/etc/alertmanager/secrets/slack-finance-webhook-url",
                                      "/etc/alertmanager/secrets/slack-platform-webhook-url"]


# what each severity/team pair must reach: written out here, not derived from deploy.py
ROUTES = {
    ("critical", "platform"): "pagerduty-critical,slack-platform",
    ("critical", "finance"): "pagerduty-critical,slack-finance",
    ("warning", "platform"): "slack-platform",
    ("warning", "finance"): "slack-finance",
    ("info", "platform"): "slack-platform",
    ("info", "finance"): "slack-finance",
}


def test_amtool_routes_every_alert_to_its_receivers():
    """`amtool config routes test --verify.receivers` passes for every generated alert with its labels."""
    amtool = require_tool("amtool")
    seen = set()
    for r in all_alert_rules(DEFAULT):
        labels = r.all_labels
        receivers = ROUTES[(r.severity, r.team)]
        args = [f"alertname={r.name}", f"job={DEFAULT.selectors.job}"] + [f"{k}={v}" for k, v in labels.items()]
        out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={AM_FILE}",
                              f"--verify.receivers={receivers}", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (r.name, labels, out.stdout + out.stderr)
        assert out.stdout.strip() == receivers
        seen.add(receivers)
    assert seen == {"pagerduty-critical,slack-platform", "slack-platform", "slack-finance"}


def test_amtool_catches_a_wrong_receiver():
    """The routing check can fail: a finance warning does not reach slack-platform."""
    out = subprocess.run([require_tool("amtool"), "config", "routes", "test",
                          f"--config.file={ROOT / 'deploy' / ALERTMANAGER_FILE}", "--verify.receivers=slack-platform",
                          "severity=warning", "team=finance"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines()[0] == "slack-finance"


def test_inhibition_on_a_live_alertmanager(tmp_path):
    """On a real Alertmanager: critical latency silences high latency, a page silences its ticket, a down
    instance silences that instance's alerts only, and no target at all silences per-instance down alerts."""
    from hermes_dash.harness.servers import alertmanager
    cfg = config_from_mapping({"routing": {"secrets_dir": str(tmp_path)}})
    for name in ("pagerduty-routing-key", "slack-finance-webhook-url", "slack-platform-webhook-url"):
        (tmp_path / name).write_text("http://127.0.0.1:9/unused\n")
    am_cfg = alertmanager_config(cfg)
    am_cfg["global"]["pagerduty_url"] = "http://127.0.0.1:9/unused"  # never leave loopback
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(am_cfg))

    def alert(name, sev, team="platform", **labels):
        return {"labels": {"alertname": name, "severity": sev, "team": team, "job": "hermes-agent", **labels},
                "annotations": {"summary": name}}

    sent = {
        "crit-latency": alert(C.A_CRITICAL_LATENCY, "critical"),
        "high-latency": alert(C.A_HIGH_LATENCY, "warning"),
        "burn-page": alert(C.A_TURN_ERROR_BUDGET_BURN, "critical", slo="turn_errors"),
        "burn-ticket": alert(C.A_TURN_ERROR_BUDGET_BURN, "warning", slo="turn_errors"),
        "down-a": alert(C.A_INSTANCE_DOWN, "critical", instance="a:9464"),
        "capacity-a": alert(C.A_SESSIONS_NEAR_CAPACITY, "warning", instance="a:9464"),
        "capacity-b": alert(C.A_SESSIONS_NEAR_CAPACITY, "warning", instance="b:9464"),
        "tool-errors": alert(C.A_TOOL_ERROR_RATE, "warning", tool_name="web_search"),
        "cost": alert(C.A_COST_OVERRUN, "warning", team="finance"),
        "absent-other": alert(C.A_METRICS_ABSENT, "critical", job="other-agents"),
        "down-other": alert(C.A_INSTANCE_DOWN, "critical", job="other-agents", instance="c:9464"),
    }
    expected_inhibited = {"high-latency", "burn-ticket", "capacity-a", "down-other"}
    with alertmanager(str(path), str(tmp_path)) as am:
        assert am.post("/api/v2/alerts", list(sent.values())) == 200
        got = am.get("/api/v2/alerts")
    assert len(got) == len(sent)
    key = {tuple(sorted(a["labels"].items())): k for k, a in sent.items()}
    inhibited = {key[tuple(sorted(a["labels"].items()))] for a in got if a["status"]["inhibitedBy"]}
    assert inhibited == expected_inhibited
    states = {key[tuple(sorted(a["labels"].items()))]: a["status"]["state"] for a in got}
    assert {k for k, s in states.items() if s == "suppressed"} == expected_inhibited


def test_prometheus_rule_manifest_holds_the_same_groups():
    """The PrometheusRule manifest carries exactly the groups of the two rule files."""
    data = yaml.safe_load((ROOT / "deploy" / PROMETHEUS_RULE_FILE).read_text())
    assert (data["apiVersion"], data["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    files = [yaml.safe_load(t) for t in render_rule_files(DEFAULT).values()]
    assert data["spec"]["groups"] == [g for f in files for g in f["groups"]]
    assert data == prometheus_rule(DEFAULT)


# -- the hand-written examples for `hermes-dash serve` ---------------------------------------------------
def _unit():
    import configparser
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read(ROOT / "deploy" / "systemd" / "hermes-dash.service")
    return p


def test_the_systemd_unit_verifies_and_its_command_serves(tmp_path):
    """deploy/systemd/hermes-dash.service passes `systemd-analyze verify` (with ExecStart pointing at this
    checkout's hermes-dash), and its command line, run for a temporary Hermes home, serves /metrics and
    stops with exit 0 on SIGTERM, as systemd stops it."""
    import shlex
    import signal
    import urllib.request
    from hermes_dash.harness.servers import free_port
    analyze = require_tool("systemd-analyze")
    unit = (ROOT / "deploy" / "systemd" / "hermes-dash.service").read_text()
    exe = str(Path(sys.executable).parent / "hermes-dash")
    copy = tmp_path / "hermes-dash.service"
    copy.write_text(unit.replace("/usr/local/bin/hermes-dash", exe))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    argv = shlex.split(_unit()["Service"]["ExecStart"])
    assert argv[:2] == ["/usr/local/bin/hermes-dash", "serve"]
    port = free_port()
    argv = [exe] + [a.replace("127.0.0.1:9464", f"127.0.0.1:{port}") for a in argv[1:]]
    env = dict(os.environ, HERMES_HOME=str(tmp_path / "home"))
    env.pop("HERMES_DASH_METRICS_ADDR", None)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.05)
        else:
            pytest.fail(f"hermes-dash serve did not answer on 127.0.0.1:{port} within 15 s")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((tmp_path / "home" / "hermes-dash" / "daemon.json").read_text())["directory"] == \
        str(tmp_path / "home" / "hermes-dash" / "metrics")


def test_the_container_example_serves_the_directory_at_the_hosts_path():
    """deploy/container/compose.yml mounts Hermes' hermes-dash directory at the same path inside (the
    marker names it for the host's processes), shares the host's pid namespace, runs as Hermes' uid, and
    publishes /metrics on loopback only; the Containerfile's entry point is `hermes-dash serve`."""
    compose = yaml.safe_load((ROOT / "deploy" / "container" / "compose.yml").read_text())
    svc = compose["services"]["hermes-dash"]
    assert svc["pid"] == "host"
    assert svc["volumes"] == ["${HERMES_HOME}/hermes-dash:${HERMES_HOME}/hermes-dash"]
    assert svc["environment"]["HERMES_HOME"].startswith("${HERMES_HOME:?")
    assert svc["user"].startswith("${HERMES_UID:?")
    assert svc["ports"] == ["127.0.0.1:9464:9464"]
    assert svc["build"]["dockerfile"] == "deploy/container/Containerfile"
    lines = (ROOT / "deploy" / "container" / "Containerfile").read_text().splitlines()
    assert 'ENTRYPOINT ["hermes-dash", "serve", "--address", "0.0.0.0:9464"]' in lines
