"""The generated rule-test suite: draw scenarios, run them through promtool, check the mutants.

    hermes-dash scenarios                  # 300 scenarios (or $HERMES_DASH_SCENARIOS), seed 0
    hermes-dash scenarios --count 1000 --seed 7
    hermes-dash scenarios --only 42        # reproduce one scenario of the default set
    hermes-dash scenarios --mutants        # prove each broken rule set is caught

`run_suite(cfg, SuiteOptions(...))` is what that command calls; it prints the report and returns the
exit code.
"""
from __future__ import annotations

import copy
import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Optional, Tuple

from ...config import Config
from . import draw_scenarios
from .mutants import MUTANTS, check_mutants_differ, prioritised
from .runner import alert_labels, explain, first_difference, generate_and_run, run_fixtures

DEFAULT_RULES = ["rules/hermes_recording_rules.yml", "rules/hermes_alerts.yml"]
SHOW = 5  # failures explained in full


@dataclass(frozen=True)
class SuiteOptions:
    count: int = 300
    seed: int = 0
    #: promtool processes at once
    jobs: int = 2
    #: test files per promtool call
    batch: int = 20
    #: the rule files under test
    rules: Tuple[str, ...] = tuple(DEFAULT_RULES)
    #: where the test files go (emptied first)
    out: str = "build/rule-fuzz"
    #: run only this scenario index
    only: Optional[int] = None
    #: also check that every mutant rule set is caught
    mutants: bool = False
    #: print firing/quiet checks per alert
    coverage: bool = False


def run_suite(cfg: Config, args: SuiteOptions) -> int:
    """Run the suite against `args.rules` (generated from `cfg`); 0 when the rules and the oracle agree
    everywhere (and every mutant is caught), 1 otherwise, 2 when a rule file is missing."""
    for f in args.rules:
        if not os.path.exists(f):
            print(f"hermes-dash scenarios: rule file {f} not found", file=sys.stderr)
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
