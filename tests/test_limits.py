"""Hostile input at the runtime's edges: label values, numbers, lost hooks. Each test is the regression
test of one reproduced failure (docs/security.md, "Limits")."""
import json
import subprocess
import urllib.request

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C
from hermes_dash.config import Instrumentation
from hermes_dash.exporter import serve
from hermes_dash.instrumentation import HermesMetrics

from conftest import require_tool

SURROGATE_NAME = json.loads('"web\\ud83d"')   # what a JSON tool call with a broken emoji decodes to


def v(reg, name, **labels):
    return reg.get_sample_value(name, labels)


def scrape_http(registry):
    """GET /metrics from a real exporter on 127.0.0.1 (a free port); (status, body)."""
    server, _thread = serve(registry, "127.0.0.1:0")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
    finally:
        server.shutdown()
        server.server_close()


def promtool_check(body):
    out = subprocess.run([require_tool("promtool"), "check", "metrics"], input=body, capture_output=True,
                         timeout=30)
    return out.returncode, out.stdout + out.stderr


def label_values(body, label):
    return {s.labels[label] for f in text_string_to_metric_families(body.decode()) for s in f.samples
            if label in s.labels}


def test_surrogate_tool_name_keeps_metrics_up():
    """A tool name with an unpaired surrogate is served as valid UTF-8 (U+FFFD), /metrics answers 200,
    promtool accepts it, and the change is counted."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.record_tool_call(SURROGATE_NAME, "success", 0.1)
    m.record_tool_call("terminal", "success", 0.1)
    status, body = scrape_http(m.registry)
    assert status == 200
    assert label_values(body, C.L_TOOL) == {"web\ufffd", "terminal"}
    assert promtool_check(body) == (0, b"")
    assert v(reg, C.LABEL_SANITISED.name, label=C.L_TOOL) == 1
    assert v(reg, C.TOOL_CALLS.name, tool_name="web\ufffd", status="success") == 1


def test_control_characters_are_replaced():
    """NUL, newline, tab, DEL, C1 controls and line separators in a label value become U+FFFD."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.record_tool_call("a\x00b\nc\td\x7fe\x85f\u2028g", "error", 0.0)
    assert v(reg, C.TOOL_CALLS.name, tool_name="a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg",
             status="error") == 1
    assert v(reg, C.LABEL_SANITISED.name, label=C.L_TOOL) == 1


def test_huge_model_names_are_truncated_distinct_and_bounded():
    """64 model names of 1 MiB give 64 distinct values of at most max_label_length characters (prefix and
    a hash suffix), an exposition under 1 MB instead of gigabytes, and no 1 MiB string kept in a cache."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg, config=Instrumentation(max_label_values=64))
    names = [f"{i:02d}" + "m" * (1 << 20) for i in range(64)]
    for n in names:
        m.record_usage(n, 10, 1)
        m.record_step(n, "answer", 0.5)
    body = generate_latest(reg)
    models = label_values(body, C.L_MODEL)
    assert len(models) == 64
    assert max(len(x) for x in models) == Instrumentation().max_label_length == 128
    assert all(x.startswith(n[:119]) and x[119] == "~" for x, n in zip(sorted(models), names))
    assert len(body) < 1_000_000
    assert v(reg, C.LABEL_SANITISED.name, label=C.L_MODEL) == 128
    assert m.model_label._seen == {}  # changed values are never cached: no 1 MiB key is kept
    # the same huge name again lands on the same truncated series
    m.record_usage(names[5], 7, 0)
    assert v(reg, C.TOKENS.name, model=sorted(models)[5], token_type="prompt") == 17


def test_truncated_values_count_against_the_bound():
    """Past max_label_values, truncated names overflow into `other` like any other name."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg, config=Instrumentation(max_label_values=2, max_label_length=16))
    for i in range(5):
        m.record_tool_call(f"{i}" + "x" * 100, "success", 0.0)
    tools = {s.labels[C.L_TOOL] for f in reg.collect() if f.name == C.TOOL_CALLS.base_name for s in f.samples}
    assert len(tools) == 3 and C.OTHER in tools
    assert all(len(t) == 16 for t in tools - {C.OTHER})
    assert v(reg, C.LABEL_OVERFLOW.name, label=C.L_TOOL) == 3


def test_nan_tool_names_do_not_grow_the_cache():
    """100,000 calls with NaN tool names (NaN != NaN: a raw-value cache never hits) leave the label cache
    the size it had after the first, and all count under the one value `nan`."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.record_tool_call(float("nan"), "success", 0.0)
    size = len(m.tool_label._seen)
    for _ in range(100_000):
        m.record_tool_call(float("nan"), "success", 0.0)
    assert len(m.tool_label._seen) == size
    assert v(reg, C.TOOL_CALLS.name, tool_name="nan", status="success") == 100_001


def test_unhashable_and_unprintable_names_do_not_raise():
    """A dict, a list and an object whose str() raises are label values too: never an exception."""
    class Evil:
        def __str__(self):
            raise RuntimeError("no")
        __hash__ = None
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    for name in ({"a": 1}, [1, 2], Evil()):
        m.record_tool_call(name, "success", 0.0)
        m.record_usage(name, 1, 1, provider=name)
    assert v(reg, C.TOOL_CALLS.name, tool_name="{'a': 1}", status="success") == 1
    assert v(reg, C.TOOL_CALLS.name, tool_name="[1, 2]", status="success") == 1
    assert v(reg, C.TOOL_CALLS.name, tool_name=C.UNKNOWN, status="success") == 1
    assert v(reg, C.LABEL_SANITISED.name, label=C.L_TOOL) == 1


# -- numbers: finite and non-negative, else dropped and counted ------------------------------------------
NAN, INF = float("nan"), float("inf")


def dropped(reg, reason):
    return v(reg, C.DROPPED_SAMPLES.name, reason=reason)


def test_negative_durations_never_lower_a_sum():
    """A negative step, turn or tool duration is dropped and counted; each _sum stays where it was."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.record_step("m", "answer", 1.5)
    m.record_turn("success", 2.5)
    m.record_tool_call("t", "success", 0.5)
    m.record_step("m", "answer", -5.0)
    m.record_turn("success", -1)
    m.record_tool_call("t", "success", -0.25)
    assert v(reg, C.STEP_DURATION.name + "_sum", model="m", step_type="answer") == 1.5
    assert v(reg, C.STEP_DURATION.name + "_count", model="m", step_type="answer") == 1
    assert v(reg, C.TURN_DURATION.name + "_sum", status="success") == 2.5
    assert v(reg, C.TOOL_DURATION.name + "_sum", tool_name="t") == 0.5
    # the tool call itself still counts: its status is known, only its duration is not
    assert v(reg, C.TOOL_CALLS.name, tool_name="t", status="success") == 2
    assert dropped(reg, "negative") == 3


def test_nan_and_inf_never_enter_a_sum():
    """NaN, +inf and -inf durations are dropped and counted as not finite; the sums stay finite."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    for x in (NAN, INF, -INF, 10 ** 400):
        m.record_step("m", "answer", x)
        m.record_tool_call("t", "error", x)
    assert v(reg, C.STEP_DURATION.name + "_sum", model="m", step_type="answer") == 0
    assert v(reg, C.TOOL_DURATION.name + "_sum", tool_name="t") == 0
    assert v(reg, C.TOOL_CALLS.name, tool_name="t", status="error") == 4
    assert dropped(reg, "not_finite") == 8


def test_nan_cost_is_dropped_and_the_tokens_priced_from_the_table_or_unpriced():
    """record_usage(cost_usd=nan) leaves the cost counter finite: the table prices the tokens when it
    knows the model, else they count as unpriced; the NaN is counted as dropped."""
    from hermes_dash.config import Price
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg, config=Instrumentation(prices={"priced": Price(prompt=1.0, completion=2.0)}))
    assert m.record_usage("priced", 3, 1, provider="p", cost_usd=NAN) == 5.0
    assert m.record_usage("mystery", 3, 1, provider="p", cost_usd=-2.0) is None
    assert v(reg, C.COST.name, model="priced", provider="p") == 5.0
    assert v(reg, C.COST.name, model="mystery", provider="p") is None
    assert v(reg, C.UNPRICED_TOKENS.name, model="mystery", token_type="prompt") == 3
    assert (dropped(reg, "not_finite"), dropped(reg, "negative")) == (1, 1)


def test_bad_token_counts_are_dropped_not_raised():
    """Negative, NaN, string and boolean token counts are dropped one by one (the valid one still counts);
    nothing raises."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.record_usage("m", -1, 7)
    m.record_usage("m", "12", NAN)
    m.record_usage("m", True, None)
    assert v(reg, C.TOKENS.name, model="m", token_type="prompt") == 0
    assert v(reg, C.TOKENS.name, model="m", token_type="completion") == 7
    assert (dropped(reg, "negative"), dropped(reg, "not_finite"), dropped(reg, "not_a_number")) == (1, 1, 3)


def test_gauges_refuse_nan_and_negative_values():
    """set_queue_depth(nan) and set_queue_depth(-1) leave the gauge at its last valid value."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.set_queue_depth(4)
    m.set_queue_depth(NAN)
    m.set_queue_depth(-1)
    assert v(reg, C.QUEUE_DEPTH.name) == 4
    assert (dropped(reg, "not_finite"), dropped(reg, "negative")) == (1, 1)


def test_hostile_numbers_through_the_hooks_are_dropped_not_errors():
    """Through Hermes' hooks: a negative api_duration, NaN tokens, a NaN tool duration and a string usage
    are dropped and counted; no hook fails and every sum stays finite and non-negative."""
    from hermes_dash.plugin import HermesHooks
    reg = CollectorRegistry()
    hooks = HermesHooks(HermesMetrics(registry=reg))
    hooks.pre_llm_call(session_id="s", model="m")
    hooks.post_api_request(session_id="s", api_request_id="never-started", model="m", api_duration=-3.0,
                           usage={"prompt_tokens": NAN, "output_tokens": 2})
    hooks.post_api_request(session_id="s", api_request_id="x", model="m", usage="lots")
    hooks.post_tool_call(tool_name="t", duration_ms=NAN, status="ok")
    hooks.post_tool_call(tool_name="t", duration_ms=-40, status="ok")
    hooks.on_session_end(session_id="s", completed=True)
    for h in C.HERMES_HOOKS:
        assert v(reg, C.HOOK_ERRORS.name, hook=h) == 0, h
    assert v(reg, C.STEP_DURATION.name + "_sum", model="m", step_type="answer") == 0
    assert v(reg, C.TOKENS.name, model="m", token_type="completion") == 2
    assert v(reg, C.TOOL_DURATION.name + "_sum", tool_name="t") == 0
    assert v(reg, C.TOOL_CALLS.name, tool_name="t", status="success") == 2
    assert (dropped(reg, "negative"), dropped(reg, "not_finite"), dropped(reg, "not_a_number")) == (2, 2, 1)
