"""End to end with the real hermes-agent 0.19.0: the plugin loaded by Hermes, scraped over HTTP."""
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C

from conftest import METRICS_PORT

HERE = Path(__file__).resolve().parent
RECORDED = json.loads((HERE.parent / "tests" / "data" / "hermes_0.19.0_hook_calls.json").read_text())


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    pf = tmp_path_factory.mktemp("stub") / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "stub_llm.py"), str(pf)])
    for _ in range(200):
        if pf.exists():
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{pf.read_text()}"
    proc.terminate()
    proc.wait(5)


def control(base, **kw):
    urllib.request.urlopen(urllib.request.Request(f"{base}/_control", json.dumps(kw).encode()), timeout=10).read()


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
    assert get(v, C.TOKENS.name, model="stub-model", token_type="prompt") == 333
    assert get(v, C.TOKENS.name, model="stub-model", token_type="completion") == 66
    # Hermes priced the calls itself from the stub's /v1/models: (101*1 + 10*0.5 + 22*2) µ$ per call
    assert get(v, C.COST.name, model="stub-model", provider="custom") == pytest.approx(3 * 150e-6, rel=1e-9)
    assert get(v, C.UNPRICED_TOKENS.name, model="stub-model", token_type="prompt") == 0
    assert get(v, C.TOOL_CALLS.name, tool_name="todo", status="success") == 1
    assert get(v, C.TOOL_CALLS.name, tool_name="read_file", status="success") == 1
    assert get(v, C.TOOL_CALLS.name, tool_name="read_file", status="error") == 1
    assert get(v, C.SESSION_STEPS.name + "_count") == 1
    assert get(v, C.SESSION_STEPS.name + "_sum") == 3
    assert get(v, C.SESSIONS.name, outcome="completed") == 1
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
    assert get(v, C.SESSIONS.name, outcome="failed") == 1
    assert sum(get(v, C.HOOK_ERRORS.name, hook=h) for h in C.HERMES_HOOKS) == 0


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
