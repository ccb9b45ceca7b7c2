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

from conftest import require_tool, sample_sum

SURROGATE_NAME = json.loads('"web\\ud83d"')   # what a JSON tool call with a broken emoji decodes to


def v(reg, name, **labels):
    """The sum of the samples `name` carrying `labels` (other labels summed over), None when there are none."""
    return sample_sum(reg, name, **labels)


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
    """record_usage(costs={prompt: nan}) leaves the cost counter finite: the table prices the tokens when
    it knows the model, else they count as unpriced; the NaN (and a negative cost) is counted as dropped."""
    from hermes_dash.config import Price
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg, config=Instrumentation(prices={"priced": Price(prompt=1.0, completion=2.0)}))
    assert m.record_usage("priced", 3, 1, provider="p", costs={"prompt": NAN}) == 5.0
    assert m.record_usage("mystery", 3, 1, provider="p", costs={"prompt": -2.0}) is None
    assert v(reg, C.COST.name, model="priced", provider="p") == 5.0
    assert v(reg, C.COST.name, model="mystery", provider="p") == 0  # its series exist, at zero
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
                           usage={"input_tokens": NAN, "output_tokens": 2})
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


# -- turns, pending API requests and sessions: expire, never grow without bound, never from stray hooks --
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def hooks_with(**inst):
    from hermes_dash.plugin import HermesHooks
    reg = CollectorRegistry()
    clock = Clock()
    return reg, HermesHooks(HermesMetrics(registry=reg, config=Instrumentation(**inst)), clock=clock), clock


def expired(reg, what):
    return v(reg, C.EXPIRED.name, what=what)


def test_turns_whose_end_never_comes_expire():
    """1,000 turns with no end hook: after turn_max_age_seconds without a hook they are expired (not
    recorded as turns), active sessions return to 0, and after the idle timeout the sessions are finished
    as abandoned and forgotten."""
    reg, hooks, clock = hooks_with(turn_max_age_seconds=60, session_idle_timeout_seconds=1800)
    for i in range(1000):
        hooks.pre_llm_call(session_id=f"s{i}", model="m")
    assert v(reg, C.ACTIVE_SESSIONS.name) == 1000
    clock.t += 59.9
    hooks.sweep()
    assert v(reg, C.ACTIVE_SESSIONS.name) == 1000
    clock.t += 0.1
    hooks.sweep()
    assert v(reg, C.ACTIVE_SESSIONS.name) == 0
    assert expired(reg, "turn") == 1000
    assert sum(v(reg, C.TURN_DURATION.name + "_count", status=s) for s in C.TURN_STATUSES) == 0
    clock.t += 1800
    hooks.sweep()
    assert v(reg, C.SESSIONS.name, outcome="abandoned") == 1000
    assert len(hooks._sessions) == 0


def test_a_turn_that_keeps_working_does_not_expire():
    """A turn whose session keeps firing hooks (steps) is not expired however long it runs in total."""
    reg, hooks, clock = hooks_with(turn_max_age_seconds=60)
    hooks.pre_llm_call(session_id="s", model="m")
    for i in range(10):
        clock.t += 50
        hooks.pre_api_request(session_id="s", api_request_id=i, model="m")
        hooks.post_api_request(session_id="s", api_request_id=i, model="m")
        hooks.sweep()
    hooks.on_session_end(session_id="s", completed=True)
    assert expired(reg, "turn") == 0
    assert v(reg, C.TURN_DURATION.name + "_sum", status="success") == 500


def test_100000_lost_turns_stay_within_max_open_sessions():
    """100,000 sessions whose turns never end keep at most max_open_sessions (10,000) tracked: the least
    recently active are finished early and counted; the active gauge equals the turns tracked, and
    returns to 0 once they expire."""
    reg, hooks, clock = hooks_with()
    for i in range(100_000):
        hooks.pre_llm_call(session_id=i, model="m")
    assert len(hooks._sessions) == Instrumentation().max_open_sessions == 10_000
    assert v(reg, C.ACTIVE_SESSIONS.name) == 10_000
    assert (expired(reg, "session"), expired(reg, "turn")) == (90_000, 90_000)
    assert v(reg, C.SESSIONS.name, outcome="abandoned") == 90_000
    clock.t += Instrumentation().turn_max_age_seconds
    hooks.sweep()
    assert v(reg, C.ACTIVE_SESSIONS.name) == 0


def test_unanswered_api_requests_are_pruned():
    """pre_api_request calls never answered are forgotten after api_request_max_age_seconds, and never
    more than max_pending_api_requests are kept; both counted."""
    reg, hooks, clock = hooks_with(api_request_max_age_seconds=30, max_pending_api_requests=500)
    hooks.pre_llm_call(session_id="s", model="m")
    for i in range(2000):
        hooks.pre_api_request(session_id="s", api_request_id=f"r{i}", model="m")
    assert len(hooks._attempts) == 500
    assert expired(reg, "api_request") == 1500
    clock.t += 29
    hooks.sweep()
    assert len(hooks._attempts) == 500
    clock.t += 1
    hooks.sweep()
    assert len(hooks._attempts) == 0
    assert expired(reg, "api_request") == 2000


def test_stray_session_end_creates_no_phantom_session():
    """on_session_end for a session with no turn in progress finishes nothing, creates nothing, and is
    counted as dropped (no_turn)."""
    for idle in (0, 3600):
        reg, hooks, clock = hooks_with(session_idle_timeout_seconds=idle)
        hooks.on_session_end(session_id="ghost", completed=True, interrupted=False)
        hooks.post_api_request(session_id="ghost2", api_request_id="a", model="m")
        hooks.api_request_error(session_id="ghost3", api_request_id="b", model="m", retryable=False)
        clock.t += 7200
        hooks.sweep()
        hooks.finish_all()
        assert len(hooks._sessions) == 0
        assert (v(reg, C.SESSIONS.name), v(reg, C.TURNS.name)) == (None, None)  # no platform even seen
        assert v(reg, C.SESSION_STEPS.name + "_count") == 0
        assert v(reg, C.DROPPED_SAMPLES.name, reason="no_turn") == 1
        assert v(reg, C.ACTIVE_SESSIONS.name) == 0


def test_a_second_session_end_after_a_turn_is_ignored():
    """A duplicated on_session_end records one turn, not two, and the session still finishes once."""
    reg, hooks, clock = hooks_with(session_idle_timeout_seconds=0)
    hooks.pre_llm_call(session_id="s", model="m")
    hooks.on_session_end(session_id="s", completed=True)
    hooks.on_session_end(session_id="s", completed=True)
    assert v(reg, C.TURN_DURATION.name + "_count", status="success") == 1
    assert v(reg, C.SESSIONS.name, outcome="completed") == 1
    assert v(reg, C.SESSIONS.name, outcome="abandoned") == 0


def test_finalize_of_an_unknown_session_does_nothing():
    """on_session_finalize / on_session_reset of a session this process does not track (already finished
    by the idle timeout, or never seen) records nothing and counts nothing."""
    reg, hooks, clock = hooks_with()
    hooks.on_session_finalize(session_id="never-seen")
    hooks.on_session_reset(session_id="never-seen")
    assert v(reg, C.SESSIONS.name) is None
    assert sum(v(reg, C.DROPPED_SAMPLES.name, reason=r) for r in C.DROP_REASONS) == 0


def test_huge_and_odd_ids_are_bounded_keys():
    """Session and API request ids of 1 MiB, unhashable or NaN are tracked under keys of at most 256
    characters, and a 1 MiB id still matches its own later hooks."""
    reg, hooks, clock = hooks_with()
    big = "s" * (1 << 20)
    for sid in (big, ["list"], {"d": 1}, float("nan")):
        hooks.pre_llm_call(session_id=sid, model="m")
        hooks.pre_api_request(session_id=sid, api_request_id=big + repr(sid), model="m")
        clock.t += 1
        hooks.post_api_request(session_id=sid, api_request_id=big + repr(sid), model="m")
        hooks.on_session_end(session_id=sid, completed=True)
    assert all(len(k) <= 256 for k in hooks._sessions)
    assert len(hooks._attempts) == 0
    assert v(reg, C.TURN_DURATION.name + "_count", status="success") == 4
    assert v(reg, C.STEP_DURATION.name + "_sum", model="m", step_type="answer") == 4
    assert v(reg, C.ACTIVE_SESSIONS.name) == 0


def test_wrong_types_in_every_hook_are_handled_not_caught():
    """Every hook called with ints, lists, dicts, NaN and positional arguments where Hermes passes strings
    and bools returns None and fails no hook (the error counter stays 0)."""
    reg, hooks, clock = hooks_with()
    odd = dict(session_id=[1], model={"x": 1}, provider=3.5, api_request_id=["r"], tool_name=7,
               status=404, error_type=["timeout"], duration_ms="12", completed="yes", interrupted=2,
               usage=[1, 2], api_duration="1s", finish_reason=5, assistant_tool_call_count="3",
               retryable="no", retry_count="1", max_retries=None, status_code="429", reason=429,
               error=object(), base_url=1)
    for name in C.HERMES_HOOKS:
        assert getattr(hooks, name)(**odd) is None
        assert getattr(hooks, name)("positional", 1) is None
    for h in C.HERMES_HOOKS:
        assert v(reg, C.HOOK_ERRORS.name, hook=h) == 0, h


def test_each_process_sweeps_on_a_timer():
    """With a sweeper thread, an idle session is finished and a lost turn expired without any scrape."""
    import time
    from hermes_dash.plugin import HermesHooks
    reg = CollectorRegistry()
    hooks = HermesHooks(HermesMetrics(registry=reg, config=Instrumentation(
        session_idle_timeout_seconds=0.2, turn_max_age_seconds=0.3, sweep_interval_seconds=0.05)))
    hooks.start_sweeper()
    try:
        hooks.pre_llm_call(session_id="done", model="m")
        hooks.on_session_end(session_id="done", completed=True)
        hooks.pre_llm_call(session_id="lost", model="m")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (v(reg, C.SESSIONS.name, outcome="completed") != 1
                                               or v(reg, C.ACTIVE_SESSIONS.name) != 0):
            time.sleep(0.05)
        assert v(reg, C.SESSIONS.name, outcome="completed") == 1
        assert v(reg, C.ACTIVE_SESSIONS.name) == 0
        assert expired(reg, "turn") == 1
    finally:
        hooks.stop_sweeper()


def test_limit_settings_are_validated(tmp_path):
    """Each new limit setting refuses a value that would disable it, naming the file and the key."""
    import pytest
    from hermes_dash.config import ConfigError, load_config
    cases = {"max_label_length: 15": "must be at least 16", "turn_max_age_seconds: 0": "must be above 0",
             "api_request_max_age_seconds: 0": "must be above 0", "max_open_sessions: 0": "must be above 0",
             "max_pending_api_requests: 0": "must be above 0", "sweep_interval_seconds: -1": ">= 0"}
    for i, (line, problem) in enumerate(cases.items()):
        p = tmp_path / f"c{i}.yml"
        p.write_text(f"instrumentation:\n  {line}\n")
        with pytest.raises(ConfigError) as e:
            load_config(str(p))
        assert str(e.value).startswith(f"{p}: instrumentation.{line.split(':')[0]}: ")
        assert problem in str(e.value)


def test_metrics_server_takes_the_port_when_it_frees():
    """A MetricsServer whose port is held retries in the background and serves /metrics within 5 s of the
    port being released; close() stops it and frees the port."""
    import socket
    import time
    from hermes_dash.exporter import MetricsServer
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    reg = CollectorRegistry()
    HermesMetrics(registry=reg).record_tool_call("t", "success", 0.1)
    server = MetricsServer(reg, f"127.0.0.1:{port}", retry_seconds=0.1)
    try:
        assert server.serving is False
        holder.close()
        deadline = time.monotonic() + 5
        while not server.serving and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.port == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            body = r.read()
        assert label_values(body, C.L_TOOL) == {"t"}
    finally:
        server.close()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # free again


def test_numbers_beyond_the_sample_bound_are_dropped_as_too_large():
    """A token count of 10**308 (it passes as a finite float) and a duration of 1e16 s are dropped and
    counted as too_large: two such values would make a sum infinite; 1e15 itself is recorded."""
    reg = CollectorRegistry()
    m = HermesMetrics(registry=reg)
    m.record_usage("m", 10**308, 1e15)
    m.record_tool_call("t", "success", 1e16)
    assert v(reg, C.TOKENS.name, model="m", token_type="prompt") == 0
    assert v(reg, C.TOKENS.name, model="m", token_type="completion") == 1e15
    assert v(reg, C.TOOL_DURATION.name + "_sum", tool_name="t") == 0
    assert v(reg, C.TOOL_CALLS.name, tool_name="t", status="success") == 1
    assert dropped(reg, "too_large") == 2
