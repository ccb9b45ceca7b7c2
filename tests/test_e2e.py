"""End to end on a real Prometheus and Alertmanager (127.0.0.1, free ports, stopped afterwards), fed by the
simulated fleet driving hermes-dash's own instrumentation."""
import json
import math
import time
import urllib.parse
from pathlib import Path

import yaml

from hermes_dash.build import generated_files, write_all
from hermes_dash.config import DEFAULT, config_from_mapping
from hermes_dash.build.deploy import alertmanager_config, prometheus_config
from hermes_dash.harness.e2e import (LIVE_CONFIG, LIVE_FLEET, LIVE_LABELS, LIVE_RECEIVED, Recorder, received_by,
                                     run_live_faults, wait_for)
from hermes_dash.build.lint import grafana_expand, panels_of
from hermes_dash.build.rules import RECORDING_FILE, recording_groups
from hermes_dash.harness.servers import alertmanager, free_ports, prometheus
from hermes_dash.harness.simulate import Fleet, FleetSpec

from conftest import HISTORY_HOURS as HOURS
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent



def panel_queries(values=None):
    """(where, query) of every panel target of every dashboard, as Grafana sends it for the default range
    (one scrape a minute: $__rate_interval 4m): variables at `values`, else at All (their allValue),
    variables the dashboard does not define left as written."""
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        d = json.loads(path.read_text())
        for p in panels_of(d):
            for t in p.get("targets") or []:
                yield (f'{d["uid"]}: panel "{p["title"]}" {t["refId"]}',
                       grafana_expand(t["expr"], d, f"{HOURS}h", "4m", "1m", values))


def query_range(server, expr: str, start: float, end: float, step: int = 60):
    return server.query_range(expr, start, end, step, timeout=60)


def has_data(result) -> bool:
    return any(math.isfinite(float(v)) for series in result for _, v in series["values"])


def test_every_panel_of_every_dashboard_returns_data(history):
    """Every query of every panel, expanded as Grafana expands it (variables at All), returns data over the
    dashboard's default range; a panel without data fails naming dashboard, panel and query."""
    prom, end = history
    queries = list(panel_queries())
    empty = [f"{w}: {q}" for w, q in queries if not has_data(query_range(prom, q, end - HOURS * 3600, end))]
    assert empty == [], "panels with no data:\n" + "\n".join(empty)
    assert len(queries) == 72


def test_the_instance_picker_filters_every_panel(history):
    """With one instance chosen every panel still has data; with an instance that does not exist every
    panel is empty: no panel ignores the picker."""
    prom, end = history
    start = end - HOURS * 3600
    one = [f"{w}: {q}" for w, q in panel_queries({"instance": ["127.0.0.1:19465"]})
           if not has_data(query_range(prom, q, start, end))]
    assert one == []
    ignoring = [f"{w}: {q}" for w, q in panel_queries({"instance": ["127.0.0.1:1"]})
                if has_data(query_range(prom, q, start, end))]
    assert ignoring == []


def test_every_recording_rule_has_series(history):
    """Each recording rule, backfilled with promtool from the raw history, has series in the range."""
    prom, end = history
    names = [r.rule.name for g in recording_groups(DEFAULT) for r in g.rules]
    missing = [n for n in names if not has_data(query_range(prom, n, end - HOURS * 3600, end))]
    assert missing == []
    assert len(names) == 76


def test_history_shows_the_faults_it_was_given(history):
    """The backfilled faults are where they were put: the tool outage raises web_search's failure ratio,
    the crash takes one instance's `up` to 0."""
    prom, end = history
    ratio = query_range(prom, 'hermes:tool_failure_ratio:5m{tool_name="web_search"}', end - 4.5 * 3600,
                        end - 4.5 * 3600, step=60)
    assert float(ratio[0]["values"][0][1]) == 1.0
    down = query_range(prom, "up == 0", end - 3300, end - 3300)
    assert [s["metric"]["instance"] for s in down] == ["127.0.0.1:19464"]


# --- live: simulator -> Prometheus -> Alertmanager -> receivers -----------------------------------------

def test_each_fault_pages_the_right_receiver_and_inhibited_alerts_are_not_delivered(tmp_path):
    """Live: Prometheus scrapes the simulated fleet every second with the generated rules (a test config:
    `for` 0s, small thresholds); each fault switched on fires its alert, which reaches Alertmanager and is
    delivered to the receiver its severity and team route to, carrying exactly the labels its rule keeps
    (harness.e2e's table, shared with the scale-out test); HermesHighLatency, inhibited by
    HermesCriticalLatency, is never delivered."""
    require_tool("promtool")
    *ports, am_port = free_ports(3)
    raw = yaml.safe_load(LIVE_CONFIG)
    raw["prometheus"]["targets"] = [f"127.0.0.1:{p}" for p in ports]
    raw["prometheus"]["alertmanagers"] = [f"127.0.0.1:{am_port}"]
    cfg = config_from_mapping(raw)
    write_all(str(tmp_path), generated_files(cfg, ("rules",)))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(cfg, rules_dir="rules")))
    recorder = Recorder()
    # the test copy: every receiver posts to the recorder instead of Slack / PagerDuty
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(cfg, webhook_url=recorder.url)))
    fleet = Fleet(LIVE_FLEET, ports=ports)
    fleet.serve(tick_seconds=0.5)

    def firing(name):
        q = urllib.parse.quote(f'ALERTS{{alertname="{name}", alertstate="firing"}}')
        return prom.get(f"/api/v1/query?query={q}")["data"]["result"]
    try:
        with alertmanager(str(tmp_path / "alertmanager.yml"), str(tmp_path), port=am_port) as am, \
                prometheus(str(tmp_path / "prometheus.yml"), str(tmp_path)) as prom:
            time.sleep(4)
            got = run_live_faults(fleet, recorder, am, firing)
    finally:
        fleet.stop()
        recorder.close()
    assert received_by(got) == LIVE_RECEIVED
    assert recorder.label_names() == {name: {frozenset(labels)} for name, labels in LIVE_LABELS.items()}


def test_rules_work_unchanged_behind_federation(tmp_path):
    """A second Prometheus that federates the first (honor_labels, `match[]={job="hermes-agent"}`) and
    evaluates the generated rules unchanged fires the same alerts with the same labels: the agents'
    `job` and `instance` survive federation, so per-instance and per-tool alerts stay apart."""
    require_tool("promtool")
    *ports, leaf_port = free_ports(3)
    raw = yaml.safe_load(LIVE_CONFIG)
    cfg = config_from_mapping(raw)
    write_all(str(tmp_path), generated_files(cfg, ("rules",)))
    (tmp_path / "leaf.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "external_labels": {"replica": "leaf-a"}},
        "scrape_configs": [{"job_name": cfg.selectors.job,
                            "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}]}))
    (tmp_path / "global.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [f"rules/{RECORDING_FILE}", "rules/hermes_alerts.yml"],
        "scrape_configs": [{"job_name": "federate", "honor_labels": True, "metrics_path": "/federate",
                            "params": {"match[]": [f'{{job="{cfg.selectors.job}"}}']},
                            "static_configs": [{"targets": [f"127.0.0.1:{leaf_port}"]}]}]}))
    fleet = Fleet(FleetSpec(instances=2, tools=3, models=2, sessions_per_minute=240, seed=6, noise=0.0), ports=ports)
    fleet.serve(tick_seconds=0.5)

    def firing(prom, name):
        q = urllib.parse.quote(f'ALERTS{{alertname="{name}", alertstate="firing"}}')
        return [{k: v for k, v in r["metric"].items() if k not in ("__name__", "alertstate")}
                for r in prom.get(f"/api/v1/query?query={q}")["data"]["result"]]
    try:
        (tmp_path / "leaf").mkdir()
        (tmp_path / "global").mkdir()
        with prometheus(str(tmp_path / "leaf.yml"), str(tmp_path / "leaf"), port=leaf_port), \
                prometheus(str(tmp_path / "global.yml"), str(tmp_path)) as glob_:
            fleet.set_fault("tool_outage")
            assert wait_for(lambda: firing(glob_, "HermesToolErrorRate"))
            # the rules aggregate by (job, tool_name): the leaf's external label is summed away
            assert firing(glob_, "HermesToolErrorRate") == [{
                "alertname": "HermesToolErrorRate", "job": "hermes-agent", "severity": "warning",
                "team": "platform", "tool_name": "web_search"}]
            fleet.crash(0)
            assert wait_for(lambda: firing(glob_, "HermesInstanceDown"))
            # per-instance alerts keep the agent's own instance (honor_labels), not the leaf's address
            assert firing(glob_, "HermesInstanceDown") == [{
                "alertname": "HermesInstanceDown", "instance": fleet.agents[0].name, "job": "hermes-agent",
                "replica": "leaf-a", "severity": "critical", "team": "platform"}]
    finally:
        fleet.stop()
