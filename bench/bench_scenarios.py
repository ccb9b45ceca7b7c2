"""Generated rule tests through promtool: scenarios per second, against promtool running the hand-written
rule tests (a fixed workload) measured in the same run.

    python bench/bench_scenarios.py [--runs 3] [--count 100] [--full 300]

Each run draws `count` scenarios (seed 0), builds their fixtures in worker processes and runs them with
promtool in batches on every core, as `make test-rules` does. `--full` times one run of the default set
against the target of 300 scenarios in 60 s.
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hermes_dash.config import DEFAULT  # noqa: E402
from hermes_dash.harness.scenarios import draw_scenarios  # noqa: E402
from hermes_dash.harness.scenarios.runner import generate_and_run  # noqa: E402

RULES = [os.path.join(ROOT, "rules", f) for f in ("hermes_recording_rules.yml", "hermes_alerts.yml")]


def scenario_run(count: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        fixtures, report = generate_and_run(draw_scenarios(count, 0), DEFAULT, RULES, d, jobs=os.cpu_count() or 2)
        took = time.perf_counter() - start
    if report.failures or report.errors:
        sys.exit(f"disagreements during the benchmark: {len(report.failures)}")
    return took


def baseline_run() -> float:
    files = sorted(glob.glob(os.path.join(ROOT, "rule_tests", "*.yml")))
    start = time.perf_counter()
    subprocess.run(["promtool", "test", "rules", *files], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--full", type=int, default=300)
    a = p.parse_args(argv)
    if shutil.which("promtool") is None:
        sys.exit("promtool not found: run `make system-deps`")
    base, runs = [], []
    for _ in range(a.runs):
        base.append(baseline_run())
        runs.append(scenario_run(a.count))
    mb, mr = statistics.median(base), statistics.median(runs)
    full = scenario_run(a.full) if a.full else None
    print(f"| case | median s | scenarios/s |\n|---|---|---|\n"
          f"| promtool on rule_tests/*.yml (baseline) | {mb:.2f} | - |\n"
          f"| {a.count} generated scenarios | {mr:.2f} | {a.count / mr:.1f} |")
    if full is not None:
        print(f"| {a.full} generated scenarios (one run) | {full:.2f} | {a.full / full:.1f} |")
    print(f"{a.count} scenarios / baseline: {mr / mb:.1f}x on {os.cpu_count()} cores")
    if full is not None:
        print(f"target {a.full} scenarios in 60 s: {'met' if full < 60 else 'MISSED'} ({full:.1f} s)")


if __name__ == "__main__":
    main()
