"""What happens to a small Hermes fleet, minute by minute, and how Prometheus would have scraped it.

    s = Scenario(fleet=Fleet(("a:9464",), ("web_search",), ("hermes-3-70b",)), minutes=90,
                 base=Load(turns_fast=5, tool_calls=4, llm_requests=6), faults=(...,), events=(...,))
    truth = s.expand()                 # per-minute events and per-minute scrape state, per instance
    series = truth.input_series(job)   # promtool input_series in the a+bxn / _ / stale notation

A scenario is a fleet (instances, tools, models), a duration, a base load per instance (integer events
per minute) and faults that override part of the load over a window of minutes (a tool outage, LLM rate
limiting, a cost surge...). Availability events say when an instance restarts (counters reset), when
Prometheus misses its scrapes (gap), when it is down (crashed: up == 0, series stale, no events, counters
restart from zero when it is back) and when it vanishes from service discovery for good.

This module knows nothing about alert rules; `oracle.py` judges a scenario, `strategies.py` draws them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ... import catalogue as C
from ...build.text import le_value, num  # num: shortest exact literal (repr round-trips)

# A turn's duration, by class: each falls in one bucket of hermes_request_duration_seconds.
TURN_SECONDS = {"fast": 8.0, "slow": 45.0, "slower": 90.0, "very_slow": 250.0}
# A reasoning step's duration, by class: within 2 s, or in (10, 20] (slower than the default 10 s P95).
STEP_SECONDS = {"fast": 2.0, "slow": 20.0}
#: the step type the model's steps are recorded under (the step rules sum every type)
STEP_TYPE = "answer"

UP, GAP, DOWN, GONE = "up", "gap", "down", "gone"
STALE = "stale"


@dataclass(frozen=True)
class Fleet:
    instances: Tuple[str, ...]
    tools: Tuple[str, ...]
    models: Tuple[str, ...]


@dataclass(frozen=True)
class Load:
    """Events per minute on ONE instance (tool fields per tool, model fields per model)."""
    turns_fast: int = 0          # successful turns of 8 s
    turns_slow: int = 0          # successful turns of 45 s (slower than 30 s, within 60 s)
    turns_slower: int = 0        # successful turns of 90 s (slower than 60 s, within 120 s)
    turns_very_slow: int = 0     # successful turns of 250 s (slower than 120 s)
    turns_error: int = 0         # turns of 8 s that ended in error
    turns_interrupted: int = 0   # turns of 8 s the user interrupted
    tool_calls: int = 0          # successful calls per tool
    tool_failures: int = 0       # failed calls per tool, with status `tool_failure_status`
    tool_failure_status: str = "error"
    llm_requests: int = 0        # LLM API calls per model (failed ones included)
    llm_errors: int = 0          # failed calls per model, of type `llm_error_type`
    llm_error_type: str = "api_error"
    steps_fast: int = 0          # reasoning steps (LLM calls) of 2 s, per model
    steps_slow: int = 0          # reasoning steps of 20 s, per model
    prompt_tokens: int = 0       # per model
    completion_tokens: int = 0   # per model
    cost_usd: float = 0.0        # per model, USD per minute
    unpriced: bool = False       # the model has no price: its tokens count as unpriced, cost 0
    sessions_completed: int = 0
    sessions_failed: int = 0
    active_sessions: int = 0     # gauge


#: which fields a fault's target names: a tool, a model, an instance, or the whole fleet (None)
TOOL_FIELDS = {"tool_calls", "tool_failures", "tool_failure_status"}
MODEL_FIELDS = {"llm_requests", "llm_errors", "llm_error_type", "steps_fast", "steps_slow", "prompt_tokens",
                "completion_tokens", "cost_usd", "unpriced"}
INSTANCE_FIELDS = {"active_sessions"}


@dataclass(frozen=True)
class Fault:
    """From minute `start` to `end` (exclusive), `changes` override the load of `target` (a tool, a model
    or an instance, per field; None = every one). `kind` names it for people."""
    kind: str
    start: int
    end: int
    changes: Tuple[Tuple[str, object], ...]
    target: Optional[str] = None


@dataclass(frozen=True)
class Event:
    """Availability: kind is restart (at `start`), gap / down (from `start` to `end` exclusive) or gone
    (from `start` on), for one instance."""
    kind: str
    instance: str
    start: int
    end: int = 0


@dataclass(frozen=True)
class Scenario:
    fleet: Fleet
    minutes: int
    base: Load
    faults: Tuple[Fault, ...] = ()
    events: Tuple[Event, ...] = ()
    #: per instance, a factor on the base load (instances differ in traffic)
    scale: Tuple[int, ...] = ()

    def describe(self) -> str:
        """The scenario in words, for a failure report."""
        f = self.fleet
        scales = ", x".join(map(str, self.scale_of()))
        lines = [f"{self.minutes} minutes; instances {', '.join(f.instances)} (load x{scales}); "
                 f"tools {', '.join(f.tools)}; models {', '.join(f.models)}",
                 "base load per instance and minute: " + _load_words(self.base)]
        for x in self.faults:
            who = f" on {x.target}" if x.target else ""
            lines.append(f"minutes {x.start}-{x.end}: {x.kind}{who}: "
                         + ", ".join(f"{k}={v}" for k, v in x.changes))
        for e in self.events:
            when = f"minute {e.start}" if e.kind in ("restart", GONE) else f"minutes {e.start}-{e.end}"
            lines.append(f"{when}: {e.instance} {_EVENT_WORDS[e.kind]}")
        return "\n".join(lines)

    def scale_of(self) -> Tuple[int, ...]:
        return self.scale or (1,) * len(self.fleet.instances)

    def expand(self) -> "Truth":
        return Truth.of(self)


_EVENT_WORDS = {"restart": "restarts (counters reset)", GAP: "is not scraped (scrape gap)",
                DOWN: "is down (up == 0; restarts from zero afterwards)", GONE: "vanishes from service discovery"}


def _load_words(load: Load) -> str:
    default = Load()
    return ", ".join(f"{f.name}={getattr(load, f.name)}" for f in dataclasses.fields(Load)
                     if getattr(load, f.name) != getattr(default, f.name)) or "nothing"


Labels = Tuple[Tuple[str, str], ...]


@dataclass
class Truth:
    """The scenario minute by minute. For each instance: its state at each minute 0..N, and for each
    series (metric sample name, labels without job/instance) its events per minute (counters) or value
    (gauges). Minute 0 is the first scrape, when every counter is 0 (hermes-dash initialises them)."""
    scenario: Scenario
    states: Dict[str, List[str]]
    #: instance -> (sample name, labels) -> per-minute increments (index 1..N; index 0 is 0)
    counters: Dict[str, Dict[Tuple[str, Labels], List[float]]]
    #: instance -> (sample name, labels) -> per-minute value
    gauges: Dict[str, Dict[Tuple[str, Labels], List[float]]]
    #: instance -> minutes whose sample follows a counter reset (restart, or back from down)
    resets: Dict[str, List[int]] = field(default_factory=dict)
    _samples: Dict[Tuple[str, Tuple[str, Labels], bool], List[object]] = field(default_factory=dict, repr=False)

    @property
    def minutes(self) -> int:
        return self.scenario.minutes

    @classmethod
    def of(cls, s: Scenario) -> "Truth":
        n = s.minutes
        states = {i: [UP] * (n + 1) for i in s.fleet.instances}
        resets: Dict[str, List[int]] = {i: [] for i in s.fleet.instances}
        for e in s.events:
            st = states[e.instance]
            if e.kind == "restart":
                resets[e.instance].append(e.start)
            elif e.kind == GONE:
                for m in range(e.start, n + 1):
                    st[m] = GONE
            else:
                for m in range(e.start, min(e.end, n + 1)):
                    if st[m] != GONE:
                        st[m] = e.kind
                if e.kind == DOWN and e.end <= n and st[e.end] == UP:
                    resets[e.instance].append(e.end)
        counters: Dict[str, Dict[Tuple[str, Labels], List[float]]] = {}
        gauges: Dict[str, Dict[Tuple[str, Labels], List[float]]] = {}
        for idx, inst in enumerate(s.fleet.instances):
            scale = s.scale_of()[idx]
            cs: Dict[Tuple[str, Labels], List[float]] = {}
            gs: Dict[Tuple[str, Labels], List[float]] = {}
            for m in range(n + 1):
                running = states[inst][m] in (UP, GAP)
                for key, v in _events(s, inst, m, scale).items():
                    cs.setdefault(key, [0.0] * (n + 1))
                    if m > 0 and running:
                        cs[key][m] = v
                for key, v in _gauges(s, inst, m).items():
                    gs.setdefault(key, [0.0] * (n + 1))[m] = v if running else 0.0
            # every series is rendered, those that stay at zero too: hermes-dash initialises known label
            # values at zero, and rules such as the completion ratio rely on it (0 completed of N is 0%,
            # while a missing series would make the ratio empty and the alert blind)
            counters[inst] = cs
            gauges[inst] = gs
        return cls(s, states, counters, gauges, {i: sorted(set(r)) for i, r in resets.items()})

    # --- rendering -------------------------------------------------------------------------------------
    def samples(self, instance: str, key: Tuple[str, Labels], gauge: bool = False) -> List[object]:
        """What Prometheus stored for one series at each minute: a value, None (no sample) or STALE."""
        cached = self._samples.get((instance, key, gauge))
        if cached is None:
            cached = self._samples[(instance, key, gauge)] = self._render(instance, key, gauge)
        return cached

    def _render(self, instance: str, key: Tuple[str, Labels], gauge: bool) -> List[object]:
        st = self.states[instance]
        out: List[object] = []
        value = 0.0
        resets = set(self.resets[instance])
        series = (self.gauges if gauge else self.counters)[instance][key]
        for m in range(self.minutes + 1):
            if gauge:
                value = series[m]
            else:
                if m in resets:
                    value = 0.0
                value += series[m]
            if st[m] in (UP,):
                out.append(value)
            elif st[m] == GAP:
                out.append(None)
            else:  # down or gone: a stale marker at the first such minute, then nothing
                out.append(STALE if m == 0 or st[m - 1] in (UP, GAP) else None)
        return out

    def up_samples(self, instance: str) -> List[object]:
        out: List[object] = []
        st = self.states[instance]
        for m in range(self.minutes + 1):
            if st[m] == UP:
                out.append(1.0)
            elif st[m] == DOWN:
                out.append(0.0)
            elif st[m] == GAP:
                out.append(None)
            else:
                out.append(STALE if m == 0 or st[m - 1] != GONE else None)
        return out

    def all_series(self) -> Iterator[Tuple[str, Tuple[str, Labels], bool]]:
        for inst in self.scenario.fleet.instances:
            for key in self.counters[inst]:
                yield inst, key, False
            for key in self.gauges[inst]:
                yield inst, key, True

    def input_series(self, job: str) -> List[Dict[str, str]]:
        """promtool input_series for every series, plus `up`."""
        out = []
        for inst in self.scenario.fleet.instances:
            base = ((C.L_JOB, job), (C.L_INSTANCE, inst))
            out.append({"series": _selector(C.UP, base), "values": notation(self.up_samples(inst))})
            for gauge, series in ((False, self.counters[inst]), (True, self.gauges[inst])):
                for key in series:
                    out.append({"series": _selector(key[0], base + key[1]),
                                "values": notation(self.samples(inst, key, gauge))})
        return out


def _selector(name: str, labels: Sequence[Tuple[str, str]]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"


def notation(values: Sequence[object]) -> str:
    """promtool's expanding notation: runs of equal steps as a+bxn, missing samples as _xn, stale.

    promtool expands a+bxn by repeated addition; a value that addition does not reproduce exactly (a
    decimal fraction such as 0.4) raises ValueError, since a run ending a hair above the next run's start
    would read as a counter reset."""
    parts: List[str] = []
    i = 0
    while i < len(values):
        v = values[i]
        if v is None:
            j = i
            while j + 1 < len(values) and values[j + 1] is None:
                j += 1
            parts.append("_" if j == i else f"_x{j - i + 1}")
            i = j + 1
            continue
        if v == STALE:
            parts.append(STALE)
            i += 1
            continue
        # longest run with a constant step (within float noise)
        j = i
        step = None
        while j + 1 < len(values) and isinstance(values[j + 1], float):
            d = values[j + 1] - values[j]  # type: ignore[operator]
            if step is None:
                step = d
            elif abs(d - step) > 1e-9 * max(1.0, abs(step)):
                break
            j += 1
        if j == i:
            parts.append(num(v))  # type: ignore[arg-type]
        else:
            x = float(num(v))  # type: ignore[arg-type]
            b = float(num(abs(step))) * (1 if step >= 0 else -1)  # type: ignore[arg-type]
            for k in range(i, j + 1):
                if x != values[k]:
                    raise ValueError(f"{values[k]!r} at sample {k} is not reproduced exactly by "
                                     f"{num(v)}{'+' if b >= 0 else '-'}{num(abs(b))}x{j - i}")
                x += b
            parts.append(f"{num(v)}{'+' if step >= 0 else '-'}{num(abs(step))}x{j - i}")  # type: ignore[arg-type]
        i = j + 1
    return " ".join(parts)


def load_at(s: Scenario, m: int, target_tool: Optional[str] = None, target_model: Optional[str] = None,
            instance: Optional[str] = None) -> Load:
    """The load in minute `m` for one tool / model / instance: the base with the faults active then."""
    load = s.base
    for f in s.faults:
        if not f.start <= m < f.end:
            continue
        changes = {}
        for k, v in f.changes:
            target = target_tool if k in TOOL_FIELDS else target_model if k in MODEL_FIELDS else \
                instance if k in INSTANCE_FIELDS else None
            if f.target is None or f.target == target:
                changes[k] = v
        if changes:
            load = dataclasses.replace(load, **changes)
    return load


def _events(s: Scenario, inst: str, m: int, scale: int) -> Dict[Tuple[str, Labels], float]:
    """Events of minute `m` on `inst`, by series (every series is present, most at 0)."""
    ev: Dict[Tuple[str, Labels], float] = {}
    load = load_at(s, m, instance=inst)
    req = C.TURN_DURATION.name
    turns = {  # status -> {seconds: count}
        "success": {TURN_SECONDS["fast"]: load.turns_fast, TURN_SECONDS["slow"]: load.turns_slow,
                    TURN_SECONDS["slower"]: load.turns_slower, TURN_SECONDS["very_slow"]: load.turns_very_slow},
        "error": {TURN_SECONDS["fast"]: load.turns_error},
        "interrupted": {TURN_SECONDS["fast"]: load.turns_interrupted},
    }
    for status in C.TURN_STATUSES:
        counts = {sec: n * scale for sec, n in turns[status].items()}
        st = ((C.L_STATUS, status),)
        for le in C.TURN_BUCKETS:
            ev[(req + "_bucket", st + ((C.L_LE, le_value(le)),))] = sum(n for sec, n in counts.items() if sec <= le)
        ev[(req + "_bucket", st + ((C.L_LE, "+Inf"),))] = sum(counts.values())
        ev[(req + "_count", st)] = sum(counts.values())  # (no rule reads _sum: not rendered)
    for tool in s.fleet.tools:
        tl = load_at(s, m, target_tool=tool, instance=inst)
        for status in C.TOOL_STATUSES:
            n = tl.tool_calls if status == "success" else tl.tool_failures if status == tl.tool_failure_status else 0
            ev[(C.TOOL_CALLS.name, ((C.L_TOOL, tool), (C.L_STATUS, status)))] = n * scale
    for model in s.fleet.models:
        ml = load_at(s, m, target_model=model, instance=inst)
        ev[(C.LLM_REQUESTS.name, ((C.L_MODEL, model),))] = ml.llm_requests * scale
        for et in C.LLM_ERROR_TYPES:
            ev[(C.LLM_ERRORS.name, ((C.L_MODEL, model), (C.L_ERROR_TYPE, et)))] = \
                (ml.llm_errors if et == ml.llm_error_type else 0) * scale
        for tt, n in (("prompt", ml.prompt_tokens), ("completion", ml.completion_tokens)):
            ev[(C.TOKENS.name, ((C.L_MODEL, model), (C.L_TOKEN_TYPE, tt)))] = n * scale
            ev[(C.UNPRICED_TOKENS.name, ((C.L_MODEL, model), (C.L_TOKEN_TYPE, tt)))] = n * scale if ml.unpriced else 0
        ev[(C.COST.name, ((C.L_MODEL, model), (C.L_PROVIDER, "nous")))] = \
            0.0 if ml.unpriced else ml.cost_usd * scale
        steps = {STEP_SECONDS["fast"]: ml.steps_fast * scale, STEP_SECONDS["slow"]: ml.steps_slow * scale}
        st = ((C.L_MODEL, model), (C.L_STEP_TYPE, STEP_TYPE))
        for le in C.STEP_DURATION.buckets:
            ev[(C.STEP_DURATION.name + "_bucket", st + ((C.L_LE, le_value(le)),))] = \
                sum(n for sec, n in steps.items() if sec <= le)
        ev[(C.STEP_DURATION.name + "_bucket", st + ((C.L_LE, "+Inf"),))] = sum(steps.values())
    for outcome in C.SESSION_OUTCOMES:
        n = load.sessions_completed if outcome == "completed" else load.sessions_failed if outcome == "failed" else 0
        ev[(C.SESSIONS.name, ((C.L_OUTCOME, outcome),))] = n * scale
    return ev


def _gauges(s: Scenario, inst: str, m: int) -> Dict[Tuple[str, Labels], float]:
    return {(C.ACTIVE_SESSIONS.name, ()): float(load_at(s, m, instance=inst).active_sessions)}
