"""The plugin's hook callbacks, called with exactly the kwargs hermes-agent 0.19.0 passes."""
import json
import logging
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hermes_dash import catalogue as C
from hermes_dash.config import Instrumentation, Price
from hermes_dash.instrumentation import HermesMetrics
from hermes_dash.plugin import HermesHooks

CALLS = json.loads((Path(__file__).parent / "data" / "hermes_0.19.0_hook_calls.json").read_text())["calls"]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def make(idle=0.0, prices=None):
    reg = CollectorRegistry()
    inst = Instrumentation(prices=prices or {}, session_idle_timeout_seconds=idle)
    clock = Clock()
    hooks = HermesHooks(HermesMetrics(registry=reg, config=inst), clock=clock)
    return reg, hooks, clock


def replay(hooks, clock, calls=CALLS):
    for c in calls:
        if c["hook"] in C.HERMES_HOOKS:
            clock.t += 0.5
            assert getattr(hooks, c["hook"])(**c["kwargs"]) is None


def v(reg, name, **labels):
    return reg.get_sample_value(name, labels)


def test_recorded_conversation_gives_exact_metrics():
    """Replaying Hermes' real hook calls (one 3-step turn with a tool error, one HTTP 500 turn) gives
    exact tool, token, step, turn, session and error counts, with no hook failing."""
    reg, hooks, clock = make(prices={"stub-model": Price(prompt=1e-6, completion=2e-6)})
    replay(hooks, clock)
    tc = C.TOOL_CALLS.name
    assert (v(reg, tc, tool_name="todo", status="success"), v(reg, tc, tool_name="read_file", status="success"),
            v(reg, tc, tool_name="read_file", status="error")) == (1, 1, 1)
    assert v(reg, C.TOKENS.name, model="stub-model", token_type="prompt") == 333
    assert v(reg, C.TOKENS.name, model="stub-model", token_type="completion") == 66
    # outside Hermes its own pricing is not importable: the table prices the calls
    assert v(reg, C.COST.name, model="stub-model", provider="custom") == pytest.approx(333e-6 + 132e-6)
    assert v(reg, C.STEP_DURATION.name + "_count", model="stub-model", step_type="tool_use") == 2
    assert v(reg, C.STEP_DURATION.name + "_count", model="stub-model", step_type="answer") == 1
    assert v(reg, C.STEP_DURATION.name + "_count", model="stub-model", step_type="error") == 1
    # each step is timed from its own pre_api_request: exactly one clock tick of 0.5 s
    assert v(reg, C.STEP_DURATION.name + "_sum", model="stub-model", step_type="answer") == 0.5
    assert v(reg, C.LLM_REQUESTS.name, model="stub-model") == 4
    assert v(reg, C.LLM_ERRORS.name, model="stub-model", error_type="api_error") == 1
    assert v(reg, C.TURN_DURATION.name + "_count", status="success") == 1
    assert v(reg, C.TURN_DURATION.name + "_count", status="error") == 1
    assert v(reg, C.ACTIVE_SESSIONS.name) == 0
    # idle timeout 0: each conversation is a session; the failed one finished at the next sweep
    hooks.sweep()
    assert v(reg, C.SESSION_STEPS.name + "_count") == 2
    assert v(reg, C.SESSION_STEPS.name + "_sum") == 3
    assert v(reg, C.SESSIONS.name, outcome="completed") == 1
    assert v(reg, C.SESSIONS.name, outcome="failed") == 1
    for h in C.HERMES_HOOKS:
        assert v(reg, C.HOOK_ERRORS.name, hook=h) == 0


def test_unpriced_model_in_recorded_conversation():
    """With no price anywhere, the recorded conversation's tokens show up as unpriced, cost stays 0."""
    reg, hooks, clock = make()
    replay(hooks, clock)
    assert v(reg, C.UNPRICED_TOKENS.name, model="stub-model", token_type="prompt") == 333
    assert v(reg, C.COST.name, model="stub-model", provider="custom") == 0


def test_active_gauge_over_a_multi_turn_session():
    """A session is active only while a turn runs: two turns never push the gauge below 0 or above 1,
    and steps add up over both turns until on_session_finalize."""
    reg, hooks, clock = make(idle=3600)
    hooks.on_session_start(session_id="s", model="m", platform="cli")
    for turn in ("t1", "t2"):
        hooks.pre_llm_call(session_id="s", turn_id=turn, model="m")
        assert v(reg, C.ACTIVE_SESSIONS.name) == 1
        hooks.pre_api_request(session_id="s", api_request_id=turn + ":1", model="m", provider="p")
        hooks.post_api_request(session_id="s", api_request_id=turn + ":1", model="m", provider="p",
                               usage={"prompt_tokens": 5, "output_tokens": 1}, finish_reason="stop")
        hooks.on_session_end(session_id="s", turn_id=turn, completed=True, interrupted=False)
        assert v(reg, C.ACTIVE_SESSIONS.name) == 0
    hooks.sweep()  # not idle long enough: not finished
    assert v(reg, C.SESSION_STEPS.name + "_count") == 0
    hooks.on_session_finalize(session_id="s", platform="cli")
    assert (v(reg, C.SESSION_STEPS.name + "_count"), v(reg, C.SESSION_STEPS.name + "_sum")) == (1, 2)
    assert v(reg, C.SESSIONS.name, outcome="completed") == 1
    assert v(reg, C.TURN_DURATION.name + "_count", status="success") == 2


def test_idle_session_finished_by_sweep():
    """A session idle for the configured timeout is finished at the next scrape; not a second earlier."""
    reg, hooks, clock = make(idle=60)
    hooks.pre_llm_call(session_id="s", turn_id="t", model="m")
    hooks.on_session_end(session_id="s", turn_id="t", completed=False, interrupted=True)
    clock.t += 59.9
    hooks.sweep()
    assert v(reg, C.SESSIONS.name, outcome="interrupted") == 0
    clock.t += 0.1
    hooks.sweep()
    assert v(reg, C.SESSIONS.name, outcome="interrupted") == 1


def test_retry_then_success_is_one_turn():
    """A retried API call (same api_request_id) is two steps and one error, inside one successful turn."""
    reg, hooks, clock = make()
    hooks.pre_llm_call(session_id="s", turn_id="t", model="m")
    hooks.pre_api_request(session_id="s", api_request_id="t:api:1", model="m", provider="p")
    clock.t += 2
    hooks.api_request_error(session_id="s", api_request_id="t:api:1", model="m", status_code=429,
                            reason="rate_limit", retryable=True, retry_count=0, max_retries=3,
                            error={"type": "RateLimitError", "message": "slow down"}, api_duration=2)
    hooks.pre_api_request(session_id="s", api_request_id="t:api:1", model="m", provider="p")
    clock.t += 1
    hooks.post_api_request(session_id="s", api_request_id="t:api:1", model="m", provider="p",
                           api_duration=3.0, finish_reason="stop", usage=None)
    hooks.on_session_end(session_id="s", turn_id="t", completed=True, interrupted=False)
    assert v(reg, C.STEP_DURATION.name + "_sum", model="m", step_type="error") == 2
    assert v(reg, C.STEP_DURATION.name + "_sum", model="m", step_type="answer") == 1  # not api_duration 3
    assert v(reg, C.LLM_ERRORS.name, model="m", error_type="rate_limit") == 1
    assert v(reg, C.TURN_DURATION.name + "_count", status="success") == 1
    assert v(reg, C.TURN_DURATION.name + "_count", status="error") == 0
    assert v(reg, C.TURN_DURATION.name + "_sum", status="success") == 3


def test_tool_status_mapping():
    """Hermes' ok/error/blocked and timeout error types map onto success/error/blocked/timeout."""
    reg, hooks, clock = make()
    for status, et in (("ok", None), ("error", "tool_error"), ("blocked", None), ("error", "timeout")):
        hooks.post_tool_call(tool_name="terminal", duration_ms=1500, status=status, error_type=et)
    assert [v(reg, C.TOOL_CALLS.name, tool_name="terminal", status=s) for s in C.TOOL_STATUSES] == \
        [1, 1, 1, 0, 1]
    assert v(reg, C.TOOL_DURATION.name + "_sum", tool_name="terminal") == 6.0


def test_failing_hook_is_caught_counted_and_logged_once(caplog, monkeypatch):
    """An exception inside a hook never reaches Hermes; it is counted each time and logged once."""
    reg, hooks, clock = make()

    def boom(*a, **k):
        raise RuntimeError("metrics broke")
    monkeypatch.setattr(hooks.metrics, "record_tool_call", boom)
    with caplog.at_level(logging.WARNING, logger="hermes_dash"):
        for _ in range(3):
            assert hooks.post_tool_call(tool_name="x", duration_ms=1, status="ok") is None
    assert v(reg, C.HOOK_ERRORS.name, hook="post_tool_call") == 3
    assert [r.getMessage() for r in caplog.records].count(
        "hermes-dash: hook post_tool_call failed (logged once; counted in hermes_metrics_hook_errors_total)") == 1


def test_hooks_are_thread_safe():
    """Tool hooks fired from 8 threads at once lose no call and keep one turn per session."""
    reg, hooks, clock = make(idle=3600)

    def worker(i):
        hooks.pre_llm_call(session_id=f"s{i}", turn_id="t", model="m")
        for _ in range(500):
            hooks.post_tool_call(tool_name="terminal", duration_ms=1, status="ok")
        hooks.on_session_end(session_id=f"s{i}", turn_id="t", completed=True, interrupted=False)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert v(reg, C.TOOL_CALLS.name, tool_name="terminal", status="success") == 4000
    assert v(reg, C.TURN_DURATION.name + "_count", status="success") == 8
    assert v(reg, C.ACTIVE_SESSIONS.name) == 0


def test_turn_hooks_racing_on_shared_sessions_keep_exact_accounts():
    """8 threads start and end turns on the same 4 sessions 3,000 times each (thread switches every
    microsecond): every started turn is accounted once — ended by its on_session_end (success), by the
    next pre_llm_call (error), or still in progress — every on_session_end either ends a turn or is a
    counted stray, and the active gauge equals the turns in progress."""
    import sys
    reg, hooks, clock = make(idle=3600)

    def worker():
        for n in range(3000):
            hooks.pre_llm_call(session_id=f"s{n % 4}", model="m")
            hooks.on_session_end(session_id=f"s{n % 4}", completed=True, interrupted=False)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    in_progress = sum(st.turn_started is not None for st in hooks._sessions.values())
    success = v(reg, C.TURN_DURATION.name + "_count", status="success")
    error = v(reg, C.TURN_DURATION.name + "_count", status="error")
    assert success + error + in_progress == 24_000
    assert success + v(reg, C.DROPPED_SAMPLES.name, reason="no_turn") == 24_000
    assert v(reg, C.ACTIVE_SESSIONS.name) == in_progress
    assert v(reg, C.HOOK_ERRORS.name, hook="on_session_end") == 0
