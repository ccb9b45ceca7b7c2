"""The `hermes-dash` command line.

    hermes-dash build [--config F] [--root .] [--check]   # write (or check) dashboards/, rules/, deploy/
    hermes-dash lint [PATH ...]          # check rule files and dashboards (PromQL, names, alert style)
    hermes-dash simulate [--instances 3] [--fault tool_outage]   # a simulated fleet serving /metrics
    hermes-dash simulate --backfill-hours 6 --out DIR             # ... or its history as OpenMetrics
    GRAFANA_TOKEN=... hermes-dash push --url URL [--folder-uid F]  # upload them to Grafana
    hermes-dash metrics-table            # the catalogue as a Markdown table
    hermes-dash readme --check README.md # fail when README's generated sections are stale
    hermes-dash readme --write README.md # rewrite them
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Dict, List, Optional

from . import catalogue as C

BEGIN = "<!-- BEGIN GENERATED: {name} (hermes-dash readme --write README.md; do not edit) -->"
END = "<!-- END GENERATED: {name} -->"


def metrics_table() -> str:
    """The catalogue as a Markdown table (the README's metric table)."""
    rows = ["| metric | type | unit | labels | help |", "|---|---|---|---|---|"]
    for m in C.METRICS:
        labels = []
        for label in m.labels:
            vals = m.label_values(label)
            labels.append(f"`{label}` ({', '.join(vals)})" if vals else f"`{label}` (bounded)")
        extra = f" buckets: {', '.join(f'{b:g}' for b in m.buckets)}" if m.buckets else ""
        rows.append(f"| `{m.name}` | {m.type} | {m.unit or '-'} | {'<br>'.join(labels) or '-'} | "
                    f"{m.help}{extra} |")
    return "\n".join(rows) + "\n"


def renames_table() -> str:
    rows = ["| seed name | hermes-dash | why |", "|---|---|---|"]
    rows += [f"| `{old}` | `{new}` | {why} |" for old, new, why in C.SEED_RENAMES]
    return "\n".join(rows) + "\n"


def alerts_table() -> str:
    """The generated alerts with their routing labels, at the default config (the README's alert table)."""
    from .config import DEFAULT
    from .rules import alert_groups
    rows = ["| alert | severity | team | for | summary (default config) |", "|---|---|---|---|---|"]
    for g in alert_groups(DEFAULT):
        for r in g["rules"]:
            rows.append(f"| [`{r['alert']}`](RUNBOOK.md#{r['alert'].lower()}) | {r['labels']['severity']} | "
                        f"{r['labels']['team']} | {r['for']} | {r['annotations']['summary']} |")
    return "\n".join(rows) + "\n"


def recording_table() -> str:
    """The catalogue's recording rules (the README's recording-rule table)."""
    rows = ["| recording rule | labels | meaning |", "|---|---|---|"]
    rows += [f"| `{r.name}` | {', '.join(r.labels)} | {r.help} |" for r in C.RECORDING_RULES]
    names = "<br>".join(f"`{C.slo_rule(sli, '<window>').name}`" for sli in C.SLIS)
    rows.append(f"| {names} | job | SLO error ratios (turns that failed; turns slower than the SLO latency), "
                "one per burn-rate window of the config: 5m, 30m, 1h, 2h, 6h, 1d, 3d by default. |")
    return "\n".join(rows) + "\n"


SECTIONS = {"metric-table": metrics_table, "seed-renames": renames_table, "alert-table": alerts_table,
            "recording-table": recording_table}


def render_readme(text: str, path: str = "README.md") -> str:
    """`text` with every generated section replaced by its current content."""
    for name, fn in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            raise SystemExit(f"{path}: generated section {name!r} not found (markers {begin!r} ... {end!r})")
        text = text[: i + len(begin)] + "\n" + fn() + text[j:]
    return text


def _cmd_readme(args: argparse.Namespace) -> int:
    with open(args.path, encoding="utf-8") as f:
        old = f.read()
    new = render_readme(old, args.path)
    if args.check:
        if new != old:
            print(f"{args.path}: generated sections are stale; run `make readme`", file=sys.stderr)
            return 1
        return 0
    if new != old:
        write_all(os.path.dirname(os.path.abspath(args.path)), {os.path.basename(args.path): new})
    return 0


def write_all(out_dir: str, files: Dict[str, str]) -> None:
    """Write every file (paths relative to `out_dir`), or none: all are staged as temporary files next
    to their destination first, then renamed into place."""
    staged = []
    try:
        for name, text in sorted(files.items()):
            dest = os.path.join(out_dir, name)
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(name)}.", dir=os.path.dirname(dest) or ".")
            staged.append((tmp, dest))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
    except BaseException:
        for tmp, _ in staged:
            os.unlink(tmp)
        raise
    for tmp, dest in staged:
        os.replace(tmp, dest)


def generated_files(cfg, kinds=None) -> Dict[str, str]:
    """Every generated file (dashboards, rules, deploy) as text, by path relative to the repository."""
    from .dashboards import render_all
    from .deploy import render_deploy_files
    from .rules import render_rule_files
    out: Dict[str, str] = {}
    for kind, render in (("dashboards", render_all), ("rules", render_rule_files), ("deploy", render_deploy_files)):
        if kinds is None or kind in kinds:
            out.update({f"{kind}/{name}": text for name, text in render(cfg).items()})
    return out


def config_or_report(path: Optional[str], prog: str):
    """The config at `path` (or $HERMES_DASH_CONFIG, or the defaults); None after printing `prog: FILE:
    key: problem` to stderr when it is bad (callers then exit 2)."""
    from .config import ConfigError, load_config
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None


def _cmd_build(args: argparse.Namespace) -> int:
    cfg = config_or_report(args.config, "hermes-dash build")
    if cfg is None:
        return 2
    files = generated_files(cfg, args.only)
    if args.check:
        stale = []
        for n, text in sorted(files.items()):
            path = os.path.join(args.root, n)
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                stale.append(path)
                print(f"{path} is stale: run `make generate`", file=sys.stderr)
        return 1 if stale else 0
    write_all(args.root, files)
    print(f"wrote {len(files)} files under {args.root}/: {', '.join(sorted(files))}")
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_paths
    errors = lint_paths(args.paths, promtool=not args.no_promtool)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"hermes-dash lint: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    import glob
    from .push import PushError, push, read_token
    paths = sorted(glob.glob(os.path.join(args.dir, "*.json")))
    if not paths:
        print(f"hermes-dash push: no dashboards in {args.dir}/: run `make dashboards`", file=sys.stderr)
        return 2
    try:
        token = read_token(args.token_env, args.token_file)
        answers = push(paths, args.url, token, args.folder_uid)
    except PushError as e:
        print(f"hermes-dash push: {e}", file=sys.stderr)
        return 1
    for path, a in zip(paths, answers):
        print(f"{os.path.basename(path)}: {a.get('status', 'ok')} {a.get('url', '')}".rstrip())
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from .simulate import Fleet, FleetSpec
    spec = FleetSpec(instances=args.instances, tools=args.tools, models=args.models,
                     sessions_per_minute=args.sessions_per_minute, seed=args.seed, noise=args.noise)
    ports = [args.first_port + i for i in range(args.instances)]
    fleet = Fleet(spec, ports=ports)
    for f in args.fault:
        fleet.set_fault(f)
    if args.backfill_hours:
        end = time.time() // args.step * args.step
        files = fleet.backfill(end - args.backfill_hours * 3600, end, args.step, args.out, args.job)
        print(f"wrote {len(files)} OpenMetrics files to {args.out}/; import each with "
              f"`promtool tsdb create-blocks-from openmetrics FILE DATA_DIR`")
        return 0
    try:
        fleet.serve()
    except OSError as e:
        print(f"hermes-dash simulate: cannot listen on 127.0.0.1:{args.first_port}..: {e.strerror}", file=sys.stderr)
        return 1
    for p in ports:
        print(f"http://127.0.0.1:{p}/metrics")
    print(f"faults on: {', '.join(args.fault) or 'none'}; Ctrl-C stops", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(args.seconds)
    fleet.stop()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="hermes-dash", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("metrics-table", help="print the catalogue as a Markdown table")
    b = sub.add_parser("build", help="write the generated files: dashboards/, rules/, deploy/")
    b.add_argument("--config", help="config file (default: $HERMES_DASH_CONFIG, else the defaults)")
    b.add_argument("--root", default=".", help="directory that holds dashboards/, rules/, deploy/ (default: .)")
    b.add_argument("--only", nargs="+", choices=("dashboards", "rules", "deploy"), help="build only these")
    b.add_argument("--check", action="store_true", help="only check the files are current; write nothing")
    li = sub.add_parser("lint", help="check rule files and dashboards: PromQL, catalogue names, alert style")
    li.add_argument("paths", nargs="*", default=["rules", "dashboards"],
                    help="rule files (.yml), dashboards (.json) or directories of them (default: rules dashboards)")
    li.add_argument("--no-promtool", action="store_true", help="skip the promtool checks")
    r = sub.add_parser("readme", help="check or rewrite README's generated sections")
    r.add_argument("path")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true")
    g.add_argument("--write", action="store_true")
    u = sub.add_parser("push", help="upload the dashboards to Grafana (POST /api/dashboards/db)")
    u.add_argument("--url", required=True, help="Grafana base URL")
    u.add_argument("--folder-uid", help="uid of the Grafana folder to put them in")
    u.add_argument("--dir", default="dashboards")
    u.add_argument("--token-env", default="GRAFANA_TOKEN", help="variable holding the token (default GRAFANA_TOKEN)")
    u.add_argument("--token-file", help="read the token from this file instead")
    from .simulate import FAULTS
    s = sub.add_parser("simulate", help="a simulated Hermes fleet: live /metrics, or hours of history as OpenMetrics")
    s.add_argument("--instances", type=int, default=3)
    s.add_argument("--tools", type=int, default=5)
    s.add_argument("--models", type=int, default=2)
    s.add_argument("--sessions-per-minute", type=float, default=6.0, help="per agent")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--noise", type=float, default=0.01, help="background failure rate")
    s.add_argument("--fault", action="append", default=[], choices=[f for f in FAULTS if f != "crash"])
    s.add_argument("--first-port", type=int, default=9464, help="agent i serves on 127.0.0.1:FIRST_PORT+i")
    s.add_argument("--seconds", type=float, help="serve this long, then stop (default: until Ctrl-C)")
    s.add_argument("--backfill-hours", type=float, help="write this much history instead of serving")
    s.add_argument("--step", type=int, default=60, help="seconds between simulated scrapes (backfill)")
    s.add_argument("--out", default="build/history", help="directory for the OpenMetrics files (backfill)")
    s.add_argument("--job", default="hermes-agent", help="job label of the backfilled series")
    args = p.parse_args(argv)
    if args.cmd == "simulate":
        return _cmd_simulate(args)
    if args.cmd == "push":
        return _cmd_push(args)
    if args.cmd == "build":
        return _cmd_build(args)
    if args.cmd == "lint":
        return _cmd_lint(args)
    if args.cmd == "metrics-table":
        sys.stdout.write(metrics_table())
        return 0
    return _cmd_readme(args)


if __name__ == "__main__":
    sys.exit(main())
