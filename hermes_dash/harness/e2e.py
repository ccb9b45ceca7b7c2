"""What the end-to-end tests expect, whatever evaluates the rules: one Prometheus (tests/test_e2e.py) or
scrapers, a central store and a ruler (tests/test_scale_out.py).

    cfg = config_from_mapping(yaml.safe_load(LIVE_CONFIG))
    fleet = Fleet(LIVE_FLEET, ports=...)
    got = run_live_faults(fleet, recorder, alertmanager, firing=lambda name: ...)
    assert received_by(got) == LIVE_RECEIVED

The live part: a test config (`for` 0s for the alerts under test, small thresholds, 1 s intervals), the
fleet it is sized for, the faults switched on one after the other with what each must deliver (receiver,
alert, severity, and the instance or tool it names), the alerts Alertmanager must hold back, and the exact
label names each delivered alert carries. The history part: the fleet and faults backfilled into a store
for the every-panel-has-data checks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Set, Tuple

from .. import catalogue as C
from .servers import Server, WebhookReceiver
from .simulate import Fleet, FleetSpec

# --- live -----------------------------------------------------------------------------------------------

#: the alerts under test fire at once; the others wait longer than any test runs, so a slow machine cannot
#: make them fire (a latency surge also burns the latency SLO, for instance)
LIVE_CONFIG = """
thresholds:
  tool_error_rate: 0.3
  tool_error_min_calls: 1
  llm_error_rate: 0.3
  llm_error_min_requests: 1
  cost_per_hour_usd: 40
  daily_cost_budget_usd: 1000000
  daily_token_budget: 1.0e+15
  token_spike_min_tokens_per_second: 1.0e+9
  session_capacity_per_instance: 100000
  task_completion_min_sessions: 1.0e+9
alerting:
  for_durations: {high_latency: 0s, critical_latency: 0s, tool_error_rate: 0s, llm_error_rate: 0s,
                  instance_down: 0s, metrics_absent: 0s, cost_overrun: 0s, unpriced_tokens: 0s,
                  daily_cost_budget: 1h, daily_token_budget: 1h, token_spike: 1h, sessions_near_capacity: 1h,
                  task_completion_low: 1h, slo_page: 1h, slo_ticket: 1h}
prometheus:
  scrape_interval: 1s
  evaluation_interval: 1s
routing:
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  page_repeat_interval: 1h
  finance_repeat_interval: 1h
"""

#: the fleet LIVE_CONFIG is sized for: 480 sessions a minute in all, no background failures
LIVE_FLEET = FleetSpec(instances=2, tools=3, models=2, sessions_per_minute=240, seed=5, noise=0.0)

#: LIVE_CONFIG's changes for a ruler that evaluates MetricsQL (vmalert on VictoriaMetrics). Its `rate()`
#: over a series younger than the window divides by the time the series covers, where Prometheus divides
#: by the whole window: `hermes:cost_per_hour_usd` (a 1h rate) reads the fleet's true spend, about 250 USD/h,
#: from the first minute, where Prometheus reads "USD spent so far", a few USD. 40 USD/h, crossed within
#: seconds of the cost surge on Prometheus, would fire at once there; 1000 is above the fleet's spend and
#: below the surge's (50x, about 12,600 USD/h), which crosses it within seconds on VictoriaMetrics.
METRICSQL_CHANGES = {"thresholds": {"cost_per_hour_usd": 1000}}

#: stands for the crashed agent's instance in the expectations
DOWN = "<crashed agent>"


@dataclass(frozen=True)
class LiveFault:
    """One fault switched on, and what it must bring about."""
    #: a fault of simulate.FAULTS; "crash" crashes agent CRASHED
    name: str
    #: (receiver, alertname, severity, instance or tool_name or "") that must be delivered
    delivered: FrozenSet[Tuple[str, str, str, str]]
    #: alerts that fire too and reach Alertmanager, which holds them back (inhibition)
    inhibited: Tuple[str, ...] = ()


#: the agent the crash fault takes down
CRASHED = 1
LIVE_FAULTS = (
    LiveFault("tool_outage", frozenset({(C.RECEIVER_PLATFORM, C.A_TOOL_ERROR_RATE, C.WARNING, "web_search")})),
    LiveFault("latency_surge", frozenset({(C.RECEIVER_PAGER, C.A_CRITICAL_LATENCY, C.CRITICAL, ""),
                                          (C.RECEIVER_PLATFORM, C.A_CRITICAL_LATENCY, C.CRITICAL, "")}),
              inhibited=(C.A_HIGH_LATENCY,)),
    LiveFault("crash", frozenset({(C.RECEIVER_PAGER, C.A_INSTANCE_DOWN, C.CRITICAL, DOWN),
                                  (C.RECEIVER_PLATFORM, C.A_INSTANCE_DOWN, C.CRITICAL, DOWN)})),
    LiveFault("cost_surge", frozenset({(C.RECEIVER_FINANCE, C.A_COST_OVERRUN, C.WARNING, "")})),
)
#: after every fault: each receiver got exactly these alerts (the inhibited HermesHighLatency none)
LIVE_RECEIVED = {
    C.RECEIVER_PAGER: {C.A_CRITICAL_LATENCY, C.A_INSTANCE_DOWN},
    C.RECEIVER_FINANCE: {C.A_COST_OVERRUN},
    C.RECEIVER_PLATFORM: {C.A_TOOL_ERROR_RATE, C.A_CRITICAL_LATENCY, C.A_INSTANCE_DOWN},
}
#: the label names each delivered alert carries: the rule's own (severity, team), what its expression keeps
#: (job; tool_name or instance), nothing a server adds
LIVE_LABELS = {
    C.A_TOOL_ERROR_RATE: {"alertname", "job", "severity", "team", "tool_name"},
    C.A_CRITICAL_LATENCY: {"alertname", "job", "severity", "team"},
    C.A_INSTANCE_DOWN: {"alertname", "instance", "job", "severity", "team"},
    C.A_COST_OVERRUN: {"alertname", "job", "severity", "team"},
}


class Recorder(WebhookReceiver):
    """Alertmanager's receivers post here; every notification is kept, by receiver."""

    def __init__(self):
        self.got: List[Tuple[str, dict]] = []
        super().__init__(lambda receiver, body: self.got.append((receiver, body)))

    def delivered(self) -> Set[Tuple[str, str, str, str]]:
        """(receiver, alertname, severity, instance or tool) of every firing alert notified so far."""
        return {(r, a["labels"]["alertname"], a["labels"]["severity"],
                 a["labels"].get("instance") or a["labels"].get("tool_name") or "")
                for r, body in list(self.got) for a in body["alerts"] if a["status"] == "firing"}

    def label_names(self) -> Dict[str, Set[FrozenSet[str]]]:
        """alertname -> the label-name sets its firing notifications carried."""
        out: Dict[str, Set[FrozenSet[str]]] = {}
        for _, body in list(self.got):
            for a in body["alerts"]:
                if a["status"] == "firing":
                    out.setdefault(a["labels"]["alertname"], set()).add(frozenset(a["labels"]))
        return out


def wait_for(check: Callable[[], object], timeout: float = 40.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def received_by(delivered: Set[Tuple[str, str, str, str]]) -> Dict[str, Set[str]]:
    """receiver -> the alert names it was notified of."""
    out: Dict[str, Set[str]] = {}
    for receiver, name, _, _ in delivered:
        out.setdefault(receiver, set()).add(name)
    return out


def run_live_faults(fleet: Fleet, recorder: Recorder, alertmanager: Server, firing: Callable[[str], bool],
                    timeout: float = 40.0, on_delivered: Callable[[str, float], None] = lambda f, s: None
                    ) -> Set[Tuple[str, str, str, str]]:
    """Switch LIVE_FAULTS on one after the other against a running fleet, rule evaluator and Alertmanager:
    nothing may be delivered before the first; each must deliver what it lists within `timeout` s, and its
    inhibited alerts must fire (`firing(alertname)`, asked of the evaluator) and be held back by
    Alertmanager; nothing a later fault brings (or no fault) may be delivered early. Raises AssertionError
    naming what did not happen; returns every delivery (3 s after the last, so that late ones count).
    `on_delivered(fault, seconds)` hears how long each fault took."""
    if recorder.delivered():
        raise AssertionError(f"alerts delivered before any fault: {recorder.delivered()}")
    down = fleet.agents[CRASHED].name
    allowed: Set[Tuple[str, str, str, str]] = set()
    for fault in LIVE_FAULTS:
        t0 = time.monotonic()
        if fault.name == "crash":
            fleet.crash(CRASHED)
        else:
            fleet.set_fault(fault.name)
        want = {(r, a, s, down if x == DOWN else x) for r, a, s, x in fault.delivered}
        if not wait_for(lambda: want <= recorder.delivered(), timeout):
            raise AssertionError(f"{fault.name}: {sorted(want - recorder.delivered())} not delivered in "
                                 f"{timeout:g}s; delivered: {sorted(recorder.delivered())}")
        on_delivered(fault.name, time.monotonic() - t0)
        allowed |= want
        if recorder.delivered() - allowed:
            raise AssertionError(f"{fault.name}: delivered before their fault, or never expected: "
                                 f"{sorted(recorder.delivered() - allowed)}")
        for name in fault.inhibited:
            if not wait_for(lambda: firing(name), timeout):
                raise AssertionError(f"{fault.name}: {name} does not fire")
            if not wait_for(lambda: any(a["labels"]["alertname"] == name and a["status"]["inhibitedBy"]
                                        for a in alertmanager.get("/api/v2/alerts")), timeout):
                raise AssertionError(f"{fault.name}: {name} is not inhibited in Alertmanager")
    time.sleep(3)  # let any late notification arrive before judging what was not delivered
    return recorder.delivered()


# --- history --------------------------------------------------------------------------------------------

#: the backfilled history's fleet: 3 agents, one model unpriced, 2% background failures
HISTORY_FLEET = FleetSpec(instances=3, tools=4, models=2, seed=3, noise=0.02, unpriced=(1,))
#: the ports its agents are named by (instance 127.0.0.1:<port>); HISTORY_FAULTS' crash takes the first down
HISTORY_PORTS = (19464, 19465, 19466)


def history_faults(end: float) -> List[Tuple[float, float, str]]:
    """The faults of the history ending at `end`: a tool outage, LLM rate limiting, a cost surge, a crash."""
    return [(end - 5 * 3600, end - 4 * 3600, "tool_outage"), (end - 3 * 3600, end - 2.5 * 3600, "rate_limit"),
            (end - 2 * 3600, end - 1.5 * 3600, "cost_surge"), (end - 3600, end - 3000, "crash")]
