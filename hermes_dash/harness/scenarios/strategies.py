"""Hypothesis strategies that draw scenarios: a small fleet and what happens to it.

    from hermes_dash.harness.scenarios.strategies import scenarios
    @given(scenarios())
    def test_x(s): ...

Scenario kinds (one fault each, drawn with a start and a length): steady traffic (no fault), traffic
ramps (the load steps up several times), tool outages, tool timeouts, cancelled or blocked tool calls,
LLM rate limiting, latency surges, slow LLM steps of one model, failing turns, cost surges, token spikes on large and on trivial
traffic (0.1 tokens/s jumping to 0.5), unpriced models, dropping task completion, sessions near
capacity, no traffic at all; and
availability events: instance restarts (counters reset), scrape gaps, instances down, instances that
vanish. Values are drawn from small sets that sit clear of the default thresholds on both sides; the
oracle abstains where a value lands within its margin anyway. Dollar amounts are binary fractions
(0.0625, 0.375, 2**-10): promtool expands `a+bxn` by repeated addition, and only such values add up
exactly — 0.4 added 38 times is not 15.2, and the drop to 15.2 would look like a counter reset.

To add a kind: write a function `_kind(draw, fleet, minutes) -> Fault` (or a tuple of faults that belong
together) below and add it to `KINDS`; the stratified default set then gives it its share of scenarios.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

from hypothesis import strategies as st

from .model import DOWN, GAP, GONE, Event, Fault, Fleet, Load, Scenario

INSTANCES = ("agent-0:9464", "agent-1:9464", "agent-2:9464")
TOOLS = ("web_search", "terminal", "read_file")
MODELS = ("hermes-3-70b", "hermes-3-8b")
MINUTES = (30, 50, 80)


def _window(draw, minutes: int) -> Tuple[int, int]:
    start = draw(st.integers(min_value=2, max_value=minutes - 8))
    length = draw(st.sampled_from((4, 8, 12, 20, 35, 60)))
    return start, min(minutes + 1, start + length)


def _tool_failures(status: str, kind: str):
    def draw_fault(draw, fleet: Fleet, minutes: int) -> Fault:
        start, end = _window(draw, minutes)
        calls = draw(st.sampled_from((0, 1, 4, 10, 20)))
        failures = draw(st.sampled_from((1, 2, 5)))
        return Fault(kind, start, end, (("tool_calls", calls), ("tool_failures", failures),
                                        ("tool_failure_status", status)), draw(st.sampled_from(fleet.tools)))
    return draw_fault


def _rate_limit(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    errors = draw(st.sampled_from((1, 2, 5, 10)))
    requests = draw(st.sampled_from((errors, errors * 2, errors * 4, 40)))
    changes = (("llm_requests", requests), ("llm_errors", errors), ("llm_error_type", "rate_limit"))
    return Fault("LLM rate limiting", start, end, changes, draw(st.sampled_from(fleet.models)))


def _latency_surge(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("latency surge", start, end, (("turns_slow", draw(st.sampled_from((0, 1, 3, 10)))),
                                               ("turns_slower", draw(st.sampled_from((0, 1, 4, 10)))),
                                               ("turns_very_slow", draw(st.sampled_from((0, 1, 2, 5))))))


def _slow_steps(draw, fleet, minutes):
    """One model's steps slow down: 1-5 steps of 20 s a minute among 0-60 fast ones (2% to 100% slow)."""
    start, end = _window(draw, minutes)
    return Fault("slow LLM steps", start, end, (("steps_fast", draw(st.sampled_from((0, 4, 19, 60)))),
                                                ("steps_slow", draw(st.sampled_from((1, 2, 5))))),
                 draw(st.sampled_from(fleet.models)))


def _turn_errors(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("turns failing", start, end, (("turns_error", draw(st.sampled_from((1, 2, 5, 10)))),))


def _cost_surge(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("cost surge", start, end, (("cost_usd", draw(st.sampled_from((1.0, 2.5, 6.0, 15.0, 40.0, 100.0)))),),
                 draw(st.sampled_from(fleet.models)))


def _token_spike(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    # large: 12,000 tokens/min is 200/s; trivial: 30/min is 0.5/s, far under any sensible floor
    prompt = draw(st.sampled_from((30, 12_000, 36_000, 120_000, 1_000_000, 5_000_000)))
    return Fault("token spike", start, end, (("prompt_tokens", prompt),), draw(st.sampled_from(fleet.models)))


def _trivial_token_spike(draw, fleet, minutes):
    """The seed's false alarm: 0.1 tokens/s per model all along, then 0.5 or 1 token/s (5x, 10x)."""
    start, end = _window(draw, minutes)
    return (Fault("trivial token traffic", 0, minutes + 1, (("prompt_tokens", 6), ("completion_tokens", 0))),
            Fault("token spike on trivial traffic", start, end, (("prompt_tokens", draw(st.sampled_from((30, 60)))),)))


def _unpriced(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("unpriced model", start, end, (("unpriced", True),), draw(st.sampled_from(fleet.models)))


def _completion_drop(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("task completion drop", start, end,
                 (("sessions_completed", draw(st.sampled_from((0, 1, 4)))),
                  ("sessions_failed", draw(st.sampled_from((1, 2, 5))))))


def _capacity(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("sessions near capacity", start, end,
                 (("active_sessions", draw(st.sampled_from((20, 24, 28, 32, 40)))),),
                 draw(st.sampled_from(fleet.instances)))


def _no_traffic(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    return Fault("no traffic", start, end, tuple((f, 0) for f in (
        "turns_fast", "turns_slow", "turns_slower", "turns_very_slow", "turns_error", "turns_interrupted", "tool_calls",
        "tool_failures", "llm_requests", "llm_errors", "steps_fast", "steps_slow", "prompt_tokens",
        "completion_tokens", "sessions_completed", "sessions_failed")) + (("cost_usd", 0.0),))


def _ramp(draw, fleet, minutes):
    start, end = _window(draw, minutes)
    factor = draw(st.sampled_from((2, 4)))
    return Fault("traffic ramp step", start, end, (("turns_fast", 5 * factor), ("tool_calls", 4 * factor),
                                                   ("llm_requests", 6 * factor), ("prompt_tokens", 3000 * factor)))


KINDS: Dict[str, Callable] = {
    "tool outage": _tool_failures("error", "tool outage"),
    "tool timeouts": _tool_failures("timeout", "tool timeouts"),
    "tool calls cancelled": _tool_failures("cancelled", "tool calls cancelled"),
    "tool calls blocked": _tool_failures("blocked", "tool calls blocked"),
    "LLM rate limiting": _rate_limit,
    "latency surge": _latency_surge,
    "slow LLM steps": _slow_steps,
    "turns failing": _turn_errors,
    "cost surge": _cost_surge,
    "token spike": _token_spike,
    "token spike on trivial traffic": _trivial_token_spike,
    "unpriced model": _unpriced,
    "task completion drop": _completion_drop,
    "sessions near capacity": _capacity,
    "no traffic": _no_traffic,
    "traffic ramp step": _ramp,
}


@st.composite
def base_loads(draw) -> Load:
    """The steady load of one instance, per minute: sometimes none, sometimes trivial, sometimes busy."""
    busy = draw(st.sampled_from(("none", "trivial", "light", "busy")))
    if busy == "none":
        return Load()
    if busy == "trivial":  # 0.1 tokens/s: the seed's token-spike false alarm lived here
        return Load(turns_fast=1, tool_calls=1, llm_requests=1, steps_fast=1, prompt_tokens=6, cost_usd=2 ** -10,
                    sessions_completed=draw(st.sampled_from((0, 1))))
    n = 1 if busy == "light" else 4
    return Load(turns_fast=5 * n, turns_slow=draw(st.sampled_from((0, 0, 1))),
                turns_interrupted=draw(st.sampled_from((0, 0, 1, 5))), tool_calls=4 * n,
                llm_requests=6 * n, steps_fast=6 * n, prompt_tokens=3000 * n, completion_tokens=400 * n,
                cost_usd=draw(st.sampled_from((0.0625, 0.375, 1.0))) * n, sessions_completed=2 * n,
                sessions_failed=draw(st.sampled_from((0, 0, 1))),
                active_sessions=draw(st.sampled_from((2, 10, 20))))


@st.composite
def events(draw, fleet: Fleet, minutes: int) -> Event:
    kind = draw(st.sampled_from(("restart", GAP, DOWN, GONE)))
    inst = draw(st.sampled_from(fleet.instances))
    start = draw(st.integers(min_value=3, max_value=minutes - 5))
    length = draw(st.sampled_from((2, 4, 8, 15)))
    return Event(kind, inst, start, 0 if kind in ("restart", GONE) else start + length)


#: what `first` may name besides a fault kind: no fault at all, or an availability event first
STEADY, AVAILABILITY = "steady traffic", "availability"


@st.composite
def scenarios(draw, first: str = "") -> Scenario:
    """A fleet of 1-3 instances, 1-3 tools, 1-2 models over 30-80 minutes, 0-3 faults, 0-2 availability
    events. `first` forces the first fault's kind (or STEADY: no fault; AVAILABILITY: at least one event),
    so a fixed set of scenarios can cover every kind evenly."""
    n_inst = draw(st.sampled_from((1, 1, 2, 2, 3)))
    fleet = Fleet(INSTANCES[:n_inst], TOOLS[:draw(st.integers(1, 3))], MODELS[:draw(st.integers(1, 2))])
    minutes = draw(st.sampled_from(MINUTES))
    kinds = [] if first == STEADY else [first] if first in KINDS else []
    if first != STEADY:
        kinds += draw(st.lists(st.sampled_from(tuple(KINDS)), min_size=0, max_size=3 - len(kinds)))
    faults: Tuple[Fault, ...] = ()
    for k in kinds:
        made = KINDS[k](draw, fleet, minutes)  # one fault, or several that belong together
        faults += made if isinstance(made, tuple) else (made,)
    evs = tuple(draw(st.lists(events(fleet, minutes), min_size=1 if first == AVAILABILITY else 0, max_size=2)))
    scale = tuple(draw(st.sampled_from((1, 2))) for _ in range(n_inst))
    return Scenario(fleet, minutes, draw(base_loads()), faults, evs, scale)
