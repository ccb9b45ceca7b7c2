"""Capacity: active sessions against capacity, memory and CPU of the agent process.

No queue-depth panel: Hermes 0.19 gives plugins no signal of work waiting for an agent, so under the
plugin hermes_queue_depth stays 0; embedders that have a queue feed it (HermesMetrics.set_queue_depth)
and can add the panel (docs/dashboards.md)."""
from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ..text import num
from ._common import Panel, Q, Row, dashboard

NAME = "capacity"
TITLE = "Hermes / Capacity"
ORDER = 4
ABOUT = "Sessions in progress against capacity, and agent process resources."
#: the dashboard's variables besides job and instance
VARIABLES = ()


def build(cfg: Config):
    q, t = Queries(cfg, VARIABLES), cfg.thresholds
    cap = t.session_capacity_per_instance
    return dashboard(NAME, q, [
        Row("Sessions", [
            Panel("Active sessions by instance", (Q(q.active_sessions(), "{{instance}}"),), "short",
                  C.ACTIVE_SESSIONS, threshold=cap),
            Panel("Capacity used by instance", (Q(q.capacity_used(), "{{instance}}"),), "percentunit",
                  f"Active sessions over the configured capacity of {num(cap)} per instance "
                  f"(metric `{C.ACTIVE_SESSIONS.name}`).", threshold=t.capacity_warning_ratio),
        ]),
        Row("Agent process", [
            Panel("Resident memory", (Q(q.memory(), "{{instance}}"),), "bytes",
                  "Resident memory of the agent process (metric `process_resident_memory_bytes`)."),
            Panel("CPU", (Q(q.cpu(), "{{instance}}"),), "percentunit",
                  "CPU time of the agent process per second: 1 = one core (metric `process_cpu_seconds_total`)."),
        ]),
    ])
