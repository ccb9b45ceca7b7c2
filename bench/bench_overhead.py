"""What the plugin costs a real Hermes run: `hermes -z` (hermes-agent 0.19.0, the stub LLM of tests_hermes:
one turn of four LLM calls and three tool calls) with the plugin enabled against the same Hermes with no
plugin, interleaved in one run, per turn (one turn per run): wall time and CPU time (user + system of the
process, os.wait4). Medians and the ratio to the plugin-less baseline.

    python bench/bench_overhead.py [--runs 10] [--hermes-venv .venv-hermes] [--variants none,single,daemon]

Variants: `none` (plugins.enabled: []), `single` (the plugin serving its own /metrics), `daemon` (the
plugin writing into the directory of a running `hermes-dash serve`). Point --hermes-venv at the
.venv-hermes of another checkout to measure that checkout's plugin (`daemon` needs this one's).
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hermes_dash.harness.hermes import control, hermes_config, stub_llm
from hermes_dash.harness.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def run_once(hermes: str, env: dict, cwd: str) -> tuple:
    """(wall seconds, CPU seconds) of one `hermes -z` to its exit."""
    start = time.perf_counter()
    p = subprocess.Popen([hermes, "-z", "hello"], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0 or b"All done" not in out:
        raise RuntimeError(f"hermes -z failed ({p.returncode}): {out[-2000:].decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="runs of each variant (default 10)")
    ap.add_argument("--hermes-venv", default=str(ROOT / ".venv-hermes"))
    ap.add_argument("--variants", default="none,single,daemon")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    venv = Path(a.hermes_venv).resolve()
    variants = a.variants.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    with stub_llm(str(work)) as base:
        control(base, script="serial")
        return _measure(a, venv, variants, work, base)


def _measure(a, venv: Path, variants, work: Path, base: str) -> int:
    hermes, python = str(venv / "bin" / "hermes"), str(venv / "bin" / "python")
    daemon = None
    try:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "PROMETHEUS_MULTIPROC"))}
        envs = {}
        for v in variants:
            home = work / v
            home.mkdir()
            (home / "config.yaml").write_text(hermes_config(base, () if v == "none" else ("hermes_dash",)))
            envs[v] = dict(clean, HERMES_HOME=str(home), HERMES_DISABLE_LAZY_INSTALLS="1",
                           HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{free_port()}")
        if "daemon" in variants:
            daemon = subprocess.Popen([python, "-m", "hermes_dash.cli", "serve", "--home", envs["daemon"]["HERMES_HOME"],
                                       "--address", envs["daemon"]["HERMES_DASH_METRICS_ADDR"]],
                                      env=envs["daemon"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not (work / "daemon" / "hermes-dash" / "daemon.json").exists():
                if daemon.poll() is not None:
                    raise RuntimeError("hermes-dash serve did not start (is the plugin of --hermes-venv this checkout's?)")
                time.sleep(0.05)
        for v in variants:  # warm the page cache and Hermes' per-home first-run work
            run_once(hermes, envs[v], str(work))
        rng = random.Random(a.seed)
        walls = {v: [] for v in variants}
        cpus = {v: [] for v in variants}
        for _ in range(a.runs):
            order = list(variants)
            rng.shuffle(order)
            for v in order:
                wall, cpu = run_once(hermes, envs[v], str(work))
                walls[v].append(wall)
                cpus[v].append(cpu)
        base_wall, base_cpu = statistics.median(walls[variants[0]]), statistics.median(cpus[variants[0]])
        print(f"hermes -z, one turn per run (4 LLM calls, 3 tool calls), {a.runs} runs per variant, interleaved; "
              f"plugin from {venv}")
        print(f"{'variant':10} {'wall/turn s':>12} {'ratio':>7} {'CPU/turn s':>11} {'ratio':>7}")
        for v in variants:
            w, c = statistics.median(walls[v]), statistics.median(cpus[v])
            print(f"{v:10} {w:12.3f} {w / base_wall:6.3f}x {c:11.3f} {c / base_cpu:6.3f}x")
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
