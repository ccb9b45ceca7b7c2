"""The scale-out shape, for real, on 127.0.0.1 (free ports, everything stopped afterwards): two vmagents, each
scraping its shard of a simulated fleet with the GENERATED scraper config and remote-writing to one
VictoriaMetrics, where vmalert evaluates the GENERATED rule files and notifies the generated Alertmanager
(Debian's victoria-metrics 1.79, prometheus-alertmanager 0.25)."""
import contextlib
import dataclasses
import json
import time

import yaml

from hermes_dash.build import generated_files, write_all
from hermes_dash.build.deploy import SCRAPER_FILE, alertmanager_config
from hermes_dash.config import config_from_mapping
from hermes_dash.harness.e2e import (LIVE_CONFIG, LIVE_FLEET, LIVE_LABELS, LIVE_RECEIVED, METRICSQL_CHANGES,
                                     Recorder, received_by, run_live_faults, wait_for)
from hermes_dash.harness.servers import alertmanager, free_port
from hermes_dash.harness.simulate import Fleet
from hermes_dash.harness.victoria import instant, rule_files_of, victoria_metrics, vmagent, vmalert

from conftest import require_tool

#: the agents' target file each scraper reads (discovery.file_sd); a deploy tool writes one per shard
TARGET_FILE = "targets/hermes-agents.json"


def merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for k, v in changes.items():
        out[k] = merged(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def test_sharded_vmagents_vmalert_and_victoria_metrics_deliver_what_one_prometheus_delivers(tmp_path):
    """Live: 4 agents (the single-Prometheus test's traffic, split over twice the agents) in 2 shards, each
    scraped every second by its own vmagent through the generated scraper config and its own target file,
    remote-written to one VictoriaMetrics; vmalert evaluates the generated rules there. Each vmagent scrapes
    exactly its shard, and the faults of the single-Prometheus test fire the same alerts, with exactly the
    same label names, delivered to the same receivers, HermesHighLatency held back by inhibition
    (harness.e2e's table; the one change to the test config is METRICSQL_CHANGES' cost threshold)."""
    for tool in ("victoria-metrics", "vmagent", "vmalert", "prometheus-alertmanager"):
        require_tool(tool)
    ports = [free_port() for _ in range(4)]
    shards = [ports[:2], ports[2:]]
    am_port, vm_port = free_port(), free_port()
    raw = merged(yaml.safe_load(LIVE_CONFIG), METRICSQL_CHANGES)
    raw["prometheus"].update(targets=[], alertmanagers=[f"127.0.0.1:{am_port}"])
    raw["discovery"] = {"file_sd": [TARGET_FILE]}
    raw["scale_out"] = {"remote_write_url": f"http://127.0.0.1:{vm_port}/api/v1/write"}
    cfg = config_from_mapping(raw)
    files = generated_files(cfg, ("rules", "deploy"))
    write_all(str(tmp_path), {p: t for p, t in files.items() if p.startswith("rules/")})
    for i, shard in enumerate(shards):  # what a deploy tool does: the same config, a target file per shard
        write_all(str(tmp_path / f"shard-{i}"), {
            "scraper.yml": files[f"deploy/{SCRAPER_FILE}"],
            TARGET_FILE: json.dumps([{"targets": [f"127.0.0.1:{p}" for p in shard]}])})
    recorder = Recorder()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(cfg, webhook_url=recorder.url)))
    fleet = Fleet(dataclasses.replace(LIVE_FLEET, instances=4, sessions_per_minute=LIVE_FLEET.sessions_per_minute / 2),
                  ports=ports)
    job = cfg.selectors.jobs[0]
    fleet.serve(tick_seconds=0.5)
    took = {}
    try:
        with contextlib.ExitStack() as stack:
            am = stack.enter_context(alertmanager(str(tmp_path / "alertmanager.yml"), str(tmp_path), port=am_port))
            vm = stack.enter_context(victoria_metrics(str(tmp_path), port=vm_port))
            scrapers = [stack.enter_context(vmagent(f"vmagent-{i}", str(tmp_path / f"shard-{i}" / "scraper.yml"),
                                                    cfg.scale_out.remote_write_url, str(tmp_path)))
                        for i in range(len(shards))]

            def scraped(s):
                return sorted(t["labels"]["instance"] for t in s.get("/api/v1/targets")["data"]["activeTargets"]
                              if t["health"] == "up" and t["labels"]["job"] == job)
            assert wait_for(lambda: all(len(scraped(s)) == 2 for s in scrapers), 20)
            assert [scraped(s) for s in scrapers] == [sorted(f"127.0.0.1:{p}" for p in shard) for shard in shards]
            # vmalert only once every agent's `up` is visible in the store: started earlier, it would fire
            # HermesMetricsAbsent (`for` 0s here) on the empty store
            assert wait_for(lambda: len(instant(vm, f'up{{job="{job}"}} == 1', nocache=1)) == 4, 30)
            ruler = stack.enter_context(vmalert(rule_files_of(str(tmp_path / "rules")), vm.url, [am.url],
                                                str(tmp_path), evaluation_interval=cfg.prometheus.evaluation_interval))

            def firing(name):
                return any(a["name"] == name and a["state"] == "firing"
                           for a in ruler.get("/api/v1/alerts")["data"]["alerts"] or [])
            assert wait_for(lambda: ruler.get("/api/v1/rules")["data"]["groups"], 10)
            time.sleep(4)  # as the single-Prometheus test: a few evaluations before the first fault
            got = run_live_faults(fleet, recorder, am, firing, on_delivered=took.__setitem__)
    finally:
        fleet.stop()
        recorder.close()
    print("fault -> delivered, s:", {k: round(v, 1) for k, v in took.items()})
    assert received_by(got) == LIVE_RECEIVED
    assert recorder.label_names() == {name: {frozenset(labels)} for name, labels in LIVE_LABELS.items()}
