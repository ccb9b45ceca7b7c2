"""What the dashboards cost to load at scale: 24 h of 50 agents x 30 tools x 4 models in a real Prometheus.

    python bench/bench_scale.py [--instances 50 --tools 30 --models 4 --hours 24] [--runs 3]

1. The simulated fleet writes 24 h of history (one scrape a minute) in worker processes; promtool turns it
   into TSDB blocks, and the recording rules are backfilled over it (`create-blocks-from rules`).
2. A real Prometheus on 127.0.0.1 serves it. Each dashboard's panel queries are sent as Grafana would for
   the default 6 h range (query_range, step 30 s, $__rate_interval 4m, variables at All); a dashboard's
   time is the sum over its panels, median of `--runs` passes.
3. Each panel that reads a recording rule is timed against the same panel computed from raw series (the
   rule's expression substituted, with the panel's matchers), and each recording rule against its own
   expression.
4. Series per instance are counted.
The baseline of the ratios is measured in the same run: a query of `up` over the same range.
"""
import argparse
import json
import math
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

from hermes_dash.config import DEFAULT  # noqa: E402
from hermes_dash.harness.history import backfill_recording_rules, run_promtool  # noqa: E402
from hermes_dash.build.lint import dashboard_exprs, grafana_expand  # noqa: E402
from hermes_dash.build.rules import RECORDING_FILE, recording_groups  # noqa: E402
from hermes_dash.harness.servers import prometheus  # noqa: E402
from hermes_dash.harness.simulate import Fleet, FleetSpec  # noqa: E402

JOB = DEFAULT.selectors.jobs[0]


def _part(args):
    spec, ports, start, end, out, agents, k = args
    return Fleet(spec, ports=ports).backfill(start, end, 60, out, JOB, agents=agents, prefix=f"w{k}")


def grafana(expr, dashboard):
    """As Grafana sends it for the default 6 h range (step 30 s, $__rate_interval 4m), variables at All."""
    return grafana_expand(expr, dashboard, "6h", "4m", "30s")


def raw_form(expr, rules):
    """`expr` with every recorded series R{matchers} replaced by R's own expression on raw series, the
    panel's extra matchers added to each of its selectors."""
    def repl(m):
        rule = rules[m.group(1)]
        extra = [x.strip() for x in m.group(2).split(",") if x.strip() and not x.strip().startswith("job=")]
        body = rule.replace('{job="%s"' % JOB, "{" + ", ".join(['job="%s"' % JOB] + extra))
        # a range over a recorded series becomes a subquery at the rules' evaluation interval
        window = f"[{m.group(3)[1:-1]}:1m]" if m.group(3) else ""
        return f"({body}){window}"
    names = "|".join(re.escape(n) for n in sorted(rules, key=len, reverse=True))
    return re.sub(rf"({names})\{{([^}}]*)\}}(\[\w+\])?", repl, expr)


def timed_query(prom, expr, start, end, step=30):
    t = time.perf_counter()
    result = prom.query_range(expr, start, end, step)
    return time.perf_counter() - t, result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=50)
    p.add_argument("--tools", type=int, default=30)
    p.add_argument("--models", type=int, default=4)
    p.add_argument("--hours", type=float, default=24)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = p.parse_args(argv)
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        sys.exit("promtool / prometheus not found: run `make system-deps`")
    spec = FleetSpec(instances=a.instances, tools=a.tools, models=a.models, seed=0)
    ports = [20000 + i for i in range(a.instances)]
    work = tempfile.mkdtemp(prefix="hermes-bench-scale-")
    data = os.path.join(work, "data")
    try:
        end = time.time() // 60 * 60
        start = end - a.hours * 3600
        t0 = time.perf_counter()
        parts = [list(range(k, a.instances, a.jobs)) for k in range(a.jobs)]
        with ProcessPoolExecutor(a.jobs) as pool:
            files = [f for fs in pool.map(_part, [(spec, ports, start, end, os.path.join(work, "om"), ag, k)
                                                  for k, ag in enumerate(parts)]) for f in fs]
        t1 = time.perf_counter()
        with ThreadPoolExecutor(a.jobs) as pool:
            list(pool.map(lambda f: run_promtool(["tsdb", "create-blocks-from", "openmetrics", f, data], f), files))
        shutil.rmtree(os.path.join(work, "om"))
        t2 = time.perf_counter()
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1m\n")
        backfill_recording_rules(start, end, [os.path.join(ROOT, "rules", RECORDING_FILE)], data, work)
        t3 = time.perf_counter()
        print(f"history: {a.instances} agents x {a.tools} tools x {a.models} models, {a.hours:g} h at 1/min: "
              f"simulated {t1 - t0:.0f} s, imported {t2 - t1:.0f} s, rules backfilled {t3 - t2:.0f} s")
        with prometheus(cfg, work, data_dir=data, timeout=600) as prom:
            qend = end
            qstart = qend - 6 * 3600
            _, per = timed_query(prom, f'count by (instance) ({{job="{JOB}", instance!=""}})', qend, qend, 60)
            counts = [float(s["values"][-1][1]) for s in per]
            base = statistics.median(timed_query(prom, f'up{{job="{JOB}"}}', qstart, qend)[0] for _ in range(5))
            rules_expr = {r.rule.name: r.expr for g in recording_groups(DEFAULT) for r in g.rules}
            panels = []  # (dashboard, panel, from rules s, from raw s)
            rows = []
            for path in sorted(os.listdir(os.path.join(ROOT, "dashboards"))):
                d = json.load(open(os.path.join(ROOT, "dashboards", path)))
                exprs = [grafana(e, d) for w, e in dashboard_exprs(d) if ": panel " in w]
                runs, slowest = [], ("", 0.0)
                for _ in range(a.runs):
                    total = 0.0
                    for e in exprs:
                        took, _ = timed_query(prom, e, qstart, qend)
                        total += took
                        if took > slowest[1]:
                            slowest = (e, took)
                    runs.append(total)
                rows.append((path[:-5], len(exprs), statistics.median(runs), slowest))
                for w, e in dashboard_exprs(d):
                    e = grafana(e, d)
                    if ": panel " in w and raw_form(e, rules_expr) != e:
                        rec = statistics.median(timed_query(prom, e, qstart, qend)[0] for _ in range(a.runs))
                        raw = statistics.median(timed_query(prom, raw_form(e, rules_expr), qstart, qend)[0]
                                                for _ in range(a.runs))
                        panels.append((w.split(": panel ")[0], w.split(": panel ")[1], rec, raw))
            rules = []
            for g in recording_groups(DEFAULT):
                for r in g.rules:
                    rec = statistics.median(timed_query(prom, f'{r.rule.name}{{job="{JOB}"}}', qstart, qend)[0]
                                            for _ in range(a.runs))
                    raw = statistics.median(timed_query(prom, r.expr, qstart, qend)[0] for _ in range(a.runs))
                    rules.append((r.rule.name, rec, raw))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nseries per instance: max {max(counts):.0f}, median {statistics.median(counts):.0f} "
          f"({len(counts)} instances; target <= 1000)")
    print(f"baseline: up over 6 h, median {base * 1000:.1f} ms\n")
    print("| dashboard | panels | total query time, median s | slowest panel (s) |\n|---|---|---|---|")
    for name, n, med, (e, took) in rows:
        print(f"| {name} | {n} | {med:.2f} {'(over 1 s)' if med > 1 else ''} | {took:.2f}: `{e[:70]}` |")
    print("\n| panel read from recording rules | from the rules, ms | from raw series, ms | raw / rules |\n"
          "|---|---|---|---|")
    for dash, panel, rec, raw in panels:
        print(f"| {dash}: {panel} | {rec * 1000:.1f} | {raw * 1000:.1f} | {raw / rec:.1f}x |")
    print("\n| recording rule | from the rule, ms | from raw series, ms | raw / rule |\n|---|---|---|---|")
    for name, rec, raw in rules:
        print(f"| `{name}` | {rec * 1000:.1f} | {raw * 1000:.1f} | {raw / rec:.1f}x |")
    slow = [r for r in rows if r[2] > 1]
    cheap = [f"{p[0]}: {p[1]}" for p in panels if p[3] / p[2] < 5]
    print(f"\ndashboards over 1 s: {len(slow)}; panels on recording rules less than 5x cheaper than raw: "
          f"{len(cheap)} ({', '.join(cheap) or 'none'}); series per instance over 1000: "
          f"{sum(c > 1000 for c in counts)}")
    return 0 if math.isfinite(base) else 1


if __name__ == "__main__":
    sys.exit(main())
