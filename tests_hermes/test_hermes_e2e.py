"""End to end with the real hermes-agent 0.19.0: the plugin loaded by Hermes, scraped over HTTP."""
import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C

from hermes_dash.harness.hermes import control

from conftest import METRICS_PORT

HERE = Path(__file__).resolve().parent
RECORDED = json.loads((HERE.parent / "tests" / "data" / "hermes_0.19.0_hook_calls.json").read_text())


def converse(base):
    from run_agent import AIAgent  # imported after conftest set HERMES_HOME (loads plugins)
    agent = AIAgent(base_url=f"{base}/v1", api_key="dummy", provider="custom", model="stub-model",
                    enabled_toolsets=["todo", "file"], quiet_mode=True, tool_delay=0,
                    max_iterations=10, platform="test", skip_context_files=True, skip_memory=True)
    return agent.run_conversation("hello")


def scrape():
    body = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body) for s in f.samples}


def get(vals, name, **labels):
    return vals.get((name, tuple(sorted(labels.items()))))


SEEN = {}  # hook -> set of kwarg-name tuples Hermes passed during this module's conversations


@pytest.fixture(scope="module", autouse=True)
def record_hook_kwargs():
    """Add a recording callback beside the plugin's for each hook it uses (the manager's registry)."""
    from run_agent import AIAgent  # noqa: F401 - loads the plugins
    from hermes_cli import plugins
    pm = plugins.get_plugin_manager()
    for h in C.HERMES_HOOKS:
        def rec(_h=h, **kw):
            SEEN.setdefault(_h, set()).add(tuple(sorted(kw)))
        pm._hooks.setdefault(h, []).append(rec)
    yield


def test_conversation_metrics(stub):
    """One conversation (tool calls, a tool error, a final answer with usage) gives exact metrics."""
    control(stub, mode="ok")
    res = converse(stub)
    assert res["completed"] and res["final_response"].startswith("All done")
    v = scrape()
    # usage {prompt_tokens: 111, cached_tokens: 10, completion_tokens: 22} three times: prompt is the
    # uncached input (Hermes' input_tokens), the cache read counted apart
    assert {t: get(v, C.TOKENS.name, model="stub-model", token_type=t) for t in C.TOKEN_TYPES} == \
        {"prompt": 303, "completion": 66, "cache_read": 30, "cache_write": 0, "reasoning": 0}
    # Hermes priced each type itself from the stub's /v1/models: 101*1 + 10*0.5 + 22*2 µ$ per call
    cost = {t: get(v, C.COST.name, model="stub-model", provider="custom", token_type=t) for t in C.COST_TYPES}
    assert cost == pytest.approx({"prompt": 303e-6, "completion": 132e-6, "cache_read": 15e-6, "cache_write": 0,
                                  "reasoning": 0, "request": 0}, rel=1e-9, abs=1e-15)
    assert sum(get(v, C.UNPRICED_TOKENS.name, model="stub-model", token_type=t) for t in C.TOKEN_TYPES) == 0
    assert get(v, C.TOOL_CALLS.name, tool_name="todo", status="success") == 1
    assert get(v, C.TOOL_CALLS.name, tool_name="read_file", status="success") == 1
    assert get(v, C.TOOL_CALLS.name, tool_name="read_file", status="error") == 1
    assert get(v, C.SESSION_STEPS.name + "_count") == 1
    assert get(v, C.SESSION_STEPS.name + "_sum") == 3
    assert get(v, C.SESSIONS.name, outcome="completed", platform="test") == 1
    assert get(v, C.TURNS.name, platform="test", status="success") == 1
    assert get(v, C.TURN_DURATION.name + "_count", status="success") == 1
    assert get(v, C.ACTIVE_SESSIONS.name) == 0
    assert get(v, C.LLM_REQUESTS.name, model="stub-model") == 3
    assert sum(get(v, C.HOOK_ERRORS.name, hook=h) for h in C.HERMES_HOOKS) == 0


def test_rate_limited_call_is_counted(stub):
    """The stub answering 429 is counted as an LLM rate_limit error and a failed turn."""
    control(stub, mode="429")
    try:
        res = converse(stub)
    finally:
        control(stub, mode="ok")
    assert res["failed"]
    v = scrape()
    assert get(v, C.LLM_ERRORS.name, model="stub-model", error_type="rate_limit") == 1
    assert get(v, C.LLM_ERRORS.name, model="stub-model", error_type="api_error") == 0
    assert get(v, C.TURN_DURATION.name + "_count", status="error") == 1
    assert get(v, C.STEP_DURATION.name + "_count", model="stub-model", step_type="error") == 1
    assert get(v, C.ACTIVE_SESSIONS.name) == 0
    assert get(v, C.SESSIONS.name, outcome="failed", platform="test") == 1
    assert sum(get(v, C.HOOK_ERRORS.name, hook=h) for h in C.HERMES_HOOKS) == 0


def test_cache_and_reasoning_tokens_as_hermes_reports_them(stub):
    """A provider reporting cache writes and reasoning (OpenAI shape: prompt 1000 with 600 cached and 100
    written, completion 300 with 200 reasoning) gives prompt 300, cache_read 600, cache_write 100,
    completion 100, reasoning 200 per call — 1300, Hermes' total_tokens, nothing twice; Hermes prices
    each type it knows (reasoning at its output price) and the cache writes, which the stub's pricing
    lacks, are counted as unpriced rather than free."""
    before = scrape()
    control(stub, usage={"prompt_tokens": 1000, "completion_tokens": 300, "total_tokens": 1300,
                         "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 100},
                         "completion_tokens_details": {"reasoning_tokens": 200}})
    try:
        res = converse(stub)
    finally:
        control(stub, usage=None)
    assert res["completed"]
    after = scrape()

    def delta(name, **labels):
        return get(after, name, **labels) - (get(before, name, **labels) or 0)
    tokens = {t: delta(C.TOKENS.name, model="stub-model", token_type=t) for t in C.TOKEN_TYPES}
    assert tokens == {"prompt": 900, "completion": 300, "cache_read": 1800, "cache_write": 300, "reasoning": 600}
    assert sum(tokens.values()) == 3 * 1300
    cost = {t: delta(C.COST.name, model="stub-model", provider="custom", token_type=t) for t in C.COST_TYPES}
    assert cost == pytest.approx({"prompt": 900e-6, "completion": 600e-6, "cache_read": 900e-6, "cache_write": 0,
                                  "reasoning": 1200e-6, "request": 0}, rel=1e-9, abs=1e-15)
    assert {t: delta(C.UNPRICED_TOKENS.name, model="stub-model", token_type=t) for t in C.TOKEN_TYPES} == \
        {"prompt": 0, "completion": 0, "cache_read": 0, "cache_write": 300, "reasoning": 0}


def test_hook_kwargs_match_the_recorded_fixture():
    """The kwargs Hermes passes to each hook the plugin uses equal tests/data's recorded ones, so the
    unit tests that replay them stay true to this Hermes version; the plugin is registered once per hook."""
    import importlib.metadata
    assert importlib.metadata.version("hermes-agent") == RECORDED["hermes_agent"]
    from hermes_cli import plugins
    pm = plugins.get_plugin_manager()
    assert set(C.HERMES_HOOKS) <= plugins.VALID_HOOKS
    for h in C.HERMES_HOOKS:
        ours = [cb for cb in pm._hooks.get(h, []) if getattr(cb, "__module__", "") == "hermes_dash.plugin"]
        assert len(ours) == 1, h
    expected = {}
    for c in RECORDED["calls"]:
        if c["hook"] in C.HERMES_HOOKS:
            expected.setdefault(c["hook"], set()).add(tuple(sorted(c["kwargs"])))
    assert SEEN == expected
