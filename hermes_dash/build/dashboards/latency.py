"""Latency: how long turns, steps and tool calls take."""
from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ._common import Panel, Q, Row, dashboard

NAME = "latency"
TITLE = "Hermes / Latency"
ORDER = 1
ABOUT = "Turn, step and tool latency of Hermes agents."
#: the dashboard's variables besides job and instance
VARIABLES = (C.L_MODEL, C.L_TOOL)


def build(cfg: Config):
    q, t = Queries(cfg, VARIABLES), cfg.thresholds
    return dashboard(NAME, q, [
        Row("Turns (user message to final answer)", [
            Panel("Turn latency P50 / P95 / P99", (Q(q.turn_quantile(0.5), "P50"), Q(q.turn_quantile(0.95), "P95"),
                  Q(q.turn_quantile(0.99), "P99")), "s", C.TURN_DURATION, width=16,
                  threshold=t.latency_p95_seconds),
            Panel("Turn P95 now", (Q(q.turn_quantile(0.95), "P95"),), "s", C.TURN_DURATION, kind="stat",
                  width=4, threshold=t.latency_p95_seconds),
            Panel("Turn P99 now", (Q(q.turn_quantile(0.99), "P99"),), "s", C.TURN_DURATION, kind="stat",
                  width=4, threshold=t.latency_p99_seconds),
        ]),
        Row("Reasoning steps (LLM calls)", [
            Panel("Step P95 by model", (Q(q.step_quantile(0.95), "{{model}}"),), "s",
                  f"P95 of each model's reasoning steps (LLM API calls), every step type: what "
                  f"{C.A_STEP_LATENCY} compares with its threshold (metric `{C.STEP_DURATION.name}`).",
                  threshold=t.step_p95_seconds),
            Panel("Step P95 by model and step type",
                  (Q(q.step_quantile(0.95, by_step_type=True), "{{model}} {{step_type}}"),), "s", C.STEP_DURATION,
                  threshold=t.step_p95_seconds),
        ]),
        Row("Tools", [
            Panel("Tool P95 by tool", (Q(q.tool_quantile(0.95), "{{tool_name}}"),), "s", C.TOOL_DURATION, width=24),
        ]),
    ])
