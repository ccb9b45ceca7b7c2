"""`make demo`: a simulated fleet, Prometheus and Alertmanager on 127.0.0.1 with the generated config.

    hermes-dash demo [--hours 6] [--instances 3] [--fault tool_outage ...]

It backfills `--hours` of history (a progress line while it does), evaluates the recording rules over
it, then starts Prometheus (the generated rules, scraping the live simulator) and Alertmanager (the
generated routing and inhibition; the receivers post to a console logger here instead of Slack and
PagerDuty), prints the URLs, and runs until Ctrl-C, which stops everything. Nothing leaves loopback.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import yaml

from .. import catalogue as C
from ..build import generated_files, write_all
from ..build.deploy import alertmanager_config, prometheus_config
from ..build.rules import RECORDING_FILE
from ..config import Config, config_from_mapping
from .history import HistoryError, backfill_recording_rules, write_history
from .servers import WebhookReceiver, alertmanager, free_port, prometheus
from .simulate import Fleet, FleetSpec


def _print_notification(receiver: str, body: dict) -> None:
    """One line per alert of an Alertmanager notification."""
    for a in body.get("alerts", []):
        lb = a["labels"]
        extra = ", ".join(f"{k}={v}" for k, v in sorted(lb.items())
                          if k not in (C.L_ALERTNAME, C.L_SEVERITY, C.L_TEAM, C.L_JOB))
        print(f"  -> {receiver}: {a['status']} {lb[C.L_ALERTNAME]} ({lb[C.L_SEVERITY]})"
              + (f" {extra}" if extra else ""), flush=True)


def _progress(n: int, total: int) -> None:
    if n % 20 == 0 or n == total:
        sys.stderr.write(f"\rbackfilling history: {n}/{total} scrapes ({100 * n // total}%)")
        sys.stderr.flush()
        if n == total:
            sys.stderr.write("\n")


@dataclass(frozen=True)
class DemoOptions:
    #: hours of history to backfill
    hours: float = 6.0
    instances: int = 3
    tools: int = 5
    models: int = 2
    sessions_per_minute: float = 6.0
    seed: int = 0
    #: faults switched on in the live fleet
    faults: Tuple[str, ...] = ()
    #: 0: 9090 / 9093 when free, else any free port
    prometheus_port: int = 0
    alertmanager_port: int = 0
    #: keep the data in this directory (default: a temporary one)
    keep: Optional[str] = None
    #: stop by itself after this many seconds (tests)
    exit_after: Optional[float] = None
    #: render every dashboard's panels over the backfilled history here (None: no preview)
    preview: Optional[str] = "build/preview"


def _preview(cfg: Config, url: str, work: str, out: str, start: float, end: float) -> str:
    """Render the dashboards of `cfg` over [start, end] of the backfilled history (one scrape a minute);
    the index page's path, or why there is none."""
    try:
        from .preview import render_all
    except ImportError as e:  # the preview extra (matplotlib) is not installed
        return f"not rendered ({e.name} missing: pip install 'hermes-dash[preview]')"
    write_all(work, generated_files(cfg, ("dashboards",)))
    files = sorted(os.path.join(work, "dashboards", f) for f in os.listdir(os.path.join(work, "dashboards")))
    reports = render_all(files, url, out, start=start, end=end, scrape_interval=60)
    empty = sum(len(r.no_data) for r in reports)
    return f"{os.path.join(out, 'index.html')} ({len(reports)} dashboards, {empty} panels without data)"


def run_demo(base: Config, a: DemoOptions) -> int:
    """Backfill, serve, print the URLs, and run until Ctrl-C (or `exit_after`); the exit code."""
    sim_ports = [free_port(9464 + i) for i in range(a.instances)]
    prom_port, am_port = a.prometheus_port or free_port(9090), a.alertmanager_port or free_port(9093)
    work = a.keep or tempfile.mkdtemp(prefix="hermes-dash-demo-")
    os.makedirs(work, exist_ok=True)
    raw = {"prometheus": {"targets": [f"127.0.0.1:{p}" for p in sim_ports],
                          "alertmanagers": [f"127.0.0.1:{am_port}"]}}
    cfg = dataclasses.replace(base, prometheus=config_from_mapping(raw).prometheus)
    write_all(work, generated_files(cfg, ("rules",)))
    with open(os.path.join(work, "prometheus.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(prometheus_config(cfg, rules_dir="rules"), f)
    console = WebhookReceiver(_print_notification)
    with open(os.path.join(work, "alertmanager.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(alertmanager_config(cfg, webhook_url=console.url), f)
    spec = FleetSpec(instances=a.instances, tools=a.tools, models=a.models,
                     sessions_per_minute=a.sessions_per_minute, seed=a.seed)
    data = os.path.join(work, "data")
    end = time.time() // 60 * 60
    start = end - a.hours * 3600
    try:
        write_history(Fleet(spec, ports=sim_ports), start, end, 60, data, cfg.selectors.jobs[0], progress=_progress)
        sys.stderr.write("evaluating the recording rules over the history...\n")
        backfill_recording_rules(start, end, [os.path.join(work, "rules", RECORDING_FILE)], data, work)
    except HistoryError as e:
        print(f"hermes-dash demo: {e}", file=sys.stderr)
        return 1
    fleet = Fleet(spec, ports=sim_ports)
    for fault in a.faults:
        fleet.set_fault(fault)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        fleet.serve()
        stack.callback(fleet.stop)
        stack.callback(console.close)
        am = stack.enter_context(alertmanager(os.path.join(work, "alertmanager.yml"), work, port=am_port))
        prom = stack.enter_context(prometheus(os.path.join(work, "prometheus.yml"), work, port=prom_port,
                                              data_dir=data))
        print(f"Prometheus:   {prom.url}  (rules: {prom.url}/rules, alerts: {prom.url}/alerts)")
        print(f"Alertmanager: {am.url}")
        for p in sim_ports:
            print(f"agent:        http://127.0.0.1:{p}/metrics")
        print(f"history: {a.hours:g} h backfilled in {data}; faults on: {', '.join(a.faults) or 'none'}")
        if a.preview:
            print(f"preview:      {_preview(cfg, prom.url, work, a.preview, max(start, end - 6 * 3600), end)}")
        print("Grafana: add a Prometheus datasource named Prometheus at the URL above, import dashboards/*.json")
        print("alert notifications are printed below; Ctrl-C stops everything", flush=True)
        stop.wait(a.exit_after)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("stopped: simulator, Prometheus and Alertmanager", flush=True)
    return 0
