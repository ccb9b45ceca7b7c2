"""The plugin's hook callbacks, called with exactly the kwargs hermes-agent 0.19.0 passes."""
import json
import logging
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from hermes_dash import catalogue as C
from hermes_dash.config import Instrumentation, Price
from hermes_dash.instrumentation import HermesMetrics
from hermes_dash.plugin import HermesHooks

from conftest import sample_sum

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
    """The sum of the samples `name` carrying `labels` (other labels summed over), None when there are none."""
    return sample_sum(reg, name, **labels)


def test_recorded_conversation_gives_exact_metrics():
    """Replaying Hermes' real hook calls (one 3-step turn with a tool error, one HTTP 500 turn) gives
    exact tool, token, step, turn, session and error counts, with no hook failing."""
    reg, hooks, clock = make(prices={"stub-model": Price(prompt=1e-6, completion=2e-6)})
    replay(hooks, clock)
    tc = C.TOOL_CALLS.name
    assert (v(reg, tc, tool_name="todo", status="success"), v(reg, tc, tool_name="read_file", status="success"),
            v(reg, tc, tool_name="read_file", status="error")) == (1, 1, 1)
    # three calls of Hermes' usage {input_tokens: 101, cache_read_tokens: 10, output_tokens: 22,
    # prompt_tokens: 111}: prompt is the uncached input, the cache read counted apart, nothing twice
    assert {t: v(reg, C.TOKENS.name, model="stub-model", token_type=t) for t in C.TOKEN_TYPES} == \
        {"prompt": 303, "completion": 66, "cache_read": 30, "cache_write": 0, "reasoning": 0}
    # outside Hermes its own pricing is not importable: the table prices the calls; it has no cache-read
    # price, so the cache reads are unpriced (visible), not free
    assert v(reg, C.COST.name, model="stub-model", provider="custom") == pytest.approx(303e-6 + 132e-6)
    assert v(reg, C.UNPRICED_TOKENS.name, model="stub-model") == 30
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
    # idle timeout 0: each conversation is a session, finished when its turn ends (the failed one by its
    # final api_request_error); a sweep finishes nothing more
    hooks.sweep()
    assert v(reg, C.SESSION_STEPS.name + "_count") == 2
    assert v(reg, C.SESSION_STEPS.name + "_sum") == 3
    # sessions and turns by the platform Hermes named ("test" in the recording)
    assert v(reg, C.SESSIONS.name, outcome="completed", platform="test") == 1
    assert v(reg, C.SESSIONS.name, outcome="failed", platform="test") == 1
    assert {s: v(reg, C.TURNS.name, status=s, platform="test") for s in C.TURN_STATUSES} == \
        {"success": 1, "error": 1, "interrupted": 0}
    for h in C.HERMES_HOOKS:
        assert v(reg, C.HOOK_ERRORS.name, hook=h) == 0


def test_unpriced_model_in_recorded_conversation():
    """With no price anywhere, the recorded conversation's tokens show up as unpriced, cost stays 0."""
    reg, hooks, clock = make()
    replay(hooks, clock)
    assert v(reg, C.UNPRICED_TOKENS.name, model="stub-model", token_type="prompt") == 303
    assert v(reg, C.UNPRICED_TOKENS.name, model="stub-model", token_type="cache_read") == 30
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


@pytest.mark.parametrize("usage, want", [
    # OpenAI through Hermes: prompt 1000 (600 cached, 100 written), completion 300 (200 reasoning)
    ({"input_tokens": 300, "output_tokens": 300, "cache_read_tokens": 600, "cache_write_tokens": 100,
      "reasoning_tokens": 200, "request_count": 1, "prompt_tokens": 1000, "total_tokens": 1300},
     {"prompt": 300, "completion": 100, "cache_read": 600, "cache_write": 100, "reasoning": 200}),
    # Anthropic through Hermes: no reasoning breakdown (thinking inside output)
    ({"input_tokens": 50, "output_tokens": 20, "cache_read_tokens": 40, "cache_write_tokens": 30,
      "reasoning_tokens": 0, "prompt_tokens": 120, "total_tokens": 140},
     {"prompt": 50, "completion": 20, "cache_read": 40, "cache_write": 30, "reasoning": 0}),
    # a provider reporting more reasoning than output: reasoning capped at the output billed
    ({"input_tokens": 10, "output_tokens": 300, "reasoning_tokens": 500},
     {"prompt": 10, "completion": 0, "cache_read": 0, "cache_write": 0, "reasoning": 300}),
    # None where a count is missing; a usage with only prompt_tokens (input and cache reads together)
    ({"input_tokens": None, "output_tokens": 7, "cache_read_tokens": None},
     {"prompt": 0, "completion": 7, "cache_read": 0, "cache_write": 0, "reasoning": 0}),
    ({"prompt_tokens": 111, "output_tokens": 22, "cache_read_tokens": 10},
     {"prompt": 101, "completion": 22, "cache_read": 10, "cache_write": 0, "reasoning": 0}),
])
def test_token_types_as_hermes_reports_them(usage, want):
    """post_api_request's usage (Hermes' CanonicalUsage) becomes the catalogue's disjoint token types:
    prompt is Hermes' input_tokens (the uncached input), completion the output less reasoning."""
    reg, hooks, clock = make()
    hooks.pre_llm_call(session_id="s", model="m", platform="cli")
    hooks.post_api_request(session_id="s", api_request_id="a", model="m", provider="p", usage=usage)
    assert {t: v(reg, C.TOKENS.name, model="m", token_type=t) for t in C.TOKEN_TYPES} == want
    assert sum(v(reg, C.HOOK_ERRORS.name, hook=h) for h in C.HERMES_HOOKS) == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9),
       st.integers(0, 2 * 10**9))
def test_token_types_sum_to_what_hermes_bills(inp, out, read, write, reasoning):
    """For any counts Hermes reports, the token types sum to exactly its total_tokens (input + cache
    reads + cache writes + output): reasoning is never counted twice, never beyond the output."""
    reg, hooks, clock = make()
    hooks.post_api_request(session_id="s", api_request_id="a", model="m", usage={
        "input_tokens": inp, "output_tokens": out, "cache_read_tokens": read, "cache_write_tokens": write,
        "reasoning_tokens": reasoning})
    assert v(reg, C.TOKENS.name, model="m") == inp + out + read + write
    assert v(reg, C.TOKENS.name, model="m", token_type="reasoning") == min(reasoning, out)


def test_sessions_and_turns_count_under_the_platform_hermes_named_first():
    """A session counts under the platform of its first hook that names one: a later hook's platform (the
    gateway finalizes every session at shutdown as "gateway") does not move it; "" and non-strings are
    not platforms (a session that never names one counts as unknown)."""
    reg, hooks, clock = make(idle=3600)
    hooks.on_session_start(session_id="tg", platform="telegram")
    hooks.pre_llm_call(session_id="tg", platform="telegram")
    hooks.on_session_end(session_id="tg", completed=True, platform="telegram")
    hooks.on_session_finalize(session_id="tg", platform="gateway", reason="shutdown")
    hooks.on_session_start(session_id="py", platform="")
    hooks.pre_llm_call(session_id="py", platform=None)
    hooks.on_session_end(session_id="py", completed=False)
    hooks.pre_llm_call(session_id="late", platform=["cron"])
    hooks.pre_api_request(session_id="late", api_request_id="r", model="m", platform="cron")
    hooks.on_session_end(session_id="late", interrupted=True)
    hooks.finish_all()
    sessions = {(o, p): v(reg, C.SESSIONS.name, outcome=o, platform=p) for o in C.SESSION_OUTCOMES
                for p in ("telegram", "unknown", "cron", "gateway")}
    assert {k: n for k, n in sessions.items() if n} == {("completed", "telegram"): 1, ("failed", "unknown"): 1,
                                                        ("interrupted", "cron"): 1}
    assert v(reg, C.SESSIONS.name, platform="gateway") is None
    assert {p: v(reg, C.TURNS.name, platform=p) for p in ("telegram", "unknown", "cron")} == \
        {"telegram": 1, "unknown": 1, "cron": 1}
    assert v(reg, C.TURNS.name, platform="unknown", status="error") == 1


def test_platform_values_are_bounded_like_every_open_label():
    """Hostile platform names (1 MiB, control characters, 100 distinct ones) stay within the label bounds:
    at most max_label_values platforms plus `other`, each at most max_label_length characters."""
    reg, hooks, clock = make()
    names = ["x" * (1 << 20), "tele\ngram"] + [f"p{i}" for i in range(100)]
    for i, name in enumerate(names):
        hooks.pre_llm_call(session_id=str(i), platform=name)
        hooks.on_session_end(session_id=str(i), completed=True)
    platforms = {s.labels["platform"] for m in reg.collect() if m.name == C.TURNS.name[:-len("_total")]
                 for s in m.samples}
    limit = Instrumentation().max_label_values
    assert len(platforms) == limit + 1 and "other" in platforms
    assert max(len(p) for p in platforms) == Instrumentation().max_label_length
    assert "tele\ufffdgram" in platforms
    assert v(reg, C.TURNS.name) == len(names)
    assert v(reg, C.LABEL_OVERFLOW.name, label="platform") == len(names) - limit


def test_a_sweep_between_session_start_and_its_turn_finishes_nothing():
    """With an idle timeout of 0 (every `hermes -z` run), a sweep (the timer, or a scrape) that comes
    between on_session_start and pre_llm_call leaves the session alone: it is finished once, when its
    turn ends, as completed — not also as abandoned. A session that never starts a turn is finished,
    abandoned, after turn_max_age_seconds."""
    reg, hooks, clock = make(idle=0.0)
    hooks.on_session_start(session_id="s", model="m", platform="cli")
    clock.t += 5
    hooks.sweep()
    hooks.pre_llm_call(session_id="s", model="m", platform="cli")
    hooks.on_session_end(session_id="s", completed=True, interrupted=False)
    hooks.sweep()
    assert {o: v(reg, C.SESSIONS.name, outcome=o) for o in C.SESSION_OUTCOMES} == \
        {"completed": 1, "failed": 0, "interrupted": 0, "abandoned": 0}
    assert v(reg, C.SESSION_STEPS.name + "_count") == 1
    hooks.on_session_start(session_id="lonely", model="m", platform="cli")
    clock.t += Instrumentation().turn_max_age_seconds - 1
    hooks.sweep()
    assert v(reg, C.SESSIONS.name, outcome="abandoned") == 0
    clock.t += 1
    hooks.sweep()
    assert v(reg, C.SESSIONS.name, outcome="abandoned") == 1


def test_a_process_nobody_scrapes_sweeps_even_when_the_config_says_only_at_scrapes():
    """sweep_interval_seconds: 0 means "sweep at scrapes"; a process that serves no /metrics (it writes into
    the daemon's directory) is never scraped, so it sweeps at the default 15 s instead; one that serves
    keeps 0, and a configured interval is kept either way."""
    from hermes_dash.plugin import sweep_interval
    assert (sweep_interval(0, serves=True), sweep_interval(0, serves=False)) == (0, 15.0)
    assert (sweep_interval(2.5, serves=True), sweep_interval(2.5, serves=False)) == (2.5, 2.5)
