"""Hours of simulated history in a Prometheus data directory: raw series, then recording rules.

    files = write_history(fleet, start, end, 60, "data", job="hermes-agent")   # TSDB blocks in data/
    with prometheus(cfg_file, workdir, data_dir="data") as prom:
        backfill_rules(prom.url, start, end, ["rules/hermes_recording_rules.yml"], "data")
    # restart Prometheus on data/ to see the recorded series

Raw samples go through `promtool tsdb create-blocks-from openmetrics`, recording rules through
`promtool tsdb create-blocks-from rules` (which queries a running Prometheus for the raw data).
Prometheus loads new blocks when it starts.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from typing import Callable, List, Optional, Sequence, Tuple

from .simulate import Fleet


class HistoryError(RuntimeError):
    pass


def run_promtool(args: Sequence[str], what: str, timeout: float = 600) -> None:
    out = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise HistoryError(f"{what} failed: promtool {' '.join(args)}\n{(out.stdout + out.stderr)[-2000:]}")


def write_history(fleet: Fleet, start: float, end: float, step: float, data_dir: str, job: str,
                  faults_at: Sequence[Tuple[float, float, str]] = (),
                  progress: Optional[Callable[[int, int], None]] = None, chunk_steps: int = 120) -> int:
    """Simulate [start, end] scraped every `step` s and turn it into TSDB blocks under `data_dir`.
    Returns the number of OpenMetrics files imported."""
    os.makedirs(data_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hermes-history-") as tmp:
        files = fleet.backfill(start, end, step, tmp, job, faults_at=faults_at, progress=progress,
                               chunk_steps=chunk_steps)
        for f in files:
            run_promtool(["tsdb", "create-blocks-from", "openmetrics", f, data_dir], f"importing {os.path.basename(f)}")
    return len(files)


def backfill_rules(url: str, start: float, end: float, rule_files: Sequence[str], data_dir: str,
                   eval_interval: str = "1m") -> List[str]:
    """Evaluate the recording rules over [start, end] against the Prometheus at `url` and move the
    resulting blocks into `data_dir` (restart Prometheus to load them). Returns the block directories."""
    with tempfile.TemporaryDirectory(prefix="hermes-rules-") as tmp:
        run_promtool(["tsdb", "create-blocks-from", "rules", f"--start={int(start)}", f"--end={int(end)}",
                   f"--url={url}", f"--output-dir={tmp}", f"--eval-interval={eval_interval}", *rule_files],
                  "backfilling recording rules")
        blocks = []
        for b in sorted(glob.glob(os.path.join(tmp, "*"))):
            if os.path.isdir(b):
                dest = os.path.join(data_dir, os.path.basename(b))
                shutil.move(b, dest)
                blocks.append(dest)
    return blocks
