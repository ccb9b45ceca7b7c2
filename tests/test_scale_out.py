"""The scale-out shape, for real, on 127.0.0.1 (free ports, everything stopped afterwards): two vmagents, each
scraping its shard of a simulated fleet with the GENERATED scraper config and remote-writing to one
VictoriaMetrics, where vmalert evaluates the GENERATED rule files and notifies the generated Alertmanager
(Debian's victoria-metrics 1.79, prometheus-alertmanager 0.25)."""
import contextlib
import dataclasses
import json
import math
import re
import time
import urllib.request
from typing import List

import pytest
import yaml

from hermes_dash.build import generated_files, write_all
from hermes_dash.build.deploy import SCRAPER_FILE, alertmanager_config
from hermes_dash.build.rules import RECORDING_FILE, recording_groups
from hermes_dash.config import DEFAULT, config_from_mapping, duration_seconds
from hermes_dash.harness.e2e import (HISTORY_FLEET, HISTORY_PORTS, LIVE_CONFIG, LIVE_FLEET, LIVE_LABELS, LIVE_RECEIVED,
                                     METRICSQL_CHANGES, Recorder, history_faults, received_by, run_live_faults,
                                     wait_for)
from hermes_dash.harness.history import rule_stages
from hermes_dash.harness.servers import alertmanager, free_ports, prometheus_agent
from hermes_dash.harness.simulate import Fleet
from hermes_dash.harness.victoria import (dry_run, force_flush, import_openmetrics, instant, replay_recording_rules,
                                          rule_files_of, victoria_metrics, vmagent, vmalert)

from conftest import ROOT, require_tool
from test_e2e import HOURS, has_data, panel_queries

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
    *ports, am_port, vm_port = free_ports(6)
    shards = [ports[:2], ports[2:]]
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


def test_two_clusters_in_one_store_alert_per_cluster(tmp_path):
    """Live: two clusters' vmagents, whose generated scraper configs differ only in
    `prometheus.external_labels` (cluster a, cluster b), write into one VictoriaMetrics, where vmalert runs
    the rules generated with `selectors.cluster_label: cluster`. A tool outage in cluster a fires
    HermesToolErrorRate for cluster a only; a crash in cluster b fires HermesInstanceDown for that agent in
    cluster b; each delivered alert carries exactly its rule's labels plus `cluster`."""
    for tool in ("victoria-metrics", "vmagent", "vmalert", "prometheus-alertmanager"):
        require_tool(tool)
    *ports, am_port, vm_port = free_ports(6)
    clusters = {"a": ports[:2], "b": ports[2:]}
    base = merged(yaml.safe_load(LIVE_CONFIG), METRICSQL_CHANGES)
    base["prometheus"].update(targets=[], alertmanagers=[f"127.0.0.1:{am_port}"])
    base.update(selectors={"cluster_label": "cluster"}, discovery={"file_sd": [TARGET_FILE]},
                scale_out={"remote_write_url": f"http://127.0.0.1:{vm_port}/api/v1/write"})
    cfg = config_from_mapping(base)  # the ruler's: rules and routing keep `cluster`
    write_all(str(tmp_path), {p: t for p, t in generated_files(cfg, ("rules",)).items()})
    for name, shard in clusters.items():  # each cluster's scrapers: the same config but for its name
        scraper = config_from_mapping(merged(base, {"prometheus": {"external_labels": {"cluster": name}}}))
        write_all(str(tmp_path / name), {
            "scraper.yml": generated_files(scraper, ("deploy",))[f"deploy/{SCRAPER_FILE}"],
            TARGET_FILE: json.dumps([{"targets": [f"127.0.0.1:{p}" for p in shard]}])})
    recorder = Recorder()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(cfg, webhook_url=recorder.url)))
    half = dataclasses.replace(LIVE_FLEET, instances=2, sessions_per_minute=LIVE_FLEET.sessions_per_minute / 2)
    fleets = {name: Fleet(half, ports=shard) for name, shard in clusters.items()}
    for f in fleets.values():
        f.serve(tick_seconds=0.5)

    def firing_notified():
        return {(a["labels"]["alertname"], a["labels"].get("cluster"),
                 a["labels"].get("instance") or a["labels"].get("tool_name"))
                for _, body in list(recorder.got) for a in body["alerts"] if a["status"] == "firing"}
    down = fleets["b"].agents[1].name
    try:
        with contextlib.ExitStack() as stack:
            am = stack.enter_context(alertmanager(str(tmp_path / "alertmanager.yml"), str(tmp_path), port=am_port))
            vm = stack.enter_context(victoria_metrics(str(tmp_path), port=vm_port))
            for name in clusters:
                stack.enter_context(vmagent(f"vmagent-{name}", str(tmp_path / name / "scraper.yml"),
                                            cfg.scale_out.remote_write_url, str(tmp_path)))
            time.sleep(3)  # a first query only once series can be there (1.79 caches "nothing found" for 10 s)
            assert wait_for(lambda: sorted(r["metric"]["cluster"] for r in instant(
                vm, 'up{job="hermes-agent"} == 1', nocache=1)) == ["a", "a", "b", "b"], 30)
            stack.enter_context(vmalert(rule_files_of(str(tmp_path / "rules")), vm.url, [am.url], str(tmp_path),
                                        evaluation_interval=cfg.prometheus.evaluation_interval))
            time.sleep(4)
            assert firing_notified() == set()
            fleets["a"].set_fault("tool_outage")
            assert wait_for(lambda: ("HermesToolErrorRate", "a", "web_search") in firing_notified(), 40)
            fleets["b"].crash(1)
            assert wait_for(lambda: ("HermesInstanceDown", "b", down) in firing_notified(), 40)
            time.sleep(3)  # late notifications count
    finally:
        for f in fleets.values():
            f.stop()
        recorder.close()
    assert firing_notified() == {("HermesToolErrorRate", "a", "web_search"), ("HermesInstanceDown", "b", down)}
    assert recorder.label_names() == {name: {frozenset(LIVE_LABELS[name] | {"cluster"})}
                                      for name in ("HermesToolErrorRate", "HermesInstanceDown")}
    assert received_by(recorder.delivered()) == {
        "slack-platform": {"HermesToolErrorRate", "HermesInstanceDown"}, "pagerduty-critical": {"HermesInstanceDown"}}


def test_prometheus_in_agent_mode_runs_the_scraper_config_as_generated(tmp_path):
    """The other scraper: Prometheus 2.42 with --enable-feature=agent runs deploy/scale-out/scraper.yml as
    generated (its `remote_write` included) and every agent's samples reach VictoriaMetrics under job
    `hermes-agent` with the agent's instance and the configured external label."""
    for tool in ("prometheus", "victoria-metrics"):
        require_tool(tool)
    *ports, vm_port = free_ports(3)
    cfg = config_from_mapping({"prometheus": {"targets": [f"127.0.0.1:{p}" for p in ports], "scrape_interval": "1s",
                                              "external_labels": {"cluster": "eu-1"}},
                               "scale_out": {"remote_write_url": f"http://127.0.0.1:{vm_port}/api/v1/write"}})
    (tmp_path / "scraper.yml").write_text(generated_files(cfg, ("deploy",))[f"deploy/{SCRAPER_FILE}"])
    fleet = Fleet(dataclasses.replace(LIVE_FLEET, seed=7), ports=ports)
    fleet.serve(tick_seconds=0.5)
    try:
        with victoria_metrics(str(tmp_path), port=vm_port) as vm, \
                prometheus_agent(str(tmp_path / "scraper.yml"), str(tmp_path)):
            time.sleep(5)  # a first query only once series can be there (1.79 caches "nothing found" for 10 s)

            def seen():
                return sorted(tuple(sorted(r["metric"].items()))
                              for r in instant(vm, 'up{job="hermes-agent"} == 1', nocache=1))
            want = sorted((("__name__", "up"), ("cluster", "eu-1"), ("instance", f"127.0.0.1:{p}"),
                           ("job", "hermes-agent")) for p in ports)
            assert wait_for(lambda: seen() == want, 30), seen()
            sessions = instant(vm, 'count by (instance) (hermes_active_sessions{job="hermes-agent"})', nocache=1)
            assert sorted(r["metric"]["instance"] for r in sessions) == sorted(f"127.0.0.1:{p}" for p in ports)
    finally:
        fleet.stop()


# --- the same backfilled history in VictoriaMetrics and in Prometheus ------------------------------------

@pytest.fixture(scope="module")
def stores(history, tmp_path_factory):
    """The end-to-end tests' history (6 h 10 min of 3 agents at one scrape a minute: a tool outage, LLM rate
    limiting, a cost surge, a crash) in both engines: Prometheus 2.42 (conftest's `history`: promtool blocks,
    recording rules backfilled by promtool) and VictoriaMetrics 1.79 (the same simulation, imported through
    /api/v1/import/prometheus, recording rules replayed by `vmalert -replay`, stage by stage). Yields
    (prometheus, victoria-metrics, start, end)."""
    for tool in ("victoria-metrics", "vmalert"):
        require_tool(tool)
    prom, end = history
    work = tmp_path_factory.mktemp("stores")
    start = end - HOURS * 3600 - 600
    files = Fleet(HISTORY_FLEET, ports=HISTORY_PORTS).backfill(
        start, end, 60, str(work / "openmetrics"), DEFAULT.selectors.job, faults_at=history_faults(end))
    # the response cache would keep what a query saw before the replay wrote the recorded series
    with victoria_metrics(str(work), extra_args=["-search.disableCache"]) as vm:
        for f in files:
            import_openmetrics(vm, f)
        force_flush(vm)
        replay_recording_rules([str(ROOT / "rules" / RECORDING_FILE)], vm, start, end, str(work))
        yield prom, vm, start, end


def test_every_panel_returns_data_from_victoria_metrics(stores):
    """Every query of every panel, expanded as Grafana expands it (variables at All), returns data from the
    central store over the dashboards' default range, and so does every recording rule replayed there:
    the dashboards need no change to read VictoriaMetrics."""
    _, vm, _, end = stores
    queries = list(panel_queries())
    empty = [f"{w}: {q}" for w, q in queries
             if not has_data(vm.query_range(q, end - HOURS * 3600, end, 60, timeout=60))]
    assert empty == [], "panels with no data:\n" + "\n".join(empty)
    names = [r.rule.name for g in recording_groups(DEFAULT) for r in g.rules]
    missing = [n for n in names if not has_data(vm.query_range(n, end - HOURS * 3600, end, 60, timeout=60))]
    assert (len(queries), missing) == (72, [])


def _window(expr: str) -> float:
    """The longest range of an expression, in seconds (0 without one)."""
    return max([duration_seconds(d) for d in re.findall(r"\[(\d+[smhdwy])\]", expr)] or [0.0])


def _values(server, expr: str, t: float) -> dict:
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in instant(server, expr, t)}


def _agree(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-12


#: recording rules over counters the instrumentation does not create at zero (a cost series appears with its
#: first priced call), read over a window longer than the history: the two engines estimate that first
#: increase differently (MetricsQL counts the first sample from zero, PromQL extrapolates towards zero)
YOUNG_SERIES_DIFFER = {"hermes:cost_usd:increase24h", "hermes_instance:cost_usd:increase24h"}


def _disagreements(rule, prom, other, t) -> List[str]:
    p, v = _values(prom, rule.expr, t), _values(other, rule.expr, t)
    return [f"{rule.rule.name} at {t:.0f} {dict(k)}: prometheus {p.get(k)} victoria-metrics {v.get(k)}"
            for k in sorted(set(p) | set(v)) if k not in p or k not in v or not _agree(p[k], v[k])]


def _stages():
    """The recording rules by backfill stage: [rules reading raw series], [rules reading recorded ones]."""
    names = [{g["name"] for g in stage} for stage in rule_stages([str(ROOT / "rules" / RECORDING_FILE)])]
    groups = recording_groups(DEFAULT)
    return [[r for g in groups if g.name in stage for r in g.rules] for stage in names]


def test_recording_rules_evaluate_alike_on_prometheus_and_victoria_metrics(stores, tmp_path):
    """Each recording rule's expression, evaluated by Prometheus 2.42 and by VictoriaMetrics 1.79 at the same
    instants over the same samples, gives the same series with the same values.

    Rules on raw series: compared every 10 min on the scrape grid (samples every 60 s on whole minutes,
    instants on whole minutes) where the rule's window lies inside the history, starts after every series'
    first sample and stays clear of the crash (its gap and restart); rules whose window is longer than the
    history, at every instant from 10 min in to the crash. There both engines compute the same quantity:
    they read the same samples on the window's edges (PromQL needs no extrapolation; MetricsQL's `last -
    previous sample` is the same difference). Rules on recorded series (the SLO window sums): each engine
    records at its own instants (promtool off the grid, vmalert on it), so they are compared on the same
    input, Prometheus' recorded series copied sample for sample into a second VictoriaMetrics, at every
    instant. Then only the order of float additions differs: tolerance 1e-9 relative + 1e-12 absolute,
    orders of magnitude above double rounding over these sums (2e-16 per operation), 6 below the smallest
    real difference between the two estimators (2e-3, off the grid or on a young series). Not flaky: the
    history is seeded, its timestamps fixed, nothing is live. Off the grid, or over a series born or
    restarted inside the window, the engines differ by design (docs/deployment.md); the exclusions keep
    those out, and YOUNG_SERIES_DIFFER is exactly the set of long-window rules that differ."""
    prom, vm, start, end = stores
    crash_from, crash_to = [(a, b) for a, b, f in history_faults(end) if f == "crash"][0]
    history = end - start
    instants = [end - k * 600 for k in range(int(history // 600) + 1)]
    raw_rules, chained = _stages()
    compared, long_differ, disagree = {}, set(), []
    for r in raw_rules:
        w = _window(r.expr)
        for t in instants:
            clear_of_crash = t < crash_from - 60 or t - w > crash_to + 60
            if w < history - 600:
                if not (t - w >= start + 600 and clear_of_crash):
                    continue
            elif not (start + 600 <= t < crash_from - 60):  # one sample: PromQL has no rate, MetricsQL 0
                continue
            compared[r.rule.name] = compared.get(r.rule.name, 0) + 1
            bad = _disagreements(r, prom, vm, t)
            if bad and w >= history - 600:
                long_differ.add(r.rule.name)
            disagree += bad[:1] if w < history - 600 else []
    # the recorded series the chained rules read, as Prometheus recorded them, into a VictoriaMetrics of their own
    read = sorted({r.rule.name for r in raw_rules for c in chained
                   if re.search(rf"(?<![\w:]){re.escape(r.rule.name)}(?![\w:])", c.expr)})
    series = instant(prom, f'{{__name__=~"{"|".join(map(re.escape, read))}"}}[{int(history) + 600}s]', end)
    lines = [json.dumps({"metric": s["metric"], "values": [float(v) for _, v in s["values"]],
                         "timestamps": [round(float(ts) * 1000) for ts, _ in s["values"]]}) for s in series]
    with victoria_metrics(str(tmp_path), extra_args=["-search.disableCache"]) as copy:
        req = urllib.request.Request(copy.url + "/api/v1/import", data="\n".join(lines).encode(), method="POST")
        urllib.request.urlopen(req, timeout=60).read()
        force_flush(copy)
        for r in chained:
            for t in instants[:-1]:
                compared[r.rule.name] = compared.get(r.rule.name, 0) + 1
                disagree += _disagreements(r, prom, copy, t)[:1]
    assert disagree == []
    assert long_differ == YOUNG_SERIES_DIFFER
    assert len(read) == 4 and {s["metric"]["__name__"] for s in series} == set(read), read
    assert len(compared) == 76 and min(compared.values()) >= 5, compared


def test_vmalert_accepts_the_generated_rule_files_and_refuses_a_broken_one(tmp_path):
    """`vmalert -dryRun` (MetricsQL's parser and vmalert's template functions) accepts both generated rule
    files as they are, and refuses a file whose expression is broken, so the check can fail."""
    require_tool("vmalert")
    rules = [str(ROOT / "rules" / RECORDING_FILE), str(ROOT / "rules" / "hermes_alerts.yml")]
    out = dry_run(rules)
    assert out.returncode == 0, out.stdout + out.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / "rules" / "hermes_alerts.yml").read_text().replace(" == 0", " ==", 1))
    out = dry_run([broken])
    assert out.returncode != 0 and "bad prometheus expr" in out.stdout + out.stderr, out.stdout + out.stderr
