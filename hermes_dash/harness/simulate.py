"""A simulated fleet of Hermes agents that drives hermes-dash's own instrumentation.

    fleet = Fleet(FleetSpec(instances=3, tools=5, models=2, seed=1))
    fleet.serve(first_port=19464)          # one /metrics per agent on 127.0.0.1, ticking in real time
    fleet.set_fault("tool_outage", True)   # every call of the first tool fails from now on
    fleet.crash(1)                         # agent 1 stops answering scrapes (up == 0)
    fleet.backfill(start, end, 60, "history.om")  # or: hours of history as OpenMetrics, for promtool

Each agent is a `HermesMetrics` on its own registry: sessions arrive at random (deterministic for a seed),
each runs turns of reasoning steps with LLM calls, tokens, cost and tool calls, recorded through the same
helpers the Hermes plugin uses — never hand-written exposition text. Faults change what happens: a tool
outage, LLM rate limiting, a latency surge, a cost surge, a token spike, an instance crash. Besides the
Hermes metrics each agent exposes the process memory and CPU the capacity dashboard reads (simulated, as
prometheus_client's process collector would report them).

This module does not start Prometheus or Alertmanager (`hermes_dash.harness.servers` does).
"""
from __future__ import annotations

import math
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .. import catalogue as C
from ..config import Instrumentation, Price
from ..instrumentation import HermesMetrics

FAULTS = ("tool_outage", "rate_limit", "latency_surge", "cost_surge", "token_spike", "crash")
TOOL_NAMES = ("web_search", "terminal", "read_file", "write_file", "browser_navigate", "execute_code", "todo",
              "memory", "vision_analyze", "send_message")
MODEL_NAMES = ("hermes-3-70b", "hermes-3-8b", "hermes-4-405b", "hermes-4-70b")
# USD per token (prompt, completion), per model position; binary-friendly values are not needed here.
# Cache reads cost a tenth of the prompt price, cache writes 1.25 times it (Anthropic's ratios).
PRICES = ((9e-7, 9e-7), (2e-7, 2e-7), (3e-6, 3e-6), (8e-7, 8e-7))
CACHE_READ_FACTOR, CACHE_WRITE_FACTOR = 0.1, 1.25
# the Hermes platforms sessions come from, and how often
PLATFORMS = (("cli", 0.4), ("telegram", 0.3), ("discord", 0.2), ("api_server", 0.1))


@dataclass(frozen=True)
class FleetSpec:
    instances: int = 3
    tools: int = 5
    models: int = 2
    #: new sessions per minute, per agent
    sessions_per_minute: float = 6.0
    seed: int = 0
    #: background failure rates (0 for exact end-to-end tests): tool errors, turn errors, LLM errors
    noise: float = 0.01
    #: models with no price (their tokens count as unpriced), by position
    unpriced: Tuple[int, ...] = ()
    #: the `instance` each agent is scraped as, host part (the port is added)
    host: str = "127.0.0.1"

    @property
    def tool_names(self) -> Tuple[str, ...]:
        return tuple(TOOL_NAMES[i] if i < len(TOOL_NAMES) else f"tool_{i}" for i in range(self.tools))

    @property
    def model_names(self) -> Tuple[str, ...]:
        return tuple(MODEL_NAMES[i] if i < len(MODEL_NAMES) else f"model-{i}" for i in range(self.models))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class _SimulatedProcess:
    """process_resident_memory_bytes / process_cpu_seconds_total as prometheus_client's process collector
    reports them, for a simulated agent."""

    def __init__(self, agent: "Agent"):
        self.agent = agent

    def collect(self) -> Iterable[Metric]:
        a = self.agent
        mem = GaugeMetricFamily(C.PROCESS_MEMORY, "Resident memory size in bytes.")
        mem.add_metric([], 250e6 + 2e6 * a.in_flight_count())
        cpu = CounterMetricFamily(C.PROCESS_CPU[: -len("_total")], "Total user and system CPU time spent in seconds.")
        cpu.add_metric([], a.cpu_seconds)
        return [mem, cpu]


class Agent:
    """One simulated Hermes process: its registry, its sessions in flight, and what it does each tick."""

    def __init__(self, spec: FleetSpec, index: int, name: str, faults: Set[str]):
        self.spec, self.index, self.name, self.faults = spec, index, name, faults
        self.rng = random.Random(f"{spec.seed}:{index}:{name}")
        self.registry = CollectorRegistry()
        prices = {m: _price(*PRICES[i % len(PRICES)]) for i, m in enumerate(spec.model_names) if i not in spec.unpriced}
        self.metrics = HermesMetrics(registry=self.registry, config=Instrumentation(
            known_tools=spec.tool_names, known_models=spec.model_names, prices=prices, default_provider="nous"))
        self.registry.register(_SimulatedProcess(self))
        self.cpu_seconds = 0.0
        self._in_flight: List[Tuple[float, int, str, str]] = []  # (ends at, steps, outcome, platform)

    def in_flight_count(self) -> int:
        return len(self._in_flight)

    def tick(self, now: float, dt: float) -> None:
        """Advance the agent by `dt` seconds ending at `now`: finish sessions, start new ones."""
        m, rng = self.metrics, self.rng
        still = []
        for end, steps, outcome, platform in self._in_flight:
            if end <= now:
                m.session_finished(steps, outcome, platform=platform)
            else:
                still.append((end, steps, outcome, platform))
        self._in_flight = still
        for _ in range(_poisson(rng, self.spec.sessions_per_minute * dt / 60.0)):
            self._session(now)
        m.set_queue_depth(max(0, len(self._in_flight) - 8 + rng.randint(0, 2)))
        self.cpu_seconds += dt * (0.05 + 0.01 * len(self._in_flight))

    def _session(self, now: float) -> None:
        m, rng, spec = self.metrics, self.rng, self.spec
        m.session_started()
        platform = _weighted(rng, PLATFORMS)
        total_seconds, steps, outcome = 0.0, 0, "completed"
        for _ in range(rng.randint(1, 3)):
            turn_seconds, status = 0.0, "success"
            n_steps = rng.randint(1, 4)
            for s in range(n_steps):
                model = spec.model_names[rng.randrange(len(spec.model_names))]
                steps += 1
                m.llm_request(model, "nous")
                step_seconds = rng.uniform(0.5, 4.0) * (25.0 if "latency_surge" in self.faults else 1.0)
                if ("rate_limit" in self.faults and model == spec.model_names[0] and rng.random() < 0.5) \
                        or rng.random() < spec.noise:
                    m.record_llm_error(model, reason="rate_limit" if "rate_limit" in self.faults else None,
                                       status_code=429 if "rate_limit" in self.faults else 500)
                    m.record_step(model, "error", step_seconds)
                    turn_seconds += step_seconds
                    status = "error"
                    break
                spike = 20 if "token_spike" in self.faults else 1
                tokens = _usage(rng, first=s == 0, spike=spike)
                price = m.price(model)
                surge = 50.0 if "cost_surge" in self.faults else 1.0
                costs = None if price is None else {t: n * price.of(t) * surge for t, n in tokens.items()}
                m.record_usage(model, tokens["prompt"], tokens["completion"], cache_read_tokens=tokens["cache_read"],
                               cache_write_tokens=tokens["cache_write"], reasoning_tokens=tokens["reasoning"],
                               provider="nous", costs=costs)
                last = s == n_steps - 1
                m.record_step(model, "answer" if last else "tool_use", step_seconds)
                turn_seconds += step_seconds
                if not last:
                    tool = spec.tool_names[rng.randrange(len(spec.tool_names))]
                    tool_seconds = rng.uniform(0.05, 2.0)
                    if "tool_outage" in self.faults and tool == spec.tool_names[0]:
                        tool_status = "error"
                    elif rng.random() < spec.noise:
                        tool_status = rng.choice(("error", "timeout"))
                    else:
                        tool_status = "success"
                    m.record_tool_call(tool, tool_status, tool_seconds)
                    turn_seconds += tool_seconds
            if status == "success" and rng.random() < spec.noise:
                status = "error"
            m.record_turn(status, turn_seconds, platform)
            total_seconds += turn_seconds
            outcome = "completed" if status == "success" else "failed"
        self._in_flight.append((now + total_seconds, steps, outcome, platform))


def _price(prompt: float, completion: float) -> Price:
    return Price(prompt, completion, cache_read=prompt * CACHE_READ_FACTOR, cache_write=prompt * CACHE_WRITE_FACTOR)


def _weighted(rng: random.Random, choices: Sequence[Tuple[str, float]]) -> str:
    x = rng.random()
    for value, weight in choices:
        x -= weight
        if x < 0:
            return value
    return choices[-1][0]


def _usage(rng: random.Random, first: bool, spike: int) -> Dict[str, int]:
    """One LLM call's tokens by type: the turn's first call writes part of the prompt to the cache, later
    calls read most of it back; a share of the output is reasoning."""
    inp, out = rng.randint(1500, 4000) * spike, rng.randint(100, 600) * spike
    write = int(inp * 0.3) if first else 0
    read = 0 if first else int(inp * rng.uniform(0.4, 0.8))
    reasoning = int(out * rng.uniform(0.0, 0.5))
    return {"prompt": inp - read - write, "completion": out - reasoning, "cache_read": read, "cache_write": write,
            "reasoning": reasoning}


class Fleet:
    """Several agents, their faults, and the two ways to expose them: live HTTP or backfill files."""

    def __init__(self, spec: FleetSpec, ports: Optional[Sequence[int]] = None):
        self.spec = spec
        self.faults: Set[str] = set()
        self.ports = list(ports) if ports else [9464 + i for i in range(spec.instances)]
        self.agents = [Agent(spec, i, f"{spec.host}:{p}", self.faults) for i, p in enumerate(self.ports)]
        self.crashed: Set[int] = set()
        #: serving live: agent position -> its HTTP server (None while the agent is crashed)
        self._servers: Dict[int, Optional[object]] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    # --- faults ------------------------------------------------------------------------------------
    def set_fault(self, name: str, on: bool = True) -> None:
        if name not in FAULTS or name == "crash":
            raise ValueError(f"unknown fault {name!r} (one of {', '.join(f for f in FAULTS if f != 'crash')};"
                             " crash an instance with crash(i))")
        with self._lock:
            (self.faults.add if on else self.faults.discard)(name)

    def crash(self, i: int) -> None:
        """Agent `i` dies: it stops answering scrapes (and, backfilling, stops producing samples)."""
        with self._lock:
            self.crashed.add(i)
            if i in self._servers:
                self._stop_server(i)

    def recover(self, i: int) -> None:
        """Agent `i` restarts: a fresh process, counters from zero."""
        with self._lock:
            self.crashed.discard(i)
            self.agents[i] = Agent(self.spec, i, self.agents[i].name, self.faults)
            if i in self._servers:
                self._servers[i] = self._start_server(i)

    def tick(self, now: float, dt: float, agents: Optional[Sequence[int]] = None) -> None:
        """Advance every running agent (or only those positions) by `dt` seconds ending at `now`."""
        with self._lock:
            for i in range(len(self.agents)) if agents is None else agents:
                if i not in self.crashed:
                    self.agents[i].tick(now, dt)

    # --- live --------------------------------------------------------------------------------------
    def _start_server(self, i: int):
        from prometheus_client import start_http_server
        server, _thread = start_http_server(self.ports[i], addr=self.spec.host, registry=self.agents[i].registry)
        return server

    def _stop_server(self, i: int) -> None:
        server, self._servers[i] = self._servers[i], None
        if server is not None:
            server.shutdown()
            server.server_close()

    def serve(self, tick_seconds: float = 1.0) -> None:
        """Serve every agent's /metrics on 127.0.0.1 and tick the fleet in real time in a thread."""
        for i in range(len(self.agents)):
            self._servers[i] = self._start_server(i)

        def loop() -> None:
            last = time.monotonic()
            while not self._stop.wait(tick_seconds):
                now = time.monotonic()
                self.tick(time.time(), now - last)
                last = now
        self._thread = threading.Thread(target=loop, name="hermes-dash-simulate", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        for i in list(self._servers):
            self._stop_server(i)
        self._servers.clear()

    # --- backfill ----------------------------------------------------------------------------------
    def backfill(self, start: float, end: float, step: float, out_dir: str, job: str,
                 faults_at: Sequence[Tuple[float, float, str]] = (), chunk_steps: int = 120,
                 progress=None, agents: Optional[Sequence[int]] = None, prefix: str = "chunk") -> List[str]:
        """Simulate from `start` to `end` (unix seconds), scraping every `step` seconds, and write the
        samples as OpenMetrics files (one per `chunk_steps` scrapes, each holding whole metric families,
        as `promtool tsdb create-blocks-from openmetrics` wants). `faults_at`: (from, to, fault) windows;
        the fault "crash" takes agent 0 down for its window. `agents`: only these (by position; the others
        are not simulated, so several processes can share a fleet). Returns the files written."""
        os.makedirs(out_dir, exist_ok=True)
        chosen = list(range(len(self.agents))) if agents is None else list(agents)
        files: List[str] = []
        chunk = _Chunk()
        t, n = start, 0
        total = int((end - start) // step) + 1
        while t <= end:
            active = {f for a, b, f in faults_at if a <= t < b}
            self.faults.clear()
            self.faults.update(active - {"crash"})
            if "crash" in active and 0 not in self.crashed:
                self.crash(0)
            elif "crash" not in active and 0 in self.crashed:
                self.recover(0)
            if n:
                self.tick(t, step, chosen)
            for i in chosen:
                chunk.scrape(self.agents[i], i in self.crashed, t, job)
            n += 1
            if n % chunk_steps == 0 or t + step > end:
                path = os.path.join(out_dir, f"{prefix}_{len(files):04d}.om")
                chunk.write(path)
                files.append(path)
                chunk = _Chunk()
            if progress:
                progress(n, total)
            t += step
        return files


def run_simulator(spec: FleetSpec, first_port: int = 9464, faults: Sequence[str] = (),
                  seconds: Optional[float] = None, backfill_hours: Optional[float] = None, step: int = 60,
                  out: str = "build/history", job: str = "hermes-agent") -> int:
    """`hermes-dash simulate`: serve the fleet's /metrics on 127.0.0.1:first_port.. until Ctrl-C (or for
    `seconds`), or with `backfill_hours` write that much history as OpenMetrics files under `out`."""
    import signal
    import sys
    ports = [first_port + i for i in range(spec.instances)]
    fleet = Fleet(spec, ports=ports)
    for f in faults:
        fleet.set_fault(f)
    if backfill_hours:
        end = time.time() // step * step
        files = fleet.backfill(end - backfill_hours * 3600, end, step, out, job)
        print(f"wrote {len(files)} OpenMetrics files to {out}/; import each with "
              f"`promtool tsdb create-blocks-from openmetrics FILE DATA_DIR`")
        return 0
    try:
        fleet.serve()
    except OSError as e:
        print(f"hermes-dash simulate: cannot listen on 127.0.0.1:{first_port}..: {e.strerror}", file=sys.stderr)
        return 1
    for p in ports:
        print(f"http://127.0.0.1:{p}/metrics")
    print(f"faults on: {', '.join(faults) or 'none'}; Ctrl-C stops", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(seconds)
    fleet.stop()
    return 0


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Chunk:
    """Scrapes of several agents over a few steps, kept per series, written as one OpenMetrics file with
    every metric family whole (HELP, TYPE, UNIT, then each series' samples in time order)."""

    def __init__(self) -> None:
        self.families: Dict[str, Tuple[str, str, str, Dict[Tuple[str, str], List[Tuple[float, float]]]]] = {}

    def scrape(self, agent: "Agent", crashed: bool, ts: float, job: str) -> None:
        target = f'{C.L_INSTANCE}="{_escape(agent.name)}",{C.L_JOB}="{_escape(job)}"'
        self._add(C.UP, "gauge", "1 if the target was scraped successfully.", "", C.UP, target, {},
                  0.0 if crashed else 1.0, ts)
        if crashed:
            return
        for fam in agent.registry.collect():
            for smp in fam.samples:
                if not smp.name.endswith("_created"):
                    self._add(fam.name, fam.type, fam.documentation, fam.unit, smp.name, target, smp.labels,
                              smp.value, ts)

    def _add(self, family, typ, doc, unit, name, target, labels, value, ts) -> None:
        entry = self.families.get(family)
        if entry is None:
            entry = self.families[family] = (typ, doc, unit, {})
        lbl = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        key = (name, "{" + (lbl + "," if lbl else "") + target + "}")
        entry[3].setdefault(key, []).append((value, ts))

    def write(self, path: str) -> None:
        from prometheus_client.utils import floatToGoString
        with open(path, "w", encoding="utf-8") as f:
            for family, (typ, doc, unit, series) in self.families.items():
                f.write(f"# HELP {family} {doc.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}\n")
                f.write(f"# TYPE {family} {typ}\n")
                if unit:
                    f.write(f"# UNIT {family} {unit}\n")
                for (name, labels), points in sorted(series.items()):
                    f.writelines(f"{name}{labels} {floatToGoString(v)} {ts:.3f}\n" for v, ts in points)
            f.write("# EOF\n")
