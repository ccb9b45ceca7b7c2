"""Deliberately broken rule sets: the generated suite must catch every one of them.

    for m in MUTANTS:
        files = m.write(cfg, directory)     # rule files of the broken variant
        # run the scenarios against `files`: at least one must disagree with the oracle

Each mutant is a defect someone could plausibly write or the seed chapter did write. A suite that passes
on any of them proves nothing about that defect. Mutants break rule *files*, so they work on the
serialised groups (plain dicts), not on the typed rules the generators build.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Sequence, Tuple

from ... import catalogue as C
from ...config import Config
from ...build.rules import ALERTS_FILE, RECORDING_FILE, alert_groups, as_file, recording_groups
from ...build.text import dump

SEED_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "rule_tests", "seed")


def _files(cfg: Config):
    """(recording groups, alert groups) of the correct rules, as the rule files hold them (dicts)."""
    return as_file(recording_groups(cfg))["groups"], as_file(alert_groups(cfg))["groups"]


@dataclass(frozen=True)
class Mutant:
    name: str
    #: (config, recording groups, alert groups) -> (recording groups, alert groups), or None for files
    change: Callable
    seed_files: bool = False
    #: scenario kinds that exercise the defect: their scenarios run first (a priority, not a filter)
    hint: Tuple[str, ...] = ()

    def write(self, cfg: Config, directory: str) -> List[str]:
        """Write the mutant's rule files into `directory`; return their paths."""
        if self.seed_files:
            return [os.path.abspath(os.path.join(SEED_DIR, f)) for f in ("seed_recording_rules.yml", "seed_alerts.yml")]
        rec, alerts = self.change(cfg, *_files(cfg))
        os.makedirs(directory, exist_ok=True)
        paths = [os.path.join(directory, RECORDING_FILE), os.path.join(directory, ALERTS_FILE)]
        for path, groups in zip(paths, (rec, alerts)):
            with open(path, "w", encoding="utf-8") as f:
                f.write(dump({"groups": groups}))
        return paths


def _alert(groups, name: str) -> dict:
    return next(r for g in groups for r in g["rules"] if r.get("alert") == name)


def _threshold_x3(cfg: Config, rec, alerts):
    """HermesToolErrorRate built from a tool_error_rate three times too high."""
    from dataclasses import replace
    wrong = replace(cfg, thresholds=replace(cfg.thresholds, tool_error_rate=cfg.thresholds.tool_error_rate * 3))
    good = _alert(alerts, C.A_TOOL_ERROR_RATE)
    good.update(_alert(_files(wrong)[1], C.A_TOOL_ERROR_RATE))
    return rec, alerts


def _step_threshold_of_turns(cfg: Config, rec, alerts):
    """HermesStepLatencyHigh written with the turn latency threshold (30 s) instead of the step one."""
    from dataclasses import replace
    wrong = replace(cfg, thresholds=replace(cfg.thresholds, step_p95_seconds=cfg.thresholds.latency_p95_seconds))
    _alert(alerts, C.A_STEP_LATENCY).update(_alert(_files(wrong)[1], C.A_STEP_LATENCY))
    return rec, alerts


def _for_dropped(cfg: Config, rec, alerts):
    del _alert(alerts, C.A_TOOL_ERROR_RATE)["for"]
    return rec, alerts


def _in_records(rec, old: str, new: str):
    """Every recording rule's expression with `old` replaced by `new`."""
    for g in rec:
        for r in g["rules"]:
            r["expr"] = r["expr"].replace(old, new)
    return rec


def _status_narrowed(cfg: Config, rec, alerts):
    return _in_records(rec, f'{C.L_STATUS}!="success"', f'{C.L_STATUS}="error"'), alerts


def _floor_removed(cfg: Config, rec, alerts):
    rule = _alert(alerts, C.A_TOKEN_SPIKE)
    rule["expr"] = rule["expr"].split("\nand on")[0]
    return rec, alerts


def _tokens_of_two_types(cfg: Config, rec, alerts):
    """The token rules count prompt and completion only, as before Hermes' cache and reasoning types."""
    return _in_records(rec, f"{C.TOKENS.name}{{", f'{C.TOKENS.name}{{{C.L_TOKEN_TYPE}=~"prompt|completion", '), alerts


def _sessions_of_one_platform(cfg: Config, rec, alerts):
    """The session rules (HermesTaskCompletionLow's) count the sessions of the CLI only."""
    return _in_records(rec, f"{C.SESSIONS.name}{{", f'{C.SESSIONS.name}{{{C.L_PLATFORM}="cli", '), alerts


def _absent_removed(cfg: Config, rec, alerts):
    for g in alerts:
        g["rules"] = [r for r in g["rules"] if r.get("alert") != C.A_METRICS_ABSENT]
    return rec, alerts


MUTANTS = (
    Mutant("the seed chapter's original rules", None, seed_files=True, hint=("tool timeouts", "token spike")),
    Mutant("HermesToolErrorRate threshold three times too high", _threshold_x3, hint=("tool outage",)),
    Mutant("`for` dropped from HermesToolErrorRate", _for_dropped, hint=("tool outage", "tool timeouts")),
    Mutant("HermesStepLatencyHigh compares with the turn latency threshold (30s)", _step_threshold_of_turns,
           hint=("slow LLM steps",)),
    Mutant('status!="success" narrowed to status="error"', _status_narrowed,
           hint=("tool timeouts", "tool calls blocked", "tool calls cancelled")),
    Mutant("HermesTokenSpike without its absolute floor", _floor_removed, hint=("token spike on trivial traffic",)),
    Mutant("HermesMetricsAbsent (the absent-target alert) removed", _absent_removed, hint=("down", "gone")),
    Mutant("token rules count prompt and completion only (cache and reasoning tokens dropped)", _tokens_of_two_types,
           hint=("token spike of cache reads",)),
    Mutant("HermesTaskCompletionLow judges CLI sessions only", _sessions_of_one_platform,
           hint=("task completion drop on one platform",)),
)


def prioritised(fixtures: Sequence, mutant: Mutant) -> List:
    """The fixtures whose scenario has a fault or event of one of the mutant's hint kinds, first."""
    def relevant(fx) -> bool:
        kinds = {f.kind for f in fx.scenario.faults} | {e.kind for e in fx.scenario.events}
        return bool(kinds & set(mutant.hint))
    return sorted(fixtures, key=lambda fx: (not relevant(fx), fx.index))


def check_mutants_differ(cfg: Config) -> None:
    """Each generated mutant really differs from the correct rules (a no-op mutant would prove nothing)."""
    good = dump(dict(zip("ab", _files(cfg))))
    for m in MUTANTS:
        if m.seed_files:
            continue
        rec, alerts = m.change(cfg, *_files(cfg))
        if dump({"a": rec, "b": alerts}) == good:
            raise AssertionError(f"mutant {m.name!r} changes nothing")
