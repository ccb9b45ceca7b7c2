"""The exposition of a fully exercised registry: promtool accepts it, and it equals the catalogue."""
import subprocess

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C

from conftest import require_tool


def exercise(m):
    """Touch every metric and every closed label value at least once."""
    for status in C.TOOL_STATUSES:
        m.record_tool_call("terminal", status, 0.2)
    for status in C.TURN_STATUSES:
        m.record_turn(status, 3.0)
    for st in C.STEP_TYPES:
        m.record_step("hermes-3-8b", st, 0.7)
    m.llm_request("hermes-3-8b", "nous")
    for et in C.LLM_ERROR_TYPES:
        m.record_llm_error("hermes-3-8b", reason=et)
    m.record_usage("hermes-3-8b", 100, 20, provider="nous")
    m.record_usage("unpriced-model", 100, 20, provider="nous")
    with m.session():
        pass
    for o in C.SESSION_OUTCOMES:
        m.session_finished(2, o, was_active=False)
    m.set_queue_depth(3)
    m.hook_failed(C.HERMES_HOOKS[0])


def families(registry):
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def test_promtool_check_metrics_is_silent(metrics, registry):
    """`promtool check metrics` prints no warning on the exposition of a fully exercised registry."""
    exercise(metrics)
    out = subprocess.run([require_tool("promtool"), "check", "metrics"], input=generate_latest(registry),
                         capture_output=True, timeout=30)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"", b"")


def test_promtool_flags_the_seed_names(registry):
    """promtool really checks: the seed's `hermes_session_steps_total` histogram is flagged."""
    from prometheus_client import Histogram
    Histogram("hermes_session_steps_total", "Steps per completed session", registry=registry).observe(3)
    out = subprocess.run([require_tool("promtool"), "check", "metrics"], input=generate_latest(registry),
                         capture_output=True, timeout=30)
    assert out.returncode == 3
    assert b"non-counter metrics should not have \"_total\" suffix" in out.stdout + out.stderr


def test_exposition_equals_catalogue(metrics, registry):
    """Every exposed family has the catalogue's name, type, help, label set and buckets, and no more."""
    exercise(metrics)
    fams = families(registry)
    expected = {m.base_name for m in C.METRICS}
    assert set(fams) == expected
    for spec in C.METRICS:
        f = fams[spec.base_name]
        assert (f.type, f.documentation) == (spec.type, spec.help), spec.name
        names = {s.name for s in f.samples if not s.name.endswith("_created")}
        assert names == set(spec.sample_names), spec.name
        for s in f.samples:
            labels = set(s.labels) - {"le"}
            assert labels == set(spec.labels), (spec.name, s.labels)
            for label in spec.labels:
                closed = spec.label_values(label)
                if closed is not None:
                    assert s.labels[label] in closed, (spec.name, label, s.labels[label])
        if spec.type == C.HISTOGRAM:
            les = sorted({float(s.labels["le"]) for s in f.samples if s.name.endswith("_bucket")})
            assert les == sorted(spec.buckets) + [float("inf")], spec.name


def test_no_metric_label_collides_with_target_labels():
    """No catalogue metric has a label Prometheus attaches at scrape time (the seed's `instance`)."""
    for m in C.METRICS:
        assert not set(m.labels) & set(C.TARGET_LABELS), m.name


def test_catalogue_names_follow_conventions():
    """Counters and only counters end in _total; every name starts hermes_; units end the name."""
    for m in C.METRICS:
        assert m.name.startswith("hermes_"), m.name
        assert m.name.endswith("_total") == (m.type == C.COUNTER), m.name
        if m.unit == "seconds":
            assert m.name.endswith("_seconds"), m.name
        assert m.help.endswith("."), m.name
    assert len({m.name for m in C.METRICS}) == len(C.METRICS)


def test_contract_metrics_present():
    """Every metric of the contract (docs/ARCHITECTURE.md) is in the catalogue with the contracted type and labels."""
    contract = {
        "hermes_request_duration_seconds": (C.HISTOGRAM, {"status"}),
        "hermes_step_duration_seconds": (C.HISTOGRAM, {"model", "step_type"}),
        "hermes_tool_call_total": (C.COUNTER, {"tool_name", "status"}),
        "hermes_tool_duration_seconds": (C.HISTOGRAM, {"tool_name"}),
        "hermes_tokens_total": (C.COUNTER, {"model", "token_type"}),
        "hermes_active_sessions": (C.GAUGE, set()),
        "hermes_session_steps": (C.HISTOGRAM, set()),
        "hermes_cost_usd_total": (C.COUNTER, {"model", "provider"}),
        "hermes_llm_errors_total": (C.COUNTER, {"model", "error_type"}),
    }
    for name, (typ, labels) in contract.items():
        m = C.BY_NAME[name]
        assert m.type == typ and labels <= set(m.labels), name
    assert set(C.TOOL_STATUSES) >= {"success", "error", "timeout"}
    assert set(C.LLM_ERROR_TYPES) == {"rate_limit", "context_too_long", "timeout", "api_error"}
    assert {"hermes:tool_success_rate:5m", "hermes:request_duration_p95:5m",
            "hermes:cost_per_hour_usd"} <= {r.name for r in C.RECORDING_RULES}
    assert set(C.ALERT_NAMES) >= {
        "HermesHighLatency", "HermesCriticalLatency", "HermesToolErrorRate", "HermesLLMErrorRate",
        "HermesInstanceDown", "HermesMetricsAbsent", "HermesCostOverrun", "HermesDailyCostBudget",
        "HermesDailyTokenBudget", "HermesTokenSpike", "HermesSessionsNearCapacity", "HermesTaskCompletionLow"}
    assert C.RECEIVERS == ("pagerduty-critical", "slack-finance", "slack-platform")
