"""Exemplars with the real hermes-agent: a conversation run inside a real OpenTelemetry SDK span (what a
tracing plugin beside ours makes current) links its turn, step and tool latency to that trace."""
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from hermes_dash import catalogue as C

from conftest import METRICS_PORT



def test_a_conversation_inside_a_span_carries_its_trace_id(stub):
    """Hermes' hooks run on the thread that holds the span: every turn, step and tool latency bucket
    observed during the conversation carries the span's trace id (OpenMetrics), and no other trace id
    appears."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from run_agent import AIAgent  # after conftest set HERMES_HOME (loads plugins)
    trace.set_tracer_provider(TracerProvider())
    agent = AIAgent(base_url=f"{stub}/v1", api_key="dummy", provider="custom", model="stub-model",
                    enabled_toolsets=["todo", "file"], quiet_mode=True, tool_delay=0, max_iterations=10,
                    platform="test", skip_context_files=True, skip_memory=True)
    with trace.get_tracer("test").start_as_current_span("user-trace") as span:
        assert agent.run_conversation("hello")["completed"]
        trace_id = format(span.get_span_context().trace_id, "032x")
    req = urllib.request.Request(f"http://127.0.0.1:{METRICS_PORT}/metrics",
                                 headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    body = urllib.request.urlopen(req, timeout=10).read().decode()
    carried = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.exemplar is not None:
                carried.setdefault(s.name, set()).add(s.exemplar.labels["trace_id"])
    assert carried == {C.TURN_DURATION.name + "_bucket": {trace_id}, C.STEP_DURATION.name + "_bucket": {trace_id},
                       C.TOOL_DURATION.name + "_bucket": {trace_id}}
