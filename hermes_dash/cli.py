"""The `hermes-dash` command: parse the arguments, call one function, map its errors to exit codes.

    hermes-dash build [--config F] [--root .] [--only dashboards] [--check]   # generated files
    hermes-dash export DIR                   # the files the package carries (no extra needed)
    hermes-dash serve [--dir D] [--address A] # the host's one exporter of every Hermes process (a daemon)
    hermes-dash lint [PATH ...]              # rule files and dashboards: PromQL, names, alert style
    hermes-dash docs --check|--write [FILE ...]   # the generated tables of README.md and docs/*.md
    GRAFANA_TOKEN=... hermes-dash push --url URL [--folder-uid F]        # upload the dashboards
    hermes-dash simulate [--instances 3] [--fault tool_outage]          # a simulated fleet's /metrics
    hermes-dash demo [--hours 6]             # simulator + Prometheus + Alertmanager on 127.0.0.1
    hermes-dash scenarios [--count 300] [--mutants]   # the generated promtool rule tests
    hermes-dash preview --prometheus URL --out DIR    # every panel to PNG + index.html, without Grafana
    hermes-dash metrics-table                # the catalogue as a Markdown table

Exit codes: 0 done; 1 the check failed (stale files, lint problems, a refused push, disagreeing
scenarios); 2 bad input (a bad config file, a missing extra or file). Nothing imports this module: the
work is done by the layers below it (``hermes_dash.build``, ``hermes_dash.harness``).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Callable, Dict, List, Optional

from .config import Config, ConfigError, load_config

#: third-party modules of each extra: a command that needs a missing one names the extra to install
_EXTRAS = {"grafanalib": "build", "promql_parser": "build", "jsonschema": "build", "matplotlib": "preview",
           "numpy": "preview", "hypothesis": "test"}


def _config(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def _build(args: argparse.Namespace) -> int:
    from .build import Stale, build
    try:
        files = build(_config(args), args.root, args.only, check=args.check)
    except Stale as e:
        for path in e.paths:
            print(f"{path} is stale: run `make generate`", file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(files)} files under {args.root}/: {', '.join(files)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .build.export import export
    files = export(args.dir)
    print(f"wrote {len(files)} files under {args.dir}/: dashboards/, rules/, deploy/ (the default config; "
          "`hermes-dash build --config FILE --root DIR` with the build extra for another)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .daemon import DaemonError, run_daemon
    try:
        return run_daemon(args.home, args.dir, args.address, args.compact_interval, _config(args))
    except DaemonError as e:
        print(f"hermes-dash serve: {e}", file=sys.stderr)
        return e.code


def _lint(args: argparse.Namespace) -> int:
    from .build.lint import lint_paths
    cluster = _config(args).selectors.cluster_label
    errors = lint_paths(args.paths, promtool=not args.no_promtool, extra_labels=frozenset({cluster} - {""}))
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"hermes-dash lint: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    return 0


def _docs(args: argparse.Namespace) -> int:
    from .build import write_all
    from .build.docs import render_docs
    paths = args.files or ["README.md", *sorted(glob.glob("docs/*.md"))]
    changed: Dict[str, str] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            old = f.read()
        new = render_docs(old, path)
        if new != old:
            changed[path] = new
    if args.check:
        for path in changed:
            print(f"{path}: generated sections are stale; run `make docs`", file=sys.stderr)
        return 1 if changed else 0
    write_all(".", changed)
    return 0


def _metrics_table(args: argparse.Namespace) -> int:
    from .build.docs import metrics_table
    sys.stdout.write(metrics_table())
    return 0


def _push(args: argparse.Namespace) -> int:
    from .build.push import PushError, push, read_token, redact, shown
    paths = sorted(glob.glob(os.path.join(args.dir, "*.json")))
    if not paths:
        print(f"hermes-dash push: no dashboards in {args.dir}/: run `make dashboards`", file=sys.stderr)
        return 2
    token = None
    try:
        token = read_token(args.token_env, args.token_file)
        answers = push(paths, args.url, token, args.folder_uid, timeout=args.timeout,
                       connect_timeout=args.connect_timeout, allow_http=args.allow_http,
                       warn=lambda m: print(f"hermes-dash push: warning: {m}", file=sys.stderr))
    except PushError as e:
        print(f"hermes-dash push: {redact(str(e), token)}", file=sys.stderr)
        return 1
    except Exception as e:  # anything else: still one line, and no traceback that could carry the token
        text = " ".join(redact(str(e), token).split())[:300]
        print(f"hermes-dash push: {shown(args.url)}: {type(e).__name__}: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hermes-dash push: interrupted", file=sys.stderr)
        return 130
    for path, a in zip(paths, answers):
        print(f"{os.path.basename(path)}: {a.get('status', 'ok')} {a.get('url', '')}".rstrip())
    return 0


def _preview(args: argparse.Namespace) -> int:
    from .harness.preview import run_preview
    return run_preview(args.dashboards, args.prometheus, args.out, start=args.start, end=args.end,
                       variables=args.var, scrape_interval=args.scrape_interval, width=args.width,
                       scale=args.scale, fail_on_no_data=args.fail_on_no_data)


def _seconds(text: str) -> float:
    """A timeout option: seconds above 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds above 0 and at most 3600, got {text!r}")
    return value


def _simulate(args: argparse.Namespace) -> int:
    from .harness.simulate import FleetSpec, run_simulator
    spec = FleetSpec(instances=args.instances, tools=args.tools, models=args.models,
                     sessions_per_minute=args.sessions_per_minute, seed=args.seed, noise=args.noise)
    return run_simulator(spec, first_port=args.first_port, faults=args.fault, seconds=args.seconds,
                         backfill_hours=args.backfill_hours, step=args.step, out=args.out, job=args.job)


def _demo(args: argparse.Namespace) -> int:
    from .harness.demo import DemoOptions, run_demo
    return run_demo(_config(args), DemoOptions(
        hours=args.hours, instances=args.instances, tools=args.tools, models=args.models,
        sessions_per_minute=args.sessions_per_minute, seed=args.seed, faults=tuple(args.fault),
        prometheus_port=args.prometheus_port, alertmanager_port=args.alertmanager_port, keep=args.keep,
        exit_after=args.exit_after, preview=None if args.no_preview else args.preview))


def _scenarios(args: argparse.Namespace) -> int:
    from .harness.scenarios.suite import SuiteOptions, run_suite
    return run_suite(_config(args), SuiteOptions(
        count=args.count, seed=args.seed, jobs=args.jobs, batch=args.batch, rules=tuple(args.rules),
        out=args.out, only=args.only, mutants=args.mutants, coverage=args.coverage))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hermes-dash", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def command(name: str, fn: Callable[[argparse.Namespace], int], help: str, config: bool = False):
        c = sub.add_parser(name, help=help, description=help)
        c.set_defaults(run=fn)
        if config:
            c.add_argument("--config", help="config file (default: $HERMES_DASH_CONFIG, else the defaults)")
        return c

    b = command("build", _build, "write the generated files: dashboards/, rules/, deploy/", config=True)
    b.add_argument("--root", default=".", help="directory that holds dashboards/, rules/, deploy/ (default: .)")
    b.add_argument("--only", nargs="+", choices=("dashboards", "rules", "deploy"), help="build only these")
    b.add_argument("--check", action="store_true", help="only check the files are current; write nothing")

    ex = command("export", _export, "write the dashboards, rules and deploy files the package carries (the "
                 "default config) into a directory; needs no extra")
    ex.add_argument("dir", help="output directory: dashboards/, rules/, deploy/ are written under it")

    sv = command("serve", _serve, "the one long-lived exporter of this host's Hermes processes: serves the sum of "
                 "their metrics directory on /metrics and archives the counts of exited processes", config=True)
    sv.add_argument("--home", help="Hermes' home whose plugins report here (default: $HERMES_HOME, else ~/.hermes)")
    sv.add_argument("--dir", help="the metrics directory (default: HOME/hermes-dash/metrics)")
    sv.add_argument("--address", help="HOST:PORT of /metrics (default: $HERMES_DASH_METRICS_ADDR, else "
                    "exporter.address of the config, 127.0.0.1:9464)")
    sv.add_argument("--compact-interval", type=_seconds, metavar="SECONDS",
                    help="archive exited processes' files this often (default: exporter.compact_interval_seconds, 30)")

    li = command("lint", _lint, "check rule files and dashboards: PromQL, catalogue names, alert style, and "
                 "Grafana's own linter and types", config=True)
    li.add_argument("paths", nargs="*", default=["rules", "dashboards"],
                    help="rule files (.yml), dashboards (.json) or directories of them (default: rules dashboards)")
    li.add_argument("--no-promtool", action="store_true", help="skip the promtool checks")

    d = command("docs", _docs, "check or rewrite the generated tables of the Markdown docs")
    d.add_argument("files", nargs="*", help="Markdown files (default: README.md docs/*.md)")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true", help="exit 1 naming each stale file")
    g.add_argument("--write", action="store_true", help="rewrite the stale sections")

    command("metrics-table", _metrics_table, "print the catalogue as a Markdown table")

    u = command("push", _push, "upload the dashboards to Grafana (POST /api/dashboards/db)")
    u.add_argument("--url", required=True, help="Grafana base URL")
    u.add_argument("--folder-uid", help="uid of the Grafana folder to put them in")
    u.add_argument("--dir", default="dashboards")
    u.add_argument("--token-env", default="GRAFANA_TOKEN", help="variable holding the token (default GRAFANA_TOKEN)")
    u.add_argument("--token-file", help="read the token from this file instead")
    u.add_argument("--connect-timeout", type=_seconds, default=5.0, metavar="SECONDS",
                   help="give up connecting (TCP, proxy, TLS) after this long (default 5)")
    u.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="give up when Grafana's whole answer to one dashboard takes longer (default 30)")
    u.add_argument("--allow-http", action="store_true",
                   help="allow plain http to another machine (the token travels in clear); "
                        "http to this machine is always allowed, https is always allowed")

    pv = command("preview", _preview, "render every panel of the dashboards from a live Prometheus to PNG and "
                 "index.html (no Grafana needed)")
    pv.add_argument("dashboards", nargs="*", default=["dashboards"],
                    help="dashboard JSON files or directories of them (default: dashboards)")
    pv.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    pv.add_argument("--out", required=True, help="output directory (one sub-directory per dashboard)")
    pv.add_argument("--from", dest="start", help="start: now-6h, unix seconds or ISO (default: the dashboard's)")
    pv.add_argument("--to", dest="end", help="end (default: the dashboard's, usually now)")
    pv.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="choose a variable's value (repeat for several values; All selects All)")
    pv.add_argument("--scrape-interval", default="15s", help="the datasource's scrape interval (default 15s)")
    pv.add_argument("--width", type=int, default=1920, help="dashboard width in px (default 1920)")
    pv.add_argument("--scale", type=float, default=1.0, help="image scale (2 for sharper images)")
    pv.add_argument("--fail-on-no-data", action="store_true", help="exit 1 when a panel has no data")

    from .harness.simulate import FAULTS  # the simulator needs only the runtime layer
    faults = [f for f in FAULTS if f != "crash"]
    s = command("simulate", _simulate, "a simulated Hermes fleet: live /metrics, or hours of history as OpenMetrics")
    s.add_argument("--instances", type=int, default=3)
    s.add_argument("--tools", type=int, default=5)
    s.add_argument("--models", type=int, default=2)
    s.add_argument("--sessions-per-minute", type=float, default=6.0, help="per agent")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--noise", type=float, default=0.01, help="background failure rate")
    s.add_argument("--fault", action="append", default=[], choices=faults)
    s.add_argument("--first-port", type=int, default=9464, help="agent i serves on 127.0.0.1:FIRST_PORT+i")
    s.add_argument("--seconds", type=float, help="serve this long, then stop (default: until Ctrl-C)")
    s.add_argument("--backfill-hours", type=float, help="write this much history instead of serving")
    s.add_argument("--step", type=int, default=60, help="seconds between simulated scrapes (backfill)")
    s.add_argument("--out", default="build/history", help="directory for the OpenMetrics files (backfill)")
    s.add_argument("--job", default="hermes-agent", help="job label of the backfilled series")

    dm = command("demo", _demo, "simulated fleet + Prometheus + Alertmanager on 127.0.0.1 (Ctrl-C stops)",
                 config=True)
    dm.add_argument("--hours", type=float, default=6.0, help="history to backfill (default 6)")
    dm.add_argument("--instances", type=int, default=3)
    dm.add_argument("--tools", type=int, default=5)
    dm.add_argument("--models", type=int, default=2)
    dm.add_argument("--sessions-per-minute", type=float, default=6.0)
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--fault", action="append", default=[], choices=faults,
                    help="switch a fault on in the live fleet (repeatable)")
    dm.add_argument("--prometheus-port", type=int, default=0, help="default: 9090 when free, else any free port")
    dm.add_argument("--alertmanager-port", type=int, default=0, help="default: 9093 when free, else any free port")
    dm.add_argument("--keep", help="keep the data in this directory (default: a temporary one)")
    dm.add_argument("--exit-after", type=float, help="stop by itself after this many seconds (for tests)")
    dm.add_argument("--preview", default="build/preview",
                    help="render the dashboards over the backfilled history here (default build/preview)")
    dm.add_argument("--no-preview", action="store_true", help="do not render the preview")

    sc = command("scenarios", _scenarios, "generated promtool rule tests: scenarios, oracle, mutants",
                 config=True)
    sc.add_argument("--count", type=int, default=int(os.environ.get("HERMES_DASH_SCENARIOS", "300")))
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="promtool processes at once")
    sc.add_argument("--batch", type=int, default=20, help="test files per promtool call")
    sc.add_argument("--rules", nargs="+", default=["rules/hermes_recording_rules.yml", "rules/hermes_alerts.yml"],
                    help="rule files under test (generated from --config)")
    sc.add_argument("--out", default="build/rule-fuzz", help="where the test files go (emptied first)")
    sc.add_argument("--only", type=int, help="run only this scenario index")
    sc.add_argument("--mutants", action="store_true", help="also check that every mutant rule set is caught")
    sc.add_argument("--coverage", action="store_true", help="print firing/quiet checks per alert")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    prog = f"hermes-dash {args.cmd}"
    try:
        return args.run(args)
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        extra = _EXTRAS.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"{prog}: needs the `{extra}` extra (missing module {e.name}): "
              f"pip install 'hermes-dash[{extra}]'", file=sys.stderr)
        return 2
    except _known_errors() as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1


def _known_errors() -> tuple:
    """Errors the layers raise for a refused check or request: one line, exit 1 (no traceback)."""
    errors = []
    for module, name in (("hermes_dash.build.push", "PushError"), ("hermes_dash.build.docs", "DocsError"),
                         ("hermes_dash.build.export", "ExportError"),
                         ("hermes_dash.harness.history", "HistoryError")):
        mod = sys.modules.get(module)
        if mod is not None:
            errors.append(getattr(mod, name))
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
