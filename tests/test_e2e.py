"""End to end on a real Prometheus and Alertmanager (127.0.0.1, free ports, stopped afterwards), fed by the
simulated fleet driving hermes-dash's own instrumentation."""
import json
import math
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from hermes_dash.config import DEFAULT
from hermes_dash.history import backfill_rules, write_history
from hermes_dash.lint import dashboard_exprs
from hermes_dash.rules import RECORDING_FILE, recording_groups
from hermes_dash.servers import free_port, prometheus
from hermes_dash.simulate import Fleet, FleetSpec

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
HOURS = 6  # every dashboard's default range is now-6h

# Grafana's macros and variables as Grafana would send them for the default range with "All" selected
MACROS = {"$__rate_interval": "4m", "$__interval": "1m", "$__range": f"{HOURS}h"}
VARIABLES = re.compile(r"\$(instance|model|tool_name)\b")


def grafana_query(expr: str) -> str:
    for k, v in MACROS.items():
        expr = expr.replace(k, v)
    return VARIABLES.sub(".*", expr)


def query_range(server, expr: str, start: float, end: float, step: int = 60):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    data = server.get(f"/api/v1/query_range?{q}", timeout=60)
    assert data["status"] == "success", data
    return data["data"]["result"]


def has_data(result) -> bool:
    return any(math.isfinite(float(v)) for series in result for _, v in series["values"])


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Six hours and ten minutes of a 3-agent fleet (a tool outage, LLM rate limiting, a cost surge and a
    crash along the way) backfilled into a TSDB with the recording rules, served by a real Prometheus."""
    require_tool("promtool")
    work = tmp_path_factory.mktemp("history")
    data = work / "data"
    end = time.time() // 60 * 60
    start = end - HOURS * 3600 - 600
    fleet = Fleet(FleetSpec(instances=3, tools=4, models=2, seed=3, noise=0.02, unpriced=(1,)),
                  ports=[19464, 19465, 19466])
    faults = [(end - 5 * 3600, end - 4 * 3600, "tool_outage"), (end - 3 * 3600, end - 2.5 * 3600, "rate_limit"),
              (end - 2 * 3600, end - 1.5 * 3600, "cost_surge"), (end - 3600, end - 3000, "crash")]
    write_history(fleet, start, end, 60, str(data), DEFAULT.selectors.job, faults_at=faults)
    cfg = work / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n")
    with prometheus(str(cfg), str(work), data_dir=str(data)) as prom:
        backfill_rules(prom.url, start, end, [str(ROOT / "rules" / RECORDING_FILE)], str(data))
    with prometheus(str(cfg), str(work), data_dir=str(data)) as prom:  # restarted: loads the rule blocks
        yield prom, end


def test_every_panel_of_every_dashboard_returns_data(history):
    """Every query of every panel (Grafana macros replaced, variables at All) returns data over the
    dashboard's default range; a panel without data fails naming dashboard and panel."""
    prom, end = history
    empty, checked = [], 0
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        d = json.loads(path.read_text())
        for where, expr in dashboard_exprs(d):
            if ": panel " not in where:
                continue  # variables and the alert annotation are not panels
            checked += 1
            if not has_data(query_range(prom, grafana_query(expr), end - HOURS * 3600, end)):
                empty.append(f"{where}: {expr}")
    assert empty == [], "panels with no data:\n" + "\n".join(empty)
    assert checked == 40


def test_every_recording_rule_has_series(history):
    """Each recording rule, backfilled with promtool from the raw history, has series in the range."""
    prom, end = history
    names = [r["record"] for g in recording_groups(DEFAULT) for r in g["rules"]]
    missing = [n for n in names if not has_data(query_range(prom, n, end - HOURS * 3600, end))]
    assert missing == []
    assert len(names) == 29


def test_history_shows_the_faults_it_was_given(history):
    """The backfilled faults are where they were put: the tool outage raises web_search's failure ratio,
    the crash takes one instance's `up` to 0."""
    prom, end = history
    ratio = query_range(prom, 'hermes:tool_failure_ratio:5m{tool_name="web_search"}', end - 4.5 * 3600,
                        end - 4.5 * 3600, step=60)
    assert float(ratio[0]["values"][0][1]) == 1.0
    down = query_range(prom, "up == 0", end - 3300, end - 3300)
    assert [s["metric"]["instance"] for s in down] == ["127.0.0.1:19464"]
