"""The generated Grafana dashboards: current, deterministic, importable, and querying only known names."""
import copy
import json
from pathlib import Path

import pytest

from hermes_dash import catalogue as C
from hermes_dash.config import DEFAULT, config_from_mapping
from hermes_dash.build.dashboards import build_json, registry, render_all
from hermes_dash.build.text import JSON_MARK
from hermes_dash.build.dashboards._common import DS, SCHEMA_VERSION
from hermes_dash.build.lint import dashboard_exprs, lint_dashboard, promtool_check_exprs

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
NAMES = [d.name for d in registry()]


@pytest.fixture(scope="module")
def built():
    return {n: build_json(n, DEFAULT) for n in NAMES}


def panels_of(d):
    return [p for p in d["panels"] if p["type"] != "row"]


def test_committed_dashboards_are_fresh():
    """dashboards/*.json equal what the default config builds now, and no other file is there."""
    files = render_all(DEFAULT)
    assert sorted(p.name for p in (ROOT / "dashboards").glob("*.json")) == sorted(files)
    for name, text in files.items():
        assert (ROOT / "dashboards" / name).read_text() == text, f"{name} is stale: run `make dashboards`"


def test_build_is_deterministic():
    """Two builds give byte-identical JSON (sorted keys, no timestamps, stable ids)."""
    assert render_all(DEFAULT) == render_all(DEFAULT)


def test_identity_and_metadata(built):
    """Stable uids hermes-<name>, a current schemaVersion, the generated marker, the hermes tag."""
    for name, d in built.items():
        assert d["uid"] == f"hermes-{name}"
        assert d["schemaVersion"] == SCHEMA_VERSION
        assert JSON_MARK in d["description"]
        assert d["tags"] == ["hermes"]
        assert d["id"] is None


def test_every_panel_uses_the_datasource_variable(built):
    """A `datasource` variable of type datasource exists and every panel and target reads it."""
    for name, d in built.items():
        ds = [v for v in d["templating"]["list"] if v["name"] == "datasource"]
        assert [(v["type"], v["query"]) for v in ds] == [("datasource", "prometheus")], name
        for p in panels_of(d):
            assert p["datasource"] == DS, (name, p["title"])
            assert all(t["datasource"] == DS for t in p["targets"]), (name, p["title"])


def test_label_variables_are_multi_with_all(built):
    """instance/model/tool_name variables come from label_values of catalogue metrics, multi with All."""
    for name, d in built.items():
        for v in d["templating"]["list"]:
            if v["name"] == "datasource":
                continue
            assert v["name"] in ("instance", "model", "tool_name"), name
            assert v["query"].startswith("label_values(hermes_"), v["query"]
            assert (v["multi"], v["includeAll"], v["allValue"]) == (True, True, ".*"), (name, v["name"])
        assert "instance" in [v["name"] for v in d["templating"]["list"]], name


def test_units_descriptions_and_rate_interval(built):
    """Every panel has a unit and a description; every rate() uses $__rate_interval or a fixed window."""
    units = {"s", "percentunit", "currencyUSD", "short", "reqps", "bytes"}
    for name, d in built.items():
        for p in panels_of(d):
            unit = p["fieldConfig"]["defaults"].get("unit")
            assert unit in units, (name, p["title"], unit)
            assert p["description"], (name, p["title"])
            for t in p["targets"]:
                if "rate(" in t["expr"]:
                    assert "[$__rate_interval]" in t["expr"], (name, p["title"])


def test_panels_do_not_overlap_and_ids_are_unique(built):
    """No two panels share a grid cell; ids are unique; everything fits 24 columns."""
    for name, d in built.items():
        cells = {}
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in d["panels"]:
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, (name, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, (name, p["title"], cells.get((x, y)))
                    cells[(x, y)] = p["title"]


def test_links_annotations_and_rows(built):
    """Each dashboard links to the others (by tag), shows firing Hermes alerts, and has rows."""
    for name, d in built.items():
        assert [(link["type"], link["tags"]) for link in d["links"]] == [("dashboards", ["hermes"])]
        ann = d["annotations"]["list"]
        assert [a["expr"] for a in ann] == ['ALERTS{alertname=~"Hermes.*", alertstate="firing"}']
        assert any(p["type"] == "row" for p in d["panels"]), name
    linked = {p["links"][0]["url"].split("?")[0] for p in panels_of(built["overview"]) if p.get("links")}
    assert linked == {f"/d/hermes-{n}" for n in NAMES if n != "overview"}


def threshold_of(d, title):
    p = next(p for p in panels_of(d) if p["title"] == title)
    steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps if s["value"] is not None]


def test_threshold_lines_follow_the_config():
    """Threshold lines equal the config's values, and a changed config file moves them."""
    d = build_json("latency", DEFAULT)
    assert threshold_of(d, "Turn latency P50 / P95 / P99") == [DEFAULT.thresholds.latency_p95_seconds]
    cfg = config_from_mapping({"thresholds": {"latency_p95_seconds": 12.5, "tool_error_rate": 0.2,
                                              "session_capacity_per_instance": 7, "token_spike_factor": 3,
                                              "token_spike_min_tokens_per_second": 250}})
    assert threshold_of(build_json("latency", cfg), "Turn latency P50 / P95 / P99") == [12.5]
    assert threshold_of(build_json("reliability", cfg), "Tool failure share by tool") == [0.2]
    assert threshold_of(build_json("capacity", cfg), "Active sessions by instance") == [7]
    cap = next(p for p in panels_of(build_json("capacity", cfg)) if p["title"] == "Capacity used by instance")
    assert cap["targets"][0]["expr"].endswith(" / 7")
    assert threshold_of(build_json("cost", cfg), "Token rate against the spike alert") == [250]
    spike = next(p for p in panels_of(build_json("cost", cfg)) if p["title"] == "Token rate against the spike alert")
    assert spike["targets"][1]["expr"] == '3 * avg_over_time(hermes:tokens:rate5m{job="hermes-agent"}[1h])'


def test_job_selector_and_datasource_follow_the_config():
    """selectors.job replaces the job in every query; grafana.datasource is the variable's default."""
    cfg = config_from_mapping({"selectors": {"job": "agents"}, "grafana": {"datasource": "Mimir"}})
    d = build_json("reliability", cfg)
    exprs = [e for _, e in dashboard_exprs(d) if "hermes_" in e]
    assert exprs and all('job="agents"' in e and "hermes-agent" not in e for e in exprs)
    ds = next(v for v in d["templating"]["list"] if v["name"] == "datasource")
    assert (ds["current"]["text"], ds["current"]["value"]) == ("Mimir", "Mimir")


def test_every_query_names_known_metrics_and_labels(built):
    """promql-parser parses every query and finds only catalogue/recording-rule/known-external names."""
    for d in built.values():
        assert lint_dashboard(d) == []


def test_promtool_accepts_every_query(built):
    """promtool (the authority on syntax) accepts every query, Grafana macros replaced."""
    exprs = [x for d in built.values() for x in dashboard_exprs(d)]
    assert len(exprs) > 40
    assert promtool_check_exprs(exprs, require_tool("promtool")) == []


def test_unknown_metric_is_reported_with_dashboard_and_panel(built):
    """A panel naming a metric outside the catalogue fails, naming dashboard, panel and metric."""
    d = copy.deepcopy(built["cost"])
    p = next(p for p in panels_of(d) if p["title"] == "USD per hour")
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace(C.COST.name, "hermes_cost_total")
    assert lint_dashboard(d) == ['hermes-cost: panel "USD per hour": unknown metric hermes_cost_total']
    p["targets"][0]["expr"] = 'sum by (tool_name) (rate(hermes_cost_usd_total{colour="red"}[5m]))'
    assert lint_dashboard(d) == [
        'hermes-cost: panel "USD per hour": metric hermes_cost_usd_total has no label colour',
        'hermes-cost: panel "USD per hour": groups by label tool_name that none of hermes_cost_usd_total has']


def test_promtool_rejection_names_the_panel():
    """An expression promtool rejects is reported with where it came from."""
    assert promtool_check_exprs([("x: panel \"ok\"", "sum(up)"), ("x: panel \"bad\"", "sum(up")],
                                require_tool("promtool")) == ['x: panel "bad": promtool rejects: sum(up']


SCHEMA = ROOT / "schemas" / "grafana-dashboard.schema.json"


def _schema_errors(d):
    import jsonschema
    schema = json.loads(SCHEMA.read_text())
    v = jsonschema.Draft7Validator(schema)
    out = []
    for e in v.iter_errors(d):
        deepest = max(e.context, key=lambda c: len(list(c.absolute_path))) if e.context else e
        out.append(f"{'/'.join(map(str, deepest.absolute_path))}: {deepest.message}")
    return out


def test_dashboards_validate_against_grafanas_schema(built):
    """Every dashboard validates against the JSON Schema generated from @grafana/schema's dashboard
    types, and uses the schemaVersion that schema records."""
    schema = json.loads(SCHEMA.read_text())
    assert schema["x-grafana-schema-version"] == "13.2.3"
    assert schema["x-dashboard-schema-version"] == SCHEMA_VERSION
    for name, d in built.items():
        assert _schema_errors(d) == [], name


def test_schema_check_catches_a_broken_dashboard(built):
    """The schema check can fail: a panel id as a string and a link without its required fields."""
    d = copy.deepcopy(built["overview"])
    d["panels"][1]["id"] = "one"
    del d["links"][0]["title"]
    errs = _schema_errors(d)
    assert any(e.startswith("links/0: 'title' is a required property") for e in errs), errs
    assert len(errs) == 2, errs


def test_provisioning_files_match_the_dashboards():
    """The provisioned datasource is the variable's default, and the provider loads a file directory."""
    import yaml
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert [(d["name"], d["type"]) for d in ds["datasources"]] == [(DEFAULT.grafana.datasource, "prometheus")]
    prov = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/hermes.yml").read_text())
    assert [(p["type"], p["folder"]) for p in prov["providers"]] == [("file", "Hermes")]
