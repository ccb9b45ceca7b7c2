"""`python -m hermes_dash.scenarios`: generate scenarios, run them through promtool, check the mutants.

    python -m hermes_dash.scenarios                  # 300 scenarios (or $HERMES_DASH_SCENARIOS), seed 0
    python -m hermes_dash.scenarios --count 1000 --seed 7
    python -m hermes_dash.scenarios --only 42        # reproduce one scenario of the default set
    python -m hermes_dash.scenarios --mutants        # prove each broken rule set is caught
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from typing import List, Optional

from ..config import ConfigError, load_config
from . import draw_scenarios
from .mutants import MUTANTS, check_mutants_differ
from .runner import Report, explain, generate_and_run, run_fixtures, write_fixture

DEFAULT_RULES = ["rules/hermes_recording_rules.yml", "rules/hermes_alerts.yml"]
SHOW = 5  # failures explained in full


def _coverage(report: Report) -> List[str]:
    """Alerts the set never checks firing, or never checks quiet: the set proves nothing about them."""
    fire, quiet = {}, {}
    for fx in report.fixtures:
        for t in fx.test["promql_expr_test"]:
            for sel in t["expr"].split("\nor "):
                name = sel.split('alertname="', 1)[1].split('"', 1)[0]
                sev = sel.split('severity="', 1)[1].split('"', 1)[0]
                key = f"{name} ({sev})"
                fired = any(f'alertname="{name}"' in s["labels"] and f'severity="{sev}"' in s["labels"]
                            for s in t["exp_samples"])
                (fire if fired else quiet)[key] = (fire if fired else quiet).get(key, 0) + 1
    return [f"{k}: {fire.get(k, 0)} firing checks, {quiet.get(k, 0)} quiet checks"
            for k in sorted(set(fire) | set(quiet))], fire, quiet


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
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"hermes_dash.scenarios: {e}", file=sys.stderr)
        return 2
    for f in args.rules:
        if not os.path.exists(f):
            print(f"hermes_dash.scenarios: rule file {f} not found", file=sys.stderr)
            return 2
    start = time.monotonic()
    scenarios = draw_scenarios(args.count, args.seed)
    drawn = time.monotonic() - start
    if args.only is not None:
        scenarios = scenarios[args.only: args.only + 1]
    shutil.rmtree(args.out, ignore_errors=True)
    fixtures, report = generate_and_run(scenarios, cfg, args.rules, os.path.join(args.out, "rules"),
                                        jobs=args.jobs, batch=args.batch)
    if args.only is not None:
        for fx in fixtures:
            fx.index = args.only
    total = time.monotonic() - start
    lines, fire, quiet = _coverage(report)
    print(f"{len(fixtures)} scenarios (seed {args.seed}), {report.checks} checks of which "
          f"{report.firing_checks} expect an alert to fire: {len(report.failures)} disagreements; "
          f"{total:.1f} s ({drawn:.1f} s drawing with hypothesis, {report.seconds:.1f} s building and "
          f"running the fixtures), "
          f"{len(fixtures) / total:.1f} scenarios/s")
    if args.coverage:
        print("\n".join("  " + line for line in lines))
    for fx, diff in report.failures[:SHOW]:
        print(explain(fx, diff, args.seed), file=sys.stderr)
    if len(report.failures) > SHOW:
        print(f"... and {len(report.failures) - SHOW} more: {', '.join(f.path for f, _ in report.failures[SHOW:])}",
              file=sys.stderr)
    for e in report.errors:
        print(f"promtool error: {e}", file=sys.stderr)
    rc = 1 if report.failures or report.errors else 0
    if args.only is None:
        keys = {f"{a} ({s})" for a, s in _alert_keys(cfg)}
        never = sorted(k for k in keys if not fire.get(k)) + sorted(k for k in keys if not quiet.get(k))
        if never:
            print("alerts the scenarios never check both firing and quiet: " + ", ".join(never), file=sys.stderr)
            rc = rc or 1
    if args.mutants:
        rc = max(rc, _mutants(cfg, fixtures, args))
    return rc


def _alert_keys(cfg):
    from ..rules import alert_groups
    return [(r["alert"], r["labels"]["severity"]) for g in alert_groups(cfg) for r in g["rules"]]


def _mutants(cfg, fixtures, args) -> int:
    check_mutants_differ(cfg)
    rc = 0
    for i, m in enumerate(MUTANTS):
        d = os.path.join(args.out, f"mutant_{i}")
        files = m.write(cfg, d)
        for fx in fixtures:
            write_fixture(fx, d, files)
        report = run_fixtures(fixtures, jobs=args.jobs, batch=args.batch, stop_at_first=True)
        if report.failures:
            fx, diff = report.failures[0]
            first = diff.splitlines()[1].strip() if len(diff.splitlines()) > 1 else diff
            print(f"mutant caught: {m.name}: by {fx.test['name']} ({first[:120]})")
        else:
            print(f"MUTANT NOT CAUGHT: {m.name}: {len(fixtures)} scenarios all pass", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
