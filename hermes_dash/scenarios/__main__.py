"""`python -m hermes_dash.scenarios`: generate scenarios, run them through promtool, check the mutants.

    python -m hermes_dash.scenarios                  # 300 scenarios (or $HERMES_DASH_SCENARIOS), seed 0
    python -m hermes_dash.scenarios --count 1000 --seed 7
    python -m hermes_dash.scenarios --only 42        # reproduce one scenario of the default set
    python -m hermes_dash.scenarios --mutants        # prove each broken rule set is caught
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import time
from typing import List, Optional

from ..cli import config_or_report
from . import draw_scenarios
from .mutants import MUTANTS, check_mutants_differ, prioritised
from .runner import alert_labels, explain, first_difference, generate_and_run, run_fixtures

DEFAULT_RULES = ["rules/hermes_recording_rules.yml", "rules/hermes_alerts.yml"]
SHOW = 5  # failures explained in full


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hermes_dash.scenarios", description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=int(os.environ.get("HERMES_DASH_SCENARIOS", "300")))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="promtool processes at once")
    p.add_argument("--batch", type=int, default=20, help="test files per promtool call")
    p.add_argument("--config", help="config file the rules were generated from (default: the defaults)")
    p.add_argument("--rules", nargs="+", default=DEFAULT_RULES, help="rule files under test")
    p.add_argument("--out", default="build/rule-fuzz", help="where the test files go (emptied first)")
    p.add_argument("--only", type=int, help="run only this scenario index")
    p.add_argument("--mutants", action="store_true", help="also check that every mutant rule set is caught")
    p.add_argument("--coverage", action="store_true", help="print firing/quiet checks per alert")
    args = p.parse_args(argv)
    cfg = config_or_report(args.config, "hermes_dash.scenarios")
    if cfg is None:
        return 2
    for f in args.rules:
        if not os.path.exists(f):
            print(f"hermes_dash.scenarios: rule file {f} not found", file=sys.stderr)
            return 2
    start = time.monotonic()
    scenarios = draw_scenarios(args.count, args.seed)
    drawn = time.monotonic() - start
    indices = list(range(len(scenarios)))
    if args.only is not None:
        scenarios, indices = scenarios[args.only: args.only + 1], [args.only]
    shutil.rmtree(args.out, ignore_errors=True)
    fixtures, report = generate_and_run(scenarios, cfg, args.rules, os.path.join(args.out, "rules"),
                                        jobs=args.jobs, batch=args.batch, indices=indices)
    total = time.monotonic() - start
    coverage = report.coverage()
    print(f"{len(fixtures)} scenarios (seed {args.seed}), {report.checks} checks of which "
          f"{report.firing_checks} expect an alert to fire: {len(report.failures)} disagreements; "
          f"{total:.1f} s ({drawn:.1f} s drawing with hypothesis, {report.seconds:.1f} s building and "
          f"running the fixtures), "
          f"{len(fixtures) / total:.1f} scenarios/s")
    if args.coverage:
        for (name, sev), (f, q) in sorted(coverage.items()):
            print(f"  {name} ({sev}): {f} firing checks, {q} quiet checks")
    for fx, diff in report.failures[:SHOW]:
        print(explain(fx, diff, args.seed), file=sys.stderr)
    if len(report.failures) > SHOW:
        print(f"... and {len(report.failures) - SHOW} more: {', '.join(f.path for f, _ in report.failures[SHOW:])}",
              file=sys.stderr)
    for e in report.errors:
        print(f"promtool error: {e}", file=sys.stderr)
    rc = 1 if report.failures or report.errors else 0
    if args.only is None:  # a set that never expects an alert to fire (or to stay quiet) proves nothing about it
        never = [f"{a} ({s})" for a, s in alert_labels(cfg) if 0 in coverage.get((a, s), [0, 0])]
        if never:
            print("alerts the scenarios never check both firing and quiet: " + ", ".join(never), file=sys.stderr)
            rc = rc or 1
    if args.mutants:
        rc = max(rc, _mutants(cfg, fixtures, args))
    return rc


def _mutants(cfg, fixtures, args) -> int:
    """Run the same fixtures against each broken rule set; each must make at least one disagree."""
    check_mutants_differ(cfg)
    rc = 0
    for i, m in enumerate(MUTANTS):
        d = os.path.join(args.out, f"mutant_{i}")
        files = m.write(cfg, d)
        copies = [copy.copy(fx) for fx in prioritised(fixtures, m)]
        start = time.monotonic()
        report = run_fixtures(copies, jobs=args.jobs, batch=args.batch, stop_at_first=True, write_to=(d, files))
        took = time.monotonic() - start
        if report.failures:
            fx, diff = report.failures[0]
            print(f"mutant caught: {m.name}: scenario {fx.index}, {first_difference(diff)} ({took:.1f} s)")
        else:
            print(f"MUTANT NOT CAUGHT: {m.name}: all {len(fixtures)} scenarios agree with it", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
