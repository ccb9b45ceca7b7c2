"""Exact values after known sequences of calls, on a fresh registry each time."""
import asyncio
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st
from prometheus_client import CollectorRegistry

from hermes_dash import catalogue as C
from hermes_dash.config import Instrumentation, Price
from hermes_dash.instrumentation import HermesMetrics, classify_llm_error, tool_status_for


def val(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def tool_count(registry, tool, status):
    return val(registry, C.TOOL_CALLS.name, tool_name=tool, status=status)


def test_tool_context_manager_counts_each_status(metrics, registry):
    """success, error and timeout exits of the context manager each count under their own status."""
    with metrics.tool_call("search"):
        pass
    with pytest.raises(ValueError):
        with metrics.tool_call("search"):
            raise ValueError("boom")
    with pytest.raises(TimeoutError):
        with metrics.tool_call("search"):
            raise TimeoutError()
    assert [tool_count(registry, "search", s) for s in C.TOOL_STATUSES] == [1, 1, 1, 0, 0]
    assert val(registry, C.TOOL_DURATION.name + "_count", tool_name="search") == 3


def test_tool_decorator_sync_and_async(metrics, registry):
    """The decorator counts sync and async functions alike and returns their result unchanged."""
    @metrics.track_tool("calc")
    def calc(x):
        if x < 0:
            raise ValueError(x)
        return x * 2

    @metrics.track_tool("fetch")
    async def fetch(x):
        if x == "slow":
            raise asyncio.TimeoutError()
        return x.upper()

    assert calc(2) == 4
    with pytest.raises(ValueError):
        calc(-1)
    assert asyncio.run(fetch("a")) == "A"
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(fetch("slow"))
    assert [tool_count(registry, "calc", s) for s in ("success", "error", "timeout")] == [1, 1, 0]
    assert [tool_count(registry, "fetch", s) for s in ("success", "error", "timeout")] == [1, 0, 1]
    assert calc.__name__ == "calc" and fetch.__name__ == "fetch"


def test_cancelled_tool_call_is_not_a_success(metrics, registry):
    """An asyncio task cancelled inside a tracked tool counts as cancelled, never as success."""
    @metrics.track_tool("wait")
    async def wait():
        await asyncio.sleep(10)

    async def main():
        t = asyncio.create_task(wait())
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(main())

    async def via_cm():
        async with metrics.tool_call("wait"):
            raise asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(via_cm())
    assert tool_count(registry, "wait", "cancelled") == 2
    assert tool_count(registry, "wait", "success") == 0


def test_tool_duration_is_measured_around_the_call(metrics, registry):
    """The observed tool duration covers the time spent inside the call."""
    import time

    @metrics.track_tool("sleepy")
    def sleepy():
        time.sleep(0.05)
    sleepy()
    s = val(registry, C.TOOL_DURATION.name + "_sum", tool_name="sleepy")
    assert 0.05 <= s < 1.0
    assert val(registry, C.TOOL_DURATION.name + "_bucket", tool_name="sleepy", le="0.05") == 0
    assert val(registry, C.TOOL_DURATION.name + "_bucket", tool_name="sleepy", le="1.0") == 1


def test_step_is_timed_around_the_step(metrics, registry):
    """A step's duration covers its body (the seed measured after the step returned: always ~0)."""
    import time
    with metrics.step("hermes-3-8b") as s:
        time.sleep(0.03)
        s.step_type = "tool_use"
    assert s.duration >= 0.03
    total = val(registry, C.STEP_DURATION.name + "_sum", model="hermes-3-8b", step_type="tool_use")
    assert total == s.duration
    with pytest.raises(RuntimeError):
        with metrics.step("hermes-3-8b"):
            raise RuntimeError()
    assert val(registry, C.STEP_DURATION.name + "_count", model="hermes-3-8b", step_type="error") == 1


def test_session_context_records_steps_outcome_and_active(metrics, registry):
    """A session is active while open and records its step count and outcome when closed."""
    with metrics.session() as s:
        assert val(registry, C.ACTIVE_SESSIONS.name) == 1
        for _ in range(3):
            with s.step("hermes-3-8b"):
                pass
    with pytest.raises(KeyError):
        with metrics.session():
            raise KeyError()
    assert val(registry, C.ACTIVE_SESSIONS.name) == 0
    assert val(registry, C.SESSION_STEPS.name + "_sum") == 3
    assert val(registry, C.SESSION_STEPS.name + "_count") == 2
    assert val(registry, C.SESSIONS.name, outcome="completed") == 1
    assert val(registry, C.SESSIONS.name, outcome="failed") == 1
    assert val(registry, C.STEP_DURATION.name + "_count", model="hermes-3-8b", step_type="answer") == 3


def test_usage_priced_from_table(metrics, registry):
    """Tokens are counted by type and priced per token from the config's table."""
    cost = metrics.record_usage("hermes-3-70b", 1000, 500, provider="nous")
    assert cost == pytest.approx(1500 * 9e-7, rel=1e-15)
    assert val(registry, C.TOKENS.name, model="hermes-3-70b", token_type="prompt") == 1000
    assert val(registry, C.TOKENS.name, model="hermes-3-70b", token_type="completion") == 500
    assert val(registry, C.COST.name, model="hermes-3-70b", provider="nous") == cost
    assert val(registry, C.UNPRICED_TOKENS.name, model="hermes-3-70b", token_type="prompt") == 0


def test_unpriced_model_is_visible_not_free(metrics, registry):
    """A model missing from the price table is counted as unpriced tokens, with no cost series bump."""
    assert metrics.record_usage("mystery-model", 300, 20, provider="x") is None
    assert val(registry, C.UNPRICED_TOKENS.name, model="mystery-model", token_type="prompt") == 300
    assert val(registry, C.UNPRICED_TOKENS.name, model="mystery-model",
               token_type="completion") == 20
    assert val(registry, C.COST.name, model="mystery-model", provider="x") is None
    # an explicit cost (Hermes' own pricing) wins over the table
    assert metrics.record_usage("mystery-model", 10, 10, provider="x", cost_usd=0.5) == 0.5
    assert val(registry, C.COST.name, model="mystery-model", provider="x") == 0.5


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 50_000)), min_size=1, max_size=400))
def test_cost_total_is_exact_to_a_billionth(calls):
    """The float cost counter stays within 1e-9 relative of the exact rational sum of every call."""
    reg = CollectorRegistry()
    price = Price(prompt=3e-6, completion=1.5e-5)
    m = HermesMetrics(registry=reg, config=Instrumentation(prices={"m": price}))
    exact = Fraction(0)
    for p, c in calls:
        m.record_usage("m", p, c, provider="p")
        exact += p * Fraction(price.prompt) + c * Fraction(price.completion)
    got = reg.get_sample_value(C.COST.name, {"model": "m", "provider": "p"})
    assert abs(Fraction(got) - exact) <= exact * Fraction(1, 10**9)


def test_known_labels_initialised_at_zero(registry):
    """Closed label sets, known tools and known models exist at zero before any event."""
    HermesMetrics(registry=registry, config=Instrumentation(known_tools=("terminal",),
                                                            known_models=("hermes-3-8b",)))
    for s in C.TOOL_STATUSES:
        assert tool_count(registry, "terminal", s) == 0
    for et in C.LLM_ERROR_TYPES:
        assert val(registry, C.LLM_ERRORS.name, model="hermes-3-8b", error_type=et) == 0
    for status in C.TURN_STATUSES:
        assert val(registry, C.TURN_DURATION.name + "_count", status=status) == 0
    for o in C.SESSION_OUTCOMES:
        assert val(registry, C.SESSIONS.name, outcome=o) == 0
    assert val(registry, C.LLM_REQUESTS.name, model="hermes-3-8b") == 0


def test_first_sight_of_a_tool_initialises_every_status(metrics, registry):
    """The first call of a new tool creates all its status series, so a later first error is a rate()."""
    metrics.record_tool_call("new_tool", "success", 0.1)
    assert [tool_count(registry, "new_tool", s) for s in C.TOOL_STATUSES] == [1, 0, 0, 0, 0]


def test_label_overflow_goes_to_other(registry):
    """Past max_label_values distinct tools, new tools are counted under `other` and the overflow counted."""
    m = HermesMetrics(registry=registry, config=Instrumentation(max_label_values=3))
    for t in ["a", "b", "c", "d", "e", "a"]:
        m.record_tool_call(t, "success", 0.01)
    assert [tool_count(registry, t, "success") for t in "abc"] == [2, 1, 1]
    assert tool_count(registry, "d", "success") is None
    assert tool_count(registry, C.OTHER, "success") == 2
    assert val(registry, C.LABEL_OVERFLOW.name, label=C.L_TOOL) == 2


def _label_model(names, bound):
    """Plain model of bounding: control characters become U+FFFD, then the first `bound` distinct names
    are kept, the rest become `other`."""
    kept, overflow = [], False
    for n in names:
        v = re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029]", "\ufffd", n) if n else C.UNKNOWN
        if v == C.OTHER or v in kept:
            overflow |= v == C.OTHER
            continue
        if len(kept) < bound:
            kept.append(v)
        else:
            overflow = True
    return set(kept) | ({C.OTHER} if overflow else set())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=30) | st.sampled_from(["", C.OTHER, "terminal"]),
                min_size=1, max_size=3000), st.integers(1, 20))
def test_random_names_keep_series_under_bound(names, bound):
    """Whatever names arrive, tool_name and model take exactly the first `bound` distinct values plus
    `other`, and no call is lost."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg, config=Instrumentation(max_label_values=bound))
    for n in names:
        m.record_tool_call(n, "error", 0.0)
        m.record_usage(n, 1, 1)
    tools = {s.labels["tool_name"] for f in reg.collect() if f.name == C.TOOL_CALLS.base_name
             for s in f.samples}
    models = {s.labels["model"] for f in reg.collect() if f.name == C.TOKENS.base_name for s in f.samples}
    assert tools == models == _label_model(names, bound)
    assert len(tools) <= bound + 1
    calls = sum(s.value for f in reg.collect() if f.name == C.TOOL_CALLS.base_name for s in f.samples
                if s.name.endswith("_total"))
    assert calls == len(names)


def test_llm_error_classification():
    """Hermes reasons, HTTP codes, exception types and messages map onto the four error types."""
    assert classify_llm_error(reason="rate_limit") == "rate_limit"
    assert classify_llm_error(status_code=429) == "rate_limit"
    assert classify_llm_error(reason="context_overflow") == "context_too_long"
    assert classify_llm_error({"type": "BadRequestError",
                               "message": "This model's maximum context length is 8192"}) == "context_too_long"
    assert classify_llm_error(TimeoutError("read")) == "timeout"
    assert classify_llm_error(reason="timeout") == "timeout"
    assert classify_llm_error(status_code=504) == "timeout"
    assert classify_llm_error(RuntimeError("Rate limit reached for requests")) == "rate_limit"
    assert classify_llm_error(reason="server_error", status_code=500) == "api_error"
    assert classify_llm_error() == "api_error"


def test_tool_status_for():
    """Exception classes map to the tool status a reader of the dashboards expects."""
    assert [tool_status_for(e) for e in (None, TimeoutError(), asyncio.CancelledError(),
                                         KeyboardInterrupt(), ValueError())] == \
        ["success", "timeout", "cancelled", "cancelled", "error"]


def test_llm_request_and_error_counts(metrics, registry):
    """Every attempt is counted in the denominator; failures also by their type."""
    metrics.llm_request("hermes-3-8b", "nous")
    metrics.llm_request("hermes-3-8b", "nous")
    assert metrics.record_llm_error("hermes-3-8b", status_code=429) == "rate_limit"
    assert val(registry, C.LLM_REQUESTS.name, model="hermes-3-8b") == 2
    assert val(registry, C.LLM_ERRORS.name, model="hermes-3-8b", error_type="rate_limit") == 1
    # the cost series of a (model, provider) pair exists before its first cost increment
    assert val(registry, C.COST.name, model="hermes-3-8b", provider="nous") == 0
