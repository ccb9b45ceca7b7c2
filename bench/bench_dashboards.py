"""Cold-start time of `make dashboards`' build step: a fresh interpreter importing hermes-dash and
writing all six dashboards, against a bare `python -c pass` start measured in the same run.

    python bench/bench_dashboards.py [--runs 11]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=11)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        build = [sys.executable, "-m", "hermes_dash.cli", "build", "--only", "dashboards", "--root", out]
        bare = [sys.executable, "-c", "pass"]
        tb, tp = [], []
        for _ in range(a.runs):
            tp.append(timed(bare))
            tb.append(timed(build))
    mb, mp = statistics.median(tb), statistics.median(tp)
    print(f"| case | median s |\n|---|---|\n| python -c pass | {mp:.3f} |\n"
          f"| hermes-dash build (6 dashboards, cold) | {mb:.3f} |")
    print(f"build / bare interpreter start: {mb / mp:.1f}x; target < 2 s: {'met' if mb < 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
