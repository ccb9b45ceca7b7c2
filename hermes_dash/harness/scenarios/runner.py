"""Turn scenarios into promtool test files, run them in batches, and explain any disagreement.

    fixtures = [fixture(s, cfg, rules) for s in draw_scenarios(300, seed=0)]
    report = run_fixtures(fixtures, workdir, jobs=2)
    report.failures        # [(Fixture, promtool's FAILED block), ...]

A fixture asserts, at chosen minutes, exactly which alerts (with which labels) are firing according to
the oracle: `ALERTS{alertname=..., alertstate="firing", severity=...}` must return exactly the label
sets the oracle says fire, restricted to the label sets it is sure about.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from ... import catalogue as C
from ...config import Config
from ...build.rules import all_alert_rules
from .model import Scenario, Truth
from .oracle import Oracle

_PLAIN = re.compile(r"[\w:-]+")
#: minutes between checked evaluation times
CHECK_EVERY = 5
#: per alert, at most this many checked times with something firing, as many with nothing firing, and
#: twice as many around `for` boundaries (the last pending minute and the first firing one)
MAX_CHECKS = 4


@dataclass
class Fixture:
    index: int
    scenario: Scenario
    test: dict
    #: (alertname, severity) -> [checks expecting it to fire, checks expecting it quiet]
    coverage: Dict[Tuple[str, str], List[int]]
    name: str = ""
    path: str = ""

    @property
    def checks(self) -> int:
        return sum(f + q for f, q in self.coverage.values())

    @property
    def firing_checks(self) -> int:
        return sum(f for f, _ in self.coverage.values())


def alert_labels(cfg: Config) -> Dict[Tuple[str, str], Dict[str, str]]:
    """(alertname, severity) -> the labels the reference rules attach to that alert."""
    return {(a.name, a.severity): a.all_labels for a in all_alert_rules(cfg)}


def _label_string(labels: Dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _spread(items: List, n: int) -> List:
    if len(items) <= n:
        return items
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def checks_for(truth: Truth, cfg: Config) -> Tuple[List[dict], Dict[Tuple[str, str], List[int]]]:
    """promql_expr_test entries asserting which alerts fire, at minutes where the oracle is decisive:
    one query per minute, the union (`or`) of one selector per alert, restricted to the label sets the
    oracle is sure about. Returns the tests and, per alert, [firing checks, quiet checks]."""
    oracle = Oracle(truth, cfg)
    static = alert_labels(cfg)
    job = cfg.selectors.jobs[0]
    per_minute: Dict[int, Tuple[List[str], List[dict]]] = {}
    coverage: Dict[Tuple[str, str], List[int]] = {}
    for alert in oracle.conditions():
        name, severity = alert
        verdicts = {m: oracle.firing(alert, m) for m in range(1, truth.minutes + 1)}
        decided = []
        for m in range(CHECK_EVERY, truth.minutes + 1, CHECK_EVERY):
            known = {lb: v for lb, v in verdicts[m].items() if v is not None}
            if known:
                decided.append((m, verdicts[m], known))
        with_fire = [d for d in decided if any(d[2].values())]
        quiet = [d for d in decided if not any(d[2].values())]
        # `for` boundary pairs: the last minute an alert is pending (quiet) and the first it fires
        edges = []
        for m in range(2, truth.minutes + 1):
            flips = [lb for lb, v in verdicts[m].items() if v is True and verdicts[m - 1].get(lb) is False]
            if flips:
                for at in (m - 1, m):
                    known = {lb: v for lb, v in verdicts[at].items() if v is not None}
                    edges.append((at, verdicts[at], known))
        chosen = {d[0]: d for d in _spread(with_fire, MAX_CHECKS) + _spread(quiet, MAX_CHECKS)
                  + edges[:2 * MAX_CHECKS]}
        for m, verdict, known in sorted(chosen.values(), key=lambda d: d[0]):
            matchers = [f'{C.L_ALERTNAME}="{name}"', f'{C.L_ALERTSTATE}="{C.FIRING}"',
                        f'{C.L_SEVERITY}="{severity}"']
            if len(known) < len(verdict):  # only the label sets the oracle is sure about
                label = next(iter(next(iter(known))))[0]
                values = [dict(lb)[label] for lb in sorted(known)]
                assert all(_PLAIN.fullmatch(v) for v in values), values  # no regex metacharacters to escape
                matchers.append(f'{label}=~"{"|".join(values)}"')
            selectors, samples = per_minute.setdefault(m, ([], []))
            selectors.append(f"{C.ALERTS}{{{', '.join(matchers)}}}")
            fired = [lb for lb, fires in sorted(known.items()) if fires]
            for lb in fired:
                labels = {**static[alert], C.L_ALERTNAME: name, C.L_ALERTSTATE: C.FIRING, C.L_JOB: job,
                          **dict(lb)}
                samples.append({"labels": C.ALERTS + _label_string(labels), "value": 1})
            coverage.setdefault(alert, [0, 0])[0 if fired else 1] += 1
    tests = [{"expr": "\nor ".join(sel), "eval_time": f"{m}m", "exp_samples": samples}
             for m, (sel, samples) in sorted(per_minute.items())]
    return tests, coverage


def fixture(index: int, scenario: Scenario, cfg: Config) -> Fixture:
    truth = scenario.expand()
    exprs, coverage = checks_for(truth, cfg)
    digest = hashlib.sha1(repr(scenario).encode()).hexdigest()[:10]
    test = {"name": f"scenario {index} ({digest})", "interval": "1m",
            "input_series": truth.input_series(cfg.selectors.jobs[0]), "promql_expr_test": exprs}
    return Fixture(index, scenario, test, coverage, name=f"scenario_{index:04d}_{digest}")


def group_order(rule_files: Sequence[str]) -> List[str]:
    """Group names of the rule files, recording groups first (alerts read this evaluation's records)."""
    groups = []
    for f in rule_files:
        with open(f, encoding="utf-8") as fh:
            groups += (yaml.safe_load(fh) or {}).get("groups") or []
    recording = [g["name"] for g in groups if any("record" in r for r in g.get("rules") or [])]
    return recording + [g["name"] for g in groups if g["name"] not in recording]


def write_fixture(fx: Fixture, directory: str, rule_files: Sequence[str], relative: bool = False) -> str:
    """Write one promtool test file; rule_files are absolute unless `relative` (then relative to the file)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, fx.name + ".yml")
    files = [os.path.relpath(f, directory) if relative else os.path.abspath(f) for f in rule_files]
    doc = {"rule_files": files, "evaluation_interval": "1m", "group_eval_order": group_order(rule_files),
           "tests": [fx.test]}
    header = ("# Generated by hermes-dash scenarios from a hypothesis scenario; the expectations come from\n"
              "# the oracle (hermes_dash/harness/scenarios/oracle.py). The scenario:\n"
              + "".join(f"#   {line}\n" for line in fx.scenario.describe().splitlines()))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster on these big files
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + yaml.dump(doc, Dumper=dumper, sort_keys=False, width=1000))
    fx.path = path
    return path


# promtool spends a good part of a run collecting garbage and scheduling goroutines: a less eager
# collector and one OS thread per process (we run one process per core) cut its CPU time by about a third
_PROMTOOL_ENV = dict(os.environ, GOGC=os.environ.get("GOGC", "400"), GOMAXPROCS=os.environ.get("GOMAXPROCS", "1"))


def save_regression(fx: Fixture, directory: str, rule_files: Sequence[str], name: str) -> str:
    """Save a (shrunk) failing fixture as a regression test: rule files relative to it, so promtool runs
    it from the repository like the hand-written tests."""
    write_fixture(fx, directory, rule_files, relative=True)
    target = os.path.join(directory, name + ".yml")
    os.replace(fx.path, target)
    fx.path = target
    return target


@dataclass
class Report:
    fixtures: List[Fixture]
    failures: List[Tuple[Fixture, str]] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def checks(self) -> int:
        return sum(f.checks for f in self.fixtures)

    @property
    def firing_checks(self) -> int:
        return sum(f.firing_checks for f in self.fixtures)

    def coverage(self) -> Dict[Tuple[str, str], List[int]]:
        """Per alert over every fixture: [checks expecting it to fire, checks expecting it quiet]."""
        total: Dict[Tuple[str, str], List[int]] = {}
        for fx in self.fixtures:
            for alert, (f, q) in fx.coverage.items():
                t = total.setdefault(alert, [0, 0])
                t[0] += f
                t[1] += q
        return total


def _parse(output: str, by_path: Dict[str, Fixture]) -> Tuple[List[Tuple[Fixture, str]], List[str]]:
    failures, errors = [], []
    for block in output.split("Unit Testing:  ")[1:]:
        path, _, rest = block.partition("\n")
        fx = by_path.get(path.strip())
        if "SUCCESS" in rest.split("\n", 1)[0] or rest.strip().startswith("SUCCESS"):
            continue
        if fx is None:
            errors.append(block.strip())
        else:
            failures.append((fx, rest.strip()))
    return failures, errors


def run_fixtures(fixtures: List[Fixture], jobs: int = 2, batch: int = 25, promtool: str = "promtool",
                 stop_at_first: bool = False, write_to: Optional[Tuple[str, Sequence[str]]] = None) -> Report:
    """Run the fixtures with promtool, `batch` files per call, `jobs` calls at once. With `write_to`
    (directory, rule files) each batch is written just before it runs (so a run that stops at the first
    failure writes little)."""
    start = time.monotonic()
    report = Report(fixtures)
    by_path = {f.path: f for f in fixtures}
    batches = [fixtures[i:i + batch] for i in range(0, len(fixtures), batch)]

    def write_and_run(b: List[Fixture]) -> str:
        if write_to is not None:
            for fx in b:
                write_fixture(fx, write_to[0], write_to[1])
                by_path[fx.path] = fx
        return _run_batch(b, promtool)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending = {pool.submit(write_and_run, b) for b in batches}
        for fut in as_completed(pending):
            failures, errors = _parse(fut.result(), by_path)
            report.failures += failures
            report.errors += errors
            if stop_at_first and report.failures:
                for other in pending:
                    other.cancel()  # batches not started yet
                break
    report.failures.sort(key=lambda f: f[0].index)
    report.seconds = time.monotonic() - start
    return report


def _make(chunk: List[Tuple[int, Scenario]], cfg: Config) -> List[Fixture]:
    return [fixture(i, s, cfg) for i, s in chunk]


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def alert_inputs(rule_files: Sequence[str], directory: str) -> List[str]:
    """The rule files as the scenarios need them: every alert rule, and of the recording rules only those
    an alert reads, directly or through other records (written to `directory`; the groups keep their
    names, order and intervals). Records only dashboards read (the per-instance `hermes_instance:*` ones,
    the SLO dashboard's windows) change no alert; promtool would evaluate them every simulated minute."""
    docs = []
    for f in rule_files:
        with open(f, encoding="utf-8") as fh:
            docs.append((f, yaml.safe_load(fh) or {}))
    rules = [r for _, d in docs for g in d.get("groups") or [] for r in g.get("rules") or []]
    exprs = {r["record"]: r["expr"] for r in rules if "record" in r}
    needed: set = set()
    todo = [r["expr"] for r in rules if "alert" in r]
    while todo:
        for name in set(_NAME.findall(todo.pop())) & exprs.keys() - needed:
            needed.add(name)
            todo.append(exprs[name])
    os.makedirs(directory, exist_ok=True)
    out = []
    for f, d in docs:
        groups = []
        for g in d.get("groups") or []:
            kept = [r for r in g.get("rules") or [] if "alert" in r or r.get("record") in needed]
            if kept:
                groups.append(dict(g, rules=kept))
        path = os.path.join(directory, os.path.basename(f))
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"groups": groups}, fh, sort_keys=False, width=1000)
        out.append(path)
    return out


def generate_and_run(scenarios: Sequence[Scenario], cfg: Config, rule_files: Sequence[str], directory: str,
                     jobs: int = 2, batch: int = 20, promtool: str = "promtool",
                     indices: Optional[Sequence[int]] = None) -> Tuple[List[Fixture], Report]:
    """Build fixtures in `jobs` worker processes and run each batch through promtool as soon as it is
    written, so Python and promtool overlap. `indices` numbers the scenarios (default 0, 1, ...). The
    fixtures read the alert rules and the recording rules they depend on (`alert_inputs`)."""
    start = time.monotonic()
    rule_files = alert_inputs(rule_files, os.path.join(directory, "rule-files"))
    indexed = list(zip(indices if indices is not None else range(len(scenarios)), scenarios))
    chunks = [indexed[i:i + batch] for i in range(0, len(indexed), batch)]
    fixtures: List[Fixture] = []
    outputs = []
    with ProcessPoolExecutor(max_workers=jobs) as gen, ThreadPoolExecutor(max_workers=jobs) as run:
        for fut in [gen.submit(_make, c, cfg) for c in chunks]:
            made = fut.result()
            for fx in made:
                write_fixture(fx, directory, rule_files)
            fixtures += made
            outputs.append(run.submit(_run_batch, made, promtool))
        report = Report(fixtures)
        by_path = {f.path: f for f in fixtures}
        for out in outputs:
            failures, errors = _parse(out.result(), by_path)
            report.failures += failures
            report.errors += errors
    report.seconds = time.monotonic() - start
    return fixtures, report


def _run_batch(b: List[Fixture], promtool: str = "promtool") -> str:
    out = subprocess.run([promtool, "test", "rules", *(f.path for f in b)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=600, env=_PROMTOOL_ENV)
    return out.stdout


def first_difference(diff: str) -> str:
    """The first check of a promtool failure in one line: the time, the alerts expected and those got."""
    m = re.search(r'time: (\S+?),\s*exp: (.*?)\s*got: (.*?)(?:\n\s*\n|\Z)', diff, flags=re.S)
    if not m:
        return diff.strip().splitlines()[0] if diff.strip() else "?"
    def names(text: str) -> str:
        found = re.findall(r'alertname="(\w+)"[^}]*?severity="(\w+)"', text)
        return ", ".join(f"{a} ({s})" for a, s in found) or "nothing"
    return f"at {m.group(1)} expected {names(m.group(2))}, got {names(m.group(3))}"


def explain(fx: Fixture, diff: str, seed: Optional[int] = None) -> str:
    """A failure for people: the scenario in words, promtool's diff, and how to reproduce it."""
    how = [f"  promtool test rules {fx.path}"]
    if seed is not None:
        how.append(f"  .venv/bin/hermes-dash scenarios --seed {seed} --only {fx.index}")
    return (f"--- {fx.test['name']}: the rules disagree with the oracle\n"
            f"scenario:\n" + "".join(f"  {line}\n" for line in fx.scenario.describe().splitlines())
            + "promtool:\n" + "".join(f"  {line}\n" for line in diff.splitlines())
            + "reproduce:\n" + "\n".join(how) + "\n")
