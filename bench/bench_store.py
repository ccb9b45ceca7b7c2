"""The metrics directory over 1,000 one-shot runs: with `hermes-dash serve` compacting it, against the same
runs in a directory nobody compacts (prometheus_client's multiprocess mode as it is: what main did), in
the same run. Each run is a new process (forked from a parent that imported the plugin, so a run costs
milliseconds, not Hermes' seconds) that registers the plugin, records one turn (one LLM call, one tool
call) and leaves by os._exit, as `hermes -z` does. After every run: the number of files in the directory,
their apparent size and the disk space they take; medians over the runs, and the end state.

    python bench/bench_store.py [--runs 1000] [--compact-interval 1] [--pace 0.02]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# Nothing of hermes_dash (hence prometheus_client) is imported at the top: prometheus_client reads
# PROMETHEUS_MULTIPROC_DIR when it is imported, and the first measurement sets it first.
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run() -> None:
    """In a forked child: one -z run of the plugin, then os._exit."""
    sys.argv = ["hermes", "-z", "hi"]
    try:
        from hermes_dash.harness.hermes import one_turn, register_plugin
        one_turn(register_plugin(), f"s{os.getpid()}")
    finally:
        os._exit(0)


def measure(d: Path):
    files = [d / n for n in os.listdir(d)]
    st = [f.stat() for f in files if f.is_file()]
    return len(st), sum(s.st_size for s in st), sum(s.st_blocks * 512 for s in st)


def runs(n: int, pace: float, d: Path):
    """n runs one after another; the directory measured after each."""
    import hermes_dash.plugin  # noqa: F401 - imported once, before the forks
    out = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            one_run()
        os.waitpid(pid, 0)
        time.sleep(pace)
        out.append(measure(d))
    return out


def served_sessions(port: int) -> float:
    text = urllib_get(f"http://127.0.0.1:{port}/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("hermes_sessions_total{"))


def urllib_get(url: str) -> str:
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def report(name: str, samples, n: int) -> None:
    count = statistics.median(s[0] for s in samples)
    apparent = statistics.median(s[1] for s in samples) / 1024
    disk = statistics.median(s[2] for s in samples) / 1024
    end = samples[-1]
    print(f"{name:28} {count:10.0f} {apparent:13.0f} {disk:10.0f} {end[0]:10d} {end[1] / 1024:12.0f} {end[2] / 1024:9.0f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--compact-interval", type=float, default=1.0)
    ap.add_argument("--pace", type=float, default=0.02, help="seconds between runs (default 0.02)")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "PROMETHEUS_MULTIPROC"))}
    try:
        # 1. no compaction: every process's files stay (PROMETHEUS_MULTIPROC_DIR, nobody archiving)
        plain = work / "plain"
        plain.mkdir(mode=0o700)
        os.environ.clear()
        os.environ.update(clean, HERMES_HOME=str(work / "home-plain"), PROMETHEUS_MULTIPROC_DIR=str(plain),
                          HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{free_port()}", HERMES_DASH_MODE="single")
        pid = os.fork()  # the env var must be set before prometheus_client is imported: a child does the runs
        if pid == 0:
            try:
                samples = runs(a.runs, a.pace, plain)
                (work / "plain.json").write_text(json.dumps(samples))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        plain_samples = json.loads((work / "plain.json").read_text())
        # 2. hermes-dash serve compacting every --compact-interval seconds
        home = work / "home"
        os.environ.clear()
        os.environ.update(clean, HERMES_HOME=str(home))
        port = free_port()
        daemon = subprocess.Popen([sys.executable, "-m", "hermes_dash.cli", "serve", "--home", str(home), "--address",
                                   f"127.0.0.1:{port}", "--compact-interval", str(a.compact_interval)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            marker = home / "hermes-dash" / "daemon.json"
            while not marker.exists():
                assert daemon.poll() is None, "hermes-dash serve did not start"
                time.sleep(0.05)
            d = home / "hermes-dash" / "metrics"
            samples = runs(a.runs, a.pace, d)
            deadline = time.monotonic() + 60
            while served_sessions(port) != a.runs and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2 * a.compact_interval)
            after = measure(d)
            sessions = served_sessions(port)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
        print(f"{a.runs} one-shot runs, {a.pace:g} s apart; hermes-dash serve compacting every {a.compact_interval:g} s")
        print(f"{'directory':28} {'files':>10} {'apparent KiB':>13} {'disk KiB':>10} {'files end':>10} "
              f"{'apparent end':>12} {'disk end':>9}   (median after each run; end state)")
        report("not compacted (before)", plain_samples, a.runs)
        report("hermes-dash serve (after)", samples, a.runs)
        print(f"after the last compaction: {after[0]} files, {after[1] / 1024:.0f} KiB apparent, {after[2] / 1024:.0f} KiB "
              f"on disk; the daemon serves {sessions:.0f} sessions of {a.runs} runs")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
