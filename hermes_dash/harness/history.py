"""Hours of simulated history in a Prometheus data directory: raw series, then recording rules.

    files = write_history(fleet, start, end, 60, "data", job="hermes-agent")   # TSDB blocks in data/
    backfill_recording_rules(start, end, ["rules/hermes_recording_rules.yml"], "data", workdir)
    # start Prometheus on data/ to see raw and recorded series

Raw samples go through `promtool tsdb create-blocks-from openmetrics`, recording rules through
`promtool tsdb create-blocks-from rules`, which queries a running Prometheus for what the rules read:
a group that reads another group's recorded series is backfilled in a later stage, after Prometheus is
restarted on the blocks of the earlier ones (it loads new blocks only when it starts).
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from typing import Callable, List, Optional, Sequence, Tuple

import yaml

from .servers import prometheus
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


def backfill_rules(url: str, start: float, end: float, rule_files: Sequence[str], out_dir: str,
                   eval_interval: str = "1m") -> List[str]:
    """Evaluate the recording rules over [start, end] against the Prometheus at `url` and write the
    resulting blocks under `out_dir` (not the served data directory: Prometheus, finding blocks appear
    under it while it runs, would load and compact them mid-write). Returns the block directories."""
    run_promtool(["tsdb", "create-blocks-from", "rules", f"--start={int(start)}", f"--end={int(end)}",
                  f"--url={url}", f"--output-dir={out_dir}", f"--eval-interval={eval_interval}", *rule_files],
                 "backfilling recording rules")
    return sorted(b for b in glob.glob(os.path.join(out_dir, "*")) if os.path.isdir(b))


def rule_stages(rule_files: Sequence[str]) -> List[List[dict]]:
    """The groups of `rule_files` in backfill stages: a group goes one stage after the latest stage of any
    group whose recorded series it reads (by name)."""
    groups = []
    for path in rule_files:
        with open(path, encoding="utf-8") as f:
            groups += (yaml.safe_load(f) or {}).get("groups") or []
    recorded = {r["record"]: i for i, g in enumerate(groups) for r in g.get("rules") or [] if "record" in r}
    stage: List[int] = []
    for i, g in enumerate(groups):
        exprs = " ".join(str(r.get("expr", "")) for r in g.get("rules") or [])
        deps = [recorded[n] for n in recorded if recorded[n] < i and re.search(rf"(?<![\w:]){re.escape(n)}(?![\w:])", exprs)]
        stage.append(max((stage[d] + 1 for d in deps), default=0))
    return [[g for g, st in zip(groups, stage) if st == k] for k in range(max(stage, default=-1) + 1)]


def backfill_recording_rules(start: float, end: float, rule_files: Sequence[str], data_dir: str, workdir: str,
                             eval_interval: str = "1m") -> List[str]:
    """Backfill every recording rule of `rule_files` over [start, end] into `data_dir`, stage by stage
    (`rule_stages`), each stage against a Prometheus started on the blocks so far. Returns the blocks."""
    config = os.path.join(workdir, "backfill-prometheus.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write("global: {}\n")
    blocks: List[str] = []
    for k, groups in enumerate(rule_stages(rule_files)):
        stage_file = os.path.join(workdir, f"backfill-stage-{k}.yml")
        with open(stage_file, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": groups}, f, sort_keys=False)
        out = tempfile.mkdtemp(prefix=f"hermes-rules-{k}-", dir=workdir)
        with prometheus(config, workdir, data_dir=data_dir, timeout=600) as prom:
            written = backfill_rules(prom.url, start, end, [stage_file], out, eval_interval)
        for b in written:  # Prometheus has stopped: it loads them at its next start
            dest = os.path.join(data_dir, os.path.basename(b))
            shutil.move(b, dest)
            blocks.append(dest)
        shutil.rmtree(out, ignore_errors=True)
    return blocks
