"""The simulated fleet: deterministic, driven by the instrumentation, faults visible; `make demo` starts and stops."""
import re
import socket

from prometheus_client import generate_latest

from hermes_dash import catalogue as C
from hermes_dash.harness.simulate import Fleet, FleetSpec

from conftest import cli, require_tool


def run(fleet, minutes=10):
    for m in range(1, minutes + 1):
        fleet.tick(m * 60.0, 60.0)
    return [generate_latest(a.registry).decode() for a in fleet.agents]


def value(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_the_same_seed_gives_the_same_fleet():
    """Two fleets with one seed expose identical metrics after the same ticks; another seed differs."""
    spec = FleetSpec(instances=2, tools=3, models=2, seed=11)
    assert run(Fleet(spec, ports=[1, 2])) == run(Fleet(spec, ports=[1, 2]))
    assert run(Fleet(FleetSpec(instances=2, tools=3, models=2, seed=12), ports=[1, 2])) != \
        run(Fleet(spec, ports=[1, 2]))


def test_agents_expose_the_catalogue_through_the_instrumentation():
    """Every catalogue metric is exposed (by HermesMetrics), plus simulated process and GPU series."""
    text = run(Fleet(FleetSpec(instances=1, tools=2, models=2, seed=1), ports=[1]))[0]
    names = {line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert {m.name for m in C.METRICS} <= names
    assert {C.PROCESS_MEMORY, C.PROCESS_CPU} <= names
    assert value(text, C.TURN_DURATION.name + "_count") > 0
    assert value(text, C.COST.name) > 0


def test_faults_show_in_the_metrics():
    """tool_outage fails every call of the first tool; rate_limit counts rate_limit errors; cost_surge
    multiplies spend by 50 (same seed, same traffic)."""
    spec = FleetSpec(instances=1, tools=3, models=2, seed=4, noise=0.0)
    calm = run(Fleet(spec, ports=[1]))[0]
    faulty = Fleet(spec, ports=[1])
    for f in ("tool_outage", "rate_limit"):
        faulty.set_fault(f)
    text = run(faulty)[0]
    assert value(calm, C.TOOL_CALLS.name, tool_name="web_search", status="error") == 0
    assert value(text, C.TOOL_CALLS.name, tool_name="web_search", status="success") == 0
    assert value(text, C.TOOL_CALLS.name, tool_name="web_search", status="error") > 0
    assert value(text, C.LLM_ERRORS.name, model="hermes-3-70b", error_type="rate_limit") > 0
    surge = Fleet(spec, ports=[1])
    surge.set_fault("cost_surge")
    ratio = value(run(surge)[0], C.COST.name) / value(calm, C.COST.name)
    assert abs(ratio - 50) < 1e-6


def test_demo_starts_everything_and_stops_by_itself(tmp_path):
    """`hermes-dash demo` backfills, starts the simulator, Prometheus and Alertmanager, prints
    their URLs, writes a preview of every dashboard over the history, and when it stops leaves no server
    listening."""
    require_tool("promtool")
    preview = tmp_path / "preview"
    out = cli("demo", "--hours", "0.5", "--exit-after", "3", "--instances", "2", "--keep", str(tmp_path / "demo"),
              "--preview", str(preview), timeout=240)
    assert out.returncode == 0, out.stderr
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)", out.stdout)
    assert "Prometheus:" in out.stdout and "Alertmanager:" in out.stdout and len(set(urls)) == 4
    assert "backfilling history: 31/31 scrapes (100%)" in out.stderr
    assert f"preview:      {preview / 'index.html'} (7 dashboards, 0 panels without data)" in out.stdout
    assert len(list(preview.glob("hermes-*/hermes-*-panel-*.png"))) == 57
    for port in set(urls):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(port))) != 0, f"port {port} still open"
