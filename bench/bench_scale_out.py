"""The scale-out shape at 500 agents: two vmagents (a shard of 250 agents each) -> one VictoriaMetrics <- vmalert.

    python bench/bench_scale_out.py [--instances 500 --tools 5 --models 2] [--live-seconds 120] [--hours 2] [--runs 3]

1. Live, for a bounded time: the simulated fleet serves every agent's /metrics on 127.0.0.1; two vmagents
   scrape a shard each (the generated scraper config, a target file per shard, the default 15 s interval)
   and remote-write to VictoriaMetrics; vmalert evaluates the generated rule files there every 15 s.
   Measured over the last minute: samples ingested per second (vm_rows_inserted_total{type="promremotewrite"},
   which includes vmalert's recorded series), series per agent, each vmagent's scrape time, each rule
   group's evaluation time (vmalert_iteration_duration_seconds: mean of the run and the summary's p99), and
   the CPU each process used.
2. Backfilled: `--hours` of the same fleet at one scrape a minute (simulated in worker processes), imported
   into VictoriaMetrics (/api/v1/import/prometheus) and, as the baseline, into Prometheus 2.42 (promtool);
   recording rules backfilled on each (vmalert -replay, promtool create-blocks-from rules). Each
   dashboard's panel queries are sent to both as Grafana sends them for the default 6 h range (query_range,
   step 30 s, $__rate_interval 4m, variables at All); a dashboard's time is the sum over its panels, median
   of `--runs` passes; the ratio is VictoriaMetrics / Prometheus, same data, same run.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hermes_dash.build import generated_files, write_all  # noqa: E402
from hermes_dash.build.deploy import SCRAPER_FILE  # noqa: E402
from hermes_dash.build.lint import dashboard_exprs, grafana_expand  # noqa: E402
from hermes_dash.build.rules import RECORDING_FILE  # noqa: E402
from hermes_dash.config import DEFAULT, config_from_mapping  # noqa: E402
from hermes_dash.harness.history import backfill_recording_rules, run_promtool  # noqa: E402
from hermes_dash.harness.servers import free_ports, prometheus  # noqa: E402
from hermes_dash.harness.simulate import Fleet, FleetSpec  # noqa: E402
from hermes_dash.harness.victoria import (force_flush, import_openmetrics, instant, metric_values,  # noqa: E402
                                          metrics_text, package_version, replay_recording_rules, rule_files_of,
                                          victoria_metrics, vmagent, vmalert)

JOB = DEFAULT.selectors.jobs[0]
TARGET_FILE = "targets/hermes-agents.json"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def live(a, spec, work):
    """Part 1: the live topology for `a.live_seconds`; returns a dict of measurements."""
    *ports, vm_port = free_ports(a.instances + 1)
    half = a.instances // 2
    shards = [ports[:half], ports[half:]]
    cfg = config_from_mapping({"prometheus": {"targets": [], "alertmanagers": []},
                               "discovery": {"file_sd": [TARGET_FILE]},
                               "scale_out": {"remote_write_url": f"http://127.0.0.1:{vm_port}/api/v1/write"}})
    files = generated_files(cfg, ("rules", "deploy"))
    write_all(work, {p: t for p, t in files.items() if p.startswith("rules/")})
    for i, shard in enumerate(shards):
        write_all(os.path.join(work, f"shard-{i}"), {
            "scraper.yml": files[f"deploy/{SCRAPER_FILE}"],
            TARGET_FILE: json.dumps([{"targets": [f"127.0.0.1:{p}" for p in shard]}])})
    fleet = Fleet(spec, ports=ports)
    t_serve = time.perf_counter()
    fleet.serve(tick_seconds=1.0)
    out = {"serve_seconds": time.perf_counter() - t_serve}
    try:
        with victoria_metrics(work, port=vm_port) as vm, \
                vmagent("vmagent-0", os.path.join(work, "shard-0", "scraper.yml"), cfg.scale_out.remote_write_url,
                        work) as s0, \
                vmagent("vmagent-1", os.path.join(work, "shard-1", "scraper.yml"), cfg.scale_out.remote_write_url,
                        work) as s1, \
                vmalert(rule_files_of(os.path.join(work, "rules")), vm.url, ["http://127.0.0.1:1"], work,
                        evaluation_interval=cfg.prometheus.evaluation_interval) as ruler:  # nobody listens: no alert

            procs = {"victoria-metrics": vm, "vmagent-0": s0, "vmagent-1": s1, "vmalert": ruler}
            cpu0 = {n: cpu_seconds(s.proc.pid) for n, s in procs.items()}
            fleet_cpu0 = time.process_time()
            t0 = time.monotonic()
            time.sleep(max(0.0, a.live_seconds - 60))
            rows_a = metric_values(metrics_text(vm), "vm_rows_inserted_total").get('{type="promremotewrite"}', 0.0)
            ta = time.monotonic()
            time.sleep(min(60.0, a.live_seconds))
            rows_b = metric_values(metrics_text(vm), "vm_rows_inserted_total").get('{type="promremotewrite"}', 0.0)
            tb = time.monotonic()
            elapsed = tb - t0
            out["live_seconds"] = elapsed
            out["samples_per_s"] = (rows_b - rows_a) / (tb - ta)
            force_flush(vm)
            per = instant(vm, f'count by (instance) ({{job="{JOB}", instance!=""}})', nocache=1)
            counts = sorted(float(r["value"][1]) for r in per)
            out["agents_seen"] = len(counts)
            out["series_per_agent"] = (min(counts), statistics.median(counts), max(counts)) if counts else None
            out["series_total"] = float(instant(vm, 'count({__name__!=""})', nocache=1)[0]["value"][1])
            up = instant(vm, f'count(up{{job="{JOB}"}} == 1)', nocache=1)
            out["targets_up"] = float(up[0]["value"][1]) if up else 0.0
            scr = {}
            for n in ("vmagent-0", "vmagent-1"):
                t = metrics_text(procs[n])
                s = sum(metric_values(t, "vm_promscrape_scrape_duration_seconds_sum").values())
                c = sum(metric_values(t, "vm_promscrape_scrape_duration_seconds_count").values())
                scr[n] = (s / c if c else float("nan"), c)
            out["scrape"] = scr
            t = metrics_text(ruler)

            def by_group(name, quantile=None):
                return {re.search(r'group="([^"]*)"', k).group(1): v for k, v in metric_values(t, name).items()
                        if quantile is None or f'quantile="{quantile}"' in k}
            sums = by_group("vmalert_iteration_duration_seconds_sum")
            cnts = by_group("vmalert_iteration_duration_seconds_count")
            p99 = by_group("vmalert_iteration_duration_seconds", "0.99")
            out["groups"] = {k: (sums[k] / cnts[k], p99.get(k, float("nan")), cnts[k]) for k in sums if cnts.get(k)}
            out["rule_errors"] = sum(metric_values(t, "vmalert_execution_errors_total").values())
            out["cpu"] = {n: cpu_seconds(s.proc.pid) - cpu0[n] for n, s in procs.items()}
            out["cpu"]["fleet (python)"] = time.process_time() - fleet_cpu0
            out["rss_mib"] = {n: rss_mib(s.proc.pid) for n, s in procs.items()}
    finally:
        # Fleet.stop shuts the agents' servers one by one, each waiting up to half a second for its loop:
        # minutes for 500; shut them in parallel first
        with ThreadPoolExecutor(64) as pool:
            list(pool.map(lambda srv: srv.shutdown(), [srv for srv in fleet._servers.values() if srv]))
        fleet.stop()
    return out


def _part(args):
    spec, ports, start, end, out, agents, k = args
    return Fleet(spec, ports=ports).backfill(start, end, 60, out, JOB, agents=agents, prefix=f"w{k}")


def timed(server, expr, start, end, step=30):
    t = time.perf_counter()
    server.query_range(expr, start, end, step, timeout=300)
    return time.perf_counter() - t


def backfilled(a, spec, work):
    """Part 2: the same fleet's history in VictoriaMetrics and Prometheus; dashboard query times on both."""
    out = {}
    end = time.time() // 60 * 60
    start = end - a.hours * 3600
    ports = [20000 + i for i in range(a.instances)]
    t0 = time.perf_counter()
    parts = [list(range(k, a.instances, a.jobs)) for k in range(a.jobs)]
    om = os.path.join(work, "om")
    with ProcessPoolExecutor(a.jobs) as pool:
        files = [f for fs in pool.map(_part, [(spec, ports, start, end, om, ag, k) for k, ag in enumerate(parts)])
                 for f in fs]
    out["simulated_s"] = time.perf_counter() - t0
    out["samples"] = sum(1 for f in files for line in open(f) if line[:1] not in ("#", ""))
    data = os.path.join(work, "prom-data")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.jobs) as pool:
        list(pool.map(lambda f: run_promtool(["tsdb", "create-blocks-from", "openmetrics", f, data], f), files))
    out["promtool_import_s"] = time.perf_counter() - t0
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1m\n")
    rules = [os.path.join(ROOT, "rules", RECORDING_FILE)]
    vmwork = os.path.join(work, "vm")
    os.makedirs(vmwork)
    with victoria_metrics(vmwork, extra_args=["-search.disableCache"]) as vm:
        t0 = time.perf_counter()
        for f in files:
            import_openmetrics(vm, f)
        force_flush(vm)
        out["vm_import_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        replay_recording_rules(rules, vm, start, end, vmwork)
        out["vm_rules_s"] = time.perf_counter() - t0
        shutil.rmtree(om)
        t0 = time.perf_counter()
        backfill_recording_rules(start, end, rules, data, work)
        out["promtool_rules_s"] = time.perf_counter() - t0
        with prometheus(cfg, work, data_dir=data, timeout=600) as prom:
            time.sleep(11)  # VictoriaMetrics' tag-filter cache: every series searchable
            qend, qstart = end, end - 6 * 3600
            out["baseline_up"] = {n: statistics.median(timed(s, f'up{{job="{JOB}"}}', qstart, qend) for _ in range(5))
                                  for n, s in (("prometheus", prom), ("victoria-metrics", vm))}
            rows = []
            for path in sorted(os.listdir(os.path.join(ROOT, "dashboards"))):
                d = json.load(open(os.path.join(ROOT, "dashboards", path)))
                exprs = [grafana_expand(e, d, "6h", "4m", "30s") for w, e in dashboard_exprs(d) if ": panel " in w]
                med = {}
                for n, s in (("prometheus", prom), ("victoria-metrics", vm)):
                    med[n] = statistics.median(sum(timed(s, e, qstart, qend) for e in exprs) for _ in range(a.runs))
                rows.append((path[:-5], len(exprs), med["prometheus"], med["victoria-metrics"]))
            out["dashboards"] = rows
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=500)
    p.add_argument("--tools", type=int, default=5)
    p.add_argument("--models", type=int, default=2)
    p.add_argument("--sessions-per-minute", type=float, default=6.0, help="per agent")
    p.add_argument("--live-seconds", type=float, default=120)
    p.add_argument("--hours", type=float, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--skip-backfill", action="store_true")
    a = p.parse_args(argv)
    for tool in ("victoria-metrics", "vmagent", "vmalert", "promtool", "prometheus"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: run `make system-deps`")
    spec = FleetSpec(instances=a.instances, tools=a.tools, models=a.models, sessions_per_minute=a.sessions_per_minute,
                     seed=0)
    print(f"victoria-metrics {package_version()}; {a.instances} agents x {a.tools} tools x {a.models} models, "
          f"{a.sessions_per_minute:g} sessions/min each; {os.cpu_count()} cores", flush=True)
    work = tempfile.mkdtemp(prefix="hermes-bench-scale-out-")
    try:
        if not a.skip_live:
            os.makedirs(os.path.join(work, "live"))
            r = live(a, spec, os.path.join(work, "live"))
            print(f"\n## live, {r['live_seconds']:.0f} s (fleet serving took {r['serve_seconds']:.1f} s to start)\n")
            print(f"targets up: {r['targets_up']:.0f} of {a.instances}; agents with series: {r['agents_seen']}")
            print(f"samples ingested per second (last 60 s, scrapers + vmalert's writes): {r['samples_per_s']:.0f}")
            if r["series_per_agent"]:
                lo, med, hi = r["series_per_agent"]
                print(f"series per agent: min {lo:.0f}, median {med:.0f}, max {hi:.0f}; series in the store: "
                      f"{r['series_total']:.0f}")
            for n, (mean, c) in r["scrape"].items():
                print(f"{n}: {c:.0f} scrapes, mean {mean * 1000:.1f} ms")
            print(f"rule evaluation errors: {r['rule_errors']:.0f}\n")
            print("| rule group | mean evaluation, ms | p99, ms | evaluations |\n|---|---|---|---|")
            for k, (mean, p99, c) in sorted(r["groups"].items()):
                print(f"| {k} | {mean * 1000:.1f} | {p99 * 1000:.1f} | {c:.0f} |")
            print("\n| process | CPU s over the run | CPU share | RSS MiB |\n|---|---|---|---|")
            for n, c in r["cpu"].items():
                print(f"| {n} | {c:.1f} | {c / r['live_seconds']:.0%} | {r['rss_mib'].get(n, float('nan')):.0f} |")
        if not a.skip_backfill:
            r = backfilled(a, spec, work)
            print(f"\n## backfilled, {a.hours:g} h at one scrape a minute: {r['samples']} samples, simulated "
                  f"{r['simulated_s']:.0f} s; VictoriaMetrics import {r['vm_import_s']:.1f} s, rules replayed "
                  f"{r['vm_rules_s']:.1f} s; promtool import {r['promtool_import_s']:.1f} s, rules "
                  f"{r['promtool_rules_s']:.1f} s\n")
            b = r["baseline_up"]
            print(f"baseline: `up` over 6 h, median: Prometheus {b['prometheus'] * 1000:.1f} ms, VictoriaMetrics "
                  f"{b['victoria-metrics'] * 1000:.1f} ms\n")
            print("| dashboard | panels | Prometheus, median s | VictoriaMetrics, median s | VM / Prometheus |\n"
                  "|---|---|---|---|---|")
            for name, n, pm, vm in r["dashboards"]:
                print(f"| {name} | {n} | {pm:.2f} | {vm:.2f} | {vm / pm:.2f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
