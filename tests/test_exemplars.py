"""Exemplars: with an OpenTelemetry span current in the agent (a tracing plugin beside ours), turn, step and
tool latency observations carry its trace id in the OpenMetrics exposition, and Prometheus stores it;
without OpenTelemetry nothing changes and nothing is imported; multiprocess modes keep no exemplar."""
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from hermes_dash import catalogue as C
from hermes_dash.harness.servers import free_port, prometheus

from conftest import ROOT, require_tool

# The plugin in its own process (single mode), one turn with one LLM call and one 250 ms tool call, inside
# a span of a real OpenTelemetry SDK ("sdk"), of the API alone ("api": no provider, no valid span), or with
# no OpenTelemetry at all ("none"). Prints the span's ids and both expositions; with "wait", stays up.
RUN = textwrap.dedent("""
    import json, os, sys, urllib.request
    otel = sys.argv[1]
    if otel == "sdk":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
    elif otel == "api":
        from opentelemetry import trace
    if os.environ.get("ROUTE"):
        from hermes_dash import catalogue as C, store
        store.route_metrics(os.environ["ROUTE"], [m.base_name for m in C.METRICS])
    from hermes_dash import plugin
    class Ctx:
        def register_hook(self, name, fn):
            pass
    plugin.register(Ctx())
    h = plugin._STATE["hooks"]
    def turn():
        h.pre_llm_call(session_id="s", model="m")
        h.pre_api_request(session_id="s", api_request_id="a", model="m")
        h.post_api_request(session_id="s", api_request_id="a", model="m", finish_reason="stop")
        h.post_tool_call(tool_name="terminal", duration_ms=250, status="ok")
        h.on_session_end(session_id="s", completed=True, interrupted=False)
    ids = None
    if otel == "none":
        turn()
    else:
        with trace.get_tracer("test").start_as_current_span("hermes.turn") as span:
            turn()
            c = span.get_span_context()
            if c.is_valid:
                ids = {"trace_id": format(c.trace_id, "032x"), "span_id": format(c.span_id, "016x")}
    url = f"http://127.0.0.1:{plugin._STATE['server'].port}/metrics"
    om = urllib.request.urlopen(urllib.request.Request(
        url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}), timeout=10).read().decode()
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    print(json.dumps({"ids": ids, "om": om, "text": text,
                      "otel": sorted(m for m in sys.modules if m.startswith("opentelemetry"))}), flush=True)
    if sys.argv[2:] == ["wait"]:
        sys.stdin.readline()
""")


def env(tmp_path, **extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_DASH_", "PROMETHEUS_MULTIPROC"))}
    e.update(HERMES_HOME=str(tmp_path / "home"), HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{free_port()}", **extra)
    return e


def run(tmp_path, otel, **extra):
    out = subprocess.run([sys.executable, "-c", RUN, otel], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=env(tmp_path, **extra))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def exemplars(om):
    """{(sample name, labels): (exemplar labels, exemplar value)} of every sample carrying one."""
    out = {}
    for family in parse_openmetrics(om):
        for s in family.samples:
            if s.exemplar is not None:
                out[(s.name, tuple(sorted(s.labels.items())))] = (s.exemplar.labels, s.exemplar.value)
    return out


def without_exemplars_and_timing(text):
    """The text exposition with the values that differ between two runs (durations, process stats) cut."""
    return [line.rsplit(" ", 1)[0] for line in text.splitlines()
            if line.startswith("hermes_") and "_sum" not in line and "duration_seconds_bucket" not in line]


def test_without_opentelemetry_nothing_is_imported_and_nothing_changes(tmp_path):
    """No OpenTelemetry in the process: the plugin imports none of it, serves no exemplar, and the text
    exposition is the one a process with the OpenTelemetry API alone (no SDK, so no valid span) serves."""
    plain = run(tmp_path, "none")
    assert plain["otel"] == []
    assert exemplars(plain["om"]) == {}
    api = run(tmp_path, "api")
    assert api["ids"] is None and "opentelemetry.trace" in api["otel"]
    assert exemplars(api["om"]) == {}
    assert without_exemplars_and_timing(api["text"]) == without_exemplars_and_timing(plain["text"])


def test_the_current_span_is_the_exemplar_of_turn_step_and_tool_latency(tmp_path):
    """With a real OpenTelemetry SDK span current, the turn, step and tool duration observations carry
    its trace and span id as exemplars (OpenMetrics), each on the bucket its observation fell in; the
    text format, which has no exemplars, is unchanged."""
    got = run(tmp_path, "sdk")
    ids = got["ids"]
    assert ids is not None and len(ids["trace_id"]) == 32
    ex = exemplars(got["om"])
    tool = (C.TOOL_DURATION.name + "_bucket", (("le", "0.25"), ("tool_name", "terminal")))
    assert ex[tool] == (ids, 0.25)
    kinds = {name for (name, _labels) in ex}
    assert kinds == {C.TURN_DURATION.name + "_bucket", C.STEP_DURATION.name + "_bucket",
                     C.TOOL_DURATION.name + "_bucket"}
    assert all(labels == ids for labels, _ in ex.values())
    assert len(ex) == 3  # one observation each: one bucket each carries it
    assert " # {" not in got["text"]


def test_multiprocess_modes_keep_no_exemplar(tmp_path):
    """In a directory (daemon or PROMETHEUS_MULTIPROC_DIR mode) values are prometheus_client's
    multiprocess files, which hold numbers only: the same run with a span current serves no exemplar,
    and its OpenMetrics exposition still parses with every count."""
    d = tmp_path / "mp"
    d.mkdir()
    got = run(tmp_path, "sdk", PROMETHEUS_MULTIPROC_DIR=str(d))
    assert got["ids"] is not None
    assert exemplars(got["om"]) == {}
    counts = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parse_openmetrics(got["om"])
              for s in f.samples}
    assert counts[(C.TOOL_DURATION.name + "_count", (("tool_name", "terminal"),))] == 1


def test_prometheus_stores_the_exemplar(tmp_path):
    """A real Prometheus with --enable-feature=exemplar-storage scraping the plugin returns the span's
    trace id from /api/v1/query_exemplars for the tool latency buckets."""
    require_tool("prometheus")
    e = env(tmp_path)
    port = e["HERMES_DASH_METRICS_ADDR"].rsplit(":", 1)[1]
    p = subprocess.Popen([sys.executable, "-c", RUN, "sdk", "wait"], cwd=ROOT, env=e, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ids = json.loads(p.stdout.readline())["ids"]
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hermes-agent\n"
                       f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        with prometheus(str(cfg), str(tmp_path), extra_args=("--enable-feature=exemplar-storage",)) as prom:
            start = time.time() - 60
            deadline = time.monotonic() + 30
            while True:
                q = urllib.parse.urlencode({"query": C.TOOL_DURATION.name + "_bucket", "start": start,
                                            "end": time.time() + 60})
                data = prom.get(f"/api/v1/query_exemplars?{q}")
                assert data["status"] == "success", data
                if data["data"] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        [series] = data["data"]
        assert series["seriesLabels"]["tool_name"] == "terminal"
        assert {(x["labels"]["trace_id"], x["labels"]["span_id"], float(x["value"])) for x in series["exemplars"]} == \
            {(ids["trace_id"], ids["span_id"], 0.25)}
    finally:
        p.communicate("\n", timeout=30)
