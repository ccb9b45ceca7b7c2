"""The generated Grafana dashboards: current, deterministic, what Grafana 13.2.3 itself would save, clean
under Grafana's own linter and types, filtered by the job and instance pickers, naming only known series."""
import copy
import re

import pytest
import yaml

from hermes_dash import catalogue as C
from hermes_dash.build import grafana_linter, grafana_schema
from hermes_dash.build.dashboards import build_json, registry, render_all
from hermes_dash.build.dashboards._common import DS, SCHEMA_VERSION
from hermes_dash.build.dashboards._save_model import GRAFANA_VERSION
from hermes_dash.build.lint import (dashboard_exprs, grafana_expand, lint_dashboard, panels_of,
                                    promtool_check_exprs, undefined_variables)
from hermes_dash.build.text import JSON_MARK
from hermes_dash.config import DEFAULT, config_from_mapping

from conftest import ROOT, require_tool

NAMES = [d.name for d in registry()]


@pytest.fixture(scope="module")
def built():
    return {n: build_json(n, DEFAULT) for n in NAMES}


def panels(d):
    return [p for p in panels_of(d) if p["type"] != "row"]


def panel(d, title):
    return next(p for p in panels(d) if p["title"] == title)


def test_committed_dashboards_are_fresh():
    """dashboards/*.json equal what the default config builds now, and no other file is there."""
    files = render_all(DEFAULT)
    assert sorted(p.name for p in (ROOT / "dashboards").glob("*.json")) == sorted(files)
    for name, text in files.items():
        assert (ROOT / "dashboards" / name).read_text() == text, f"{name} is stale: run `make dashboards`"


def test_build_is_deterministic():
    """Two builds give byte-identical JSON (sorted keys, no timestamps, stable ids)."""
    assert render_all(DEFAULT) == render_all(DEFAULT)


def test_the_registry_holds_the_dashboards_in_link_order():
    """Every dashboard module is found by convention, in its declared order, with its title."""
    assert [(d.name, d.title) for d in registry()] == [
        ("overview", "Hermes / Overview"), ("latency", "Hermes / Latency"), ("reliability", "Hermes / Reliability"),
        ("cost", "Hermes / Cost"), ("capacity", "Hermes / Capacity"), ("business", "Hermes / Business"),
        ("slo", "Hermes / SLOs")]


def test_identity_and_metadata(built):
    """Stable uids hermes-<name>, the current schemaVersion, the generated marker, the hermes tag, not
    editable (provisioned from code), no numeric id (Grafana assigns it; the uid identifies)."""
    for name, d in built.items():
        assert (d["uid"], d["schemaVersion"], d["tags"], d["editable"]) == (f"hermes-{name}", SCHEMA_VERSION,
                                                                            ["hermes"], False)
        assert d["description"].endswith(JSON_MARK)
        assert "id" not in d


def test_grafanas_own_linter_finds_nothing(built):
    """Every rule of grafana/dashboard-linter, strict (warnings count), no exclusions: no finding."""
    for name, d in built.items():
        findings = grafana_linter.lint_dashboard(d, strict=True)
        assert findings == [], (name, findings)
        assert not grafana_linter.lint_failed(findings, strict=True)


def test_the_linter_catches_what_the_seed_dashboards_did(built):
    """An editable dashboard, a baked-in job and an instance All of .* each fail Grafana's linter."""
    d = copy.deepcopy(built["capacity"])
    d["editable"] = True
    next(v for v in d["templating"]["list"] if v["name"] == "instance")["allValue"] = ".*"
    p = panel(d, "Resident memory")
    p["targets"][0]["expr"] = 'process_resident_memory_bytes{job="hermes-agent", instance=~"$instance"}'
    got = sorted((f.rule, f.message) for f in grafana_linter.lint_dashboard(d, strict=True))
    assert got == [
        ("target-job-rule", "Dashboard 'Hermes / Capacity', panel 'Resident memory', target idx '0' invalid PromQL "
                            "query 'process_resident_memory_bytes{job=\"hermes-agent\", instance=~\"$instance\"}': "
                            "job selector is hermes-agent, not $job"),
        ("template-instance-rule", "Dashboard 'Hermes / Capacity' instance template allValue should be '.+', is "
                                   "currently '.*'"),
        ("uneditable-dashboard", "Dashboard 'Hermes / Capacity' is editable, it should be set to 'editable: false'")]


def test_dashboards_validate_against_grafanas_closed_types(built):
    """Every dashboard validates against Grafana 13.2.3's types held closed (dashboard, rows, panels with
    their plugin's options and field config, PromQuery targets, variables, annotations)."""
    schema = grafana_schema.schema()
    assert (schema["x-grafana-version"], schema["x-dashboard-schema-version"]) == (GRAFANA_VERSION, SCHEMA_VERSION)
    for name, d in built.items():
        assert grafana_schema.validate(d) == [], name


def test_the_closed_schema_rejects_grafanalibs_legacy_shape(built):
    """The schema check can fail: keys grafanalib 0.7.1 emits and Grafana 13 does not write are named,
    each with the type that refuses it."""
    d = copy.deepcopy(built["business"])
    p = d["panels"][2]  # "Task completion rate over time", a timeseries
    p["maxDataPoints"], p["error"] = 100, False
    p["targets"][0]["metric"] = ""
    del p["options"]["legend"]["showLegend"]
    d["panels"][0]["targets"] = []  # a row
    assert grafana_schema.validate(d) == [
        "$.panels[0].targets: unexpected key (not in RowPanel)",
        "$.panels[2].error: unexpected key (not in Panel.timeseries)",
        "$.panels[2].options.legend: missing required key 'showLegend' (required by timeseries.TimeSeriesLegendOptions)",
        "$.panels[2].targets[0].metric: unexpected key (not in prometheus.PromQuery)"]


def test_panels_are_saved_as_grafana_13_saves_them(built):
    """No resolution cap (Grafana sizes the step to the panel), PromQuery targets in the code editor,
    the plugin version, and the built-in annotation Grafana adds on load."""
    for name, d in built.items():
        for p in panels(d):
            assert "maxDataPoints" not in p and p["pluginVersion"] == GRAFANA_VERSION, (name, p["title"])
            for t in p["targets"]:
                assert (t["datasource"], t["editorMode"], t["range"]) == (DS, "code", not t["instant"])
        assert d["annotations"]["list"][0]["builtIn"] == 1


def test_every_dashboard_has_job_and_instance_pickers(built):
    """job and instance are multi-select query variables with All = .+, labelled Job and Instance,
    refreshed on time change; model and tool only where a query uses them."""
    for name, d in built.items():
        vs = {v["name"]: v for v in d["templating"]["list"]}
        assert list(vs)[:3] == ["datasource", "job", "instance"], name
        for n, label in (("job", "Job"), ("instance", "Instance")):
            v = vs[n]
            assert (v["type"], v["label"], v["multi"], v["includeAll"], v["allValue"], v["refresh"]) == \
                ("query", label, True, True, ".+", 2), (name, n)
            assert v["query"]["query"] == v["definition"]
        used = {var for _, e in dashboard_exprs(d) for var in re.findall(r"\$(\w+)", e)} - {"__rate_interval", "__range"}
        assert set(vs) - {"datasource"} == used, name
    assert vs["job"]["definition"] == 'label_values(hermes_active_sessions{job="hermes-agent"}, job)'
    assert vs["instance"]["definition"] == 'label_values(hermes_active_sessions{job=~"$job"}, instance)'


def test_every_selector_is_filtered_by_the_job_and_instance_pickers(built):
    """Each vector selector of every panel query carries job=~"$job" and instance=~"$instance"."""
    import promql_parser
    from hermes_dash.build.lint import _nodes, expand_macros
    for name, d in built.items():
        for where, expr in dashboard_exprs(d):
            if ": panel " not in where:
                continue
            for node in _nodes(promql_parser.parse(expand_macros(expr))):
                if isinstance(node, promql_parser.VectorSelector):
                    ms = {(m.name, str(m.op), m.value) for m in node.matchers.matchers}
                    assert {("job", "MatchOp.Re", "$job"), ("instance", "MatchOp.Re", "$instance")} <= ms, \
                        (where, expr, ms)


def test_no_query_uses_an_undefined_variable(built):
    """Every $variable a query uses is one of its dashboard's variables or a Grafana global."""
    for name, d in built.items():
        defined = {v["name"] for v in d["templating"]["list"]}
        assert [(w, undefined_variables(e, defined)) for w, e in dashboard_exprs(d)
                if undefined_variables(e, defined)] == [], name


def test_an_undefined_variable_fails_lint(built):
    """The overview's old "USD per hour" ($model on a dashboard without a model variable) fails lint,
    naming the dashboard, the panel and the variable."""
    d = copy.deepcopy(built["overview"])
    p = panel(d, "USD per hour")
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace('instance=~"$instance"',
                                                              'instance=~"$instance", model=~"$model"')
    assert lint_dashboard(d) == ['hermes-overview: panel "USD per hour": uses $model, which the dashboard does '
                                 'not define (Grafana sends it as written)']


def test_grafana_expands_variables_as_grafana_does(built):
    """All is the variable's allValue, a choice is its regex-escaped value (several: an alternation), and a
    variable the dashboard does not define is left as written."""
    d = built["cost"]
    expr = 'sum(x{job=~"$job", instance=~"$instance", model=~"$model", tool=~"$tool_name"}[$__rate_interval])'
    assert grafana_expand(expr, d, "6h", "4m", "30s") == \
        'sum(x{job=~".+", instance=~".+", model=~".+", tool=~"$tool_name"}[4m])'
    assert grafana_expand(expr, d, "6h", "4m", "30s", {"instance": ["10.0.0.1:9464", "b"], "model": ["m.1"]}) == \
        r'sum(x{job=~".+", instance=~"(10\\.0\\.0\\.1:9464|b)", model=~"m\\.1", tool=~"$tool_name"}[4m])'


def test_units_descriptions_and_rate_interval(built):
    """Every panel has a unit and a description; every rate() uses $__rate_interval."""
    units = {"s", "percentunit", "currencyUSD", "short", "reqps", "bytes", "none"}
    for name, d in built.items():
        for p in panels(d):
            assert p["fieldConfig"]["defaults"].get("unit") in units, (name, p["title"])
            assert p["description"], (name, p["title"])
            for t in p["targets"]:
                for window in re.findall(r"\brate\([^\[]*\[([^\]]+)\]", t["expr"]):
                    assert window == "$__rate_interval", (name, p["title"])


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
    """Each dashboard links to the others (by tag), shows firing Hermes alerts of the chosen jobs, and has
    rows; the overview links to every other registered dashboard."""
    for name, d in built.items():
        assert [(link["type"], link["tags"]) for link in d["links"]] == [("dashboards", ["hermes"])]
        ann = d["annotations"]["list"][1]
        assert (ann["name"], ann["target"]["expr"]) == (
            "Hermes alerts", 'ALERTS{alertname=~"Hermes.*", alertstate="firing", job=~"$job"}')
        assert any(p["type"] == "row" for p in d["panels"]), name
    linked = {p["links"][0]["url"] for p in panels(built["overview"]) if p.get("links")}
    assert linked == {f"/d/hermes-{n}" for n in NAMES if n != "overview"}


def threshold_of(d, title):
    steps = panel(d, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
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
    assert panel(build_json("capacity", cfg), "Capacity used by instance")["targets"][0]["expr"].endswith(" / 7")
    assert threshold_of(build_json("cost", cfg), "Token rate against the spike alert") == [250]
    assert panel(build_json("cost", cfg), "Token rate against the spike alert")["targets"][1]["expr"] == \
        '3 * sum(avg_over_time(hermes_instance:tokens:rate5m{job=~"$job", instance=~"$instance"}[1h]))'


def test_thresholds_reach_panels_exactly_as_they_reach_the_alerts():
    """A threshold of more than six digits (1234567) and one with many decimals reach the panel queries and
    descriptions as written, the same literal the alert rules use (Python's :g would write 1.23457e+06)."""
    from hermes_dash.build.rules import all_alert_rules
    cfg = config_from_mapping({"thresholds": {"daily_token_budget": 1234567, "session_capacity_per_instance": 1234567,
                                              "token_spike_factor": 2.123456789}})
    cost, capacity = build_json("cost", cfg), build_json("capacity", cfg)
    assert panel(cost, "Daily token budget used")["targets"][0]["expr"].endswith(" / 1234567")
    assert "daily budget of 1234567 " in panel(cost, "Daily token budget used")["description"]
    assert panel(capacity, "Capacity used by instance")["targets"][0]["expr"].endswith(" / 1234567")
    assert panel(cost, "Token rate against the spike alert")["targets"][1]["expr"].startswith("2.123456789 * ")
    alerts = {r.name: r for r in all_alert_rules(cfg)}
    assert "> 1234567" in alerts[C.A_DAILY_TOKEN_BUDGET].expr
    assert "2.123456789 *" in alerts[C.A_TOKEN_SPIKE].expr


def test_job_selector_and_datasource_follow_the_config():
    """selectors.job bounds the job picker's values (several jobs: an escaped alternation); panels never
    name a job; grafana.datasource is the datasource variable's default."""
    cfg = config_from_mapping({"selectors": {"job": "agents|agents.staging"}, "grafana": {"datasource": "Mimir"}})
    d = build_json("reliability", cfg)
    vs = {v["name"]: v for v in d["templating"]["list"]}
    assert vs["job"]["definition"] == r'label_values(hermes_active_sessions{job=~"agents|agents\\.staging"}, job)'
    assert all("agents" not in e for w, e in dashboard_exprs(d) if ": panel " in w)
    assert (vs["datasource"]["current"]["text"], vs["datasource"]["current"]["value"]) == ("Mimir", "Mimir")


def test_every_query_names_known_metrics_and_labels(built):
    """hermes-dash lint (Grafana's linter, its types, defined variables, catalogue names) passes."""
    for d in built.values():
        assert lint_dashboard(d) == []


def test_promtool_accepts_every_query(built):
    """promtool (the authority on syntax) accepts every query, Grafana macros replaced."""
    exprs = [x for d in built.values() for x in dashboard_exprs(d)]
    assert len(exprs) == 72 + 7 * 2 + 5 + 7  # panel targets, job and instance, model and tool, annotations
    assert promtool_check_exprs(exprs, require_tool("promtool")) == []


def test_unknown_metric_is_reported_with_dashboard_and_panel(built):
    """A panel naming a metric or label outside the catalogue fails, naming dashboard, panel and name."""
    d = copy.deepcopy(built["cost"])
    p = panel(d, "USD per hour")
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace(C.COST.name, "hermes_cost_total")
    assert lint_dashboard(d) == ['hermes-cost: panel "USD per hour": unknown metric hermes_cost_total']
    p["targets"][0]["expr"] = ('sum by (tool_name) (rate(hermes_cost_usd_total{job=~"$job", instance=~"$instance", '
                               'colour="red"}[$__rate_interval]))')
    assert lint_dashboard(d) == [
        'hermes-cost: panel "USD per hour": metric hermes_cost_usd_total has no label colour',
        'hermes-cost: panel "USD per hour": groups by label tool_name that none of hermes_cost_usd_total has']


def test_promtool_rejection_names_the_panel():
    """An expression promtool rejects is reported with where it came from."""
    assert promtool_check_exprs([("x: panel \"ok\"", "sum(up)"), ("x: panel \"bad\"", "sum(up")],
                                require_tool("promtool")) == ['x: panel "bad": promtool rejects: sum(up']


def test_provisioning_files_match_the_dashboards():
    """The provisioned datasource is the variable's default, and the provider loads a file directory."""
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert [(d["name"], d["type"]) for d in ds["datasources"]] == [(DEFAULT.grafana.datasource, "prometheus")]
    prov = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/hermes.yml").read_text())
    assert [(p["type"], p["folder"]) for p in prov["providers"]] == [("file", "Hermes")]


def test_the_slo_dashboard_follows_the_slo_config():
    """For each SLO: its objective as the SLI's line, the period in the error-budget panels, one burn-rate
    panel per page and ticket condition with its factor as the threshold line, and the alert condition
    state mapped to OK / Ticket / Page; a changed config moves all of them."""
    cfg = config_from_mapping({"slo": {"turn_success_target": 0.995, "period": "28d",
                                       "page": [{"factor": 10, "long": "2h", "short": "10m"}],
                                       "ticket": [{"factor": 2, "long": "2d", "short": "4h"}]}})
    d = build_json("slo", cfg)
    rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
    assert rows == ["Turn success (interrupted turns left out): objective 99.5% over 28d",
                    "Turn success (interrupted turns left out): burn rate over each alert window",
                    "Turn latency within 60s: objective 99% over 28d",
                    "Turn latency within 60s: burn rate over each alert window"]
    assert threshold_of(d, "SLI over 28d") == [0.995]
    burn = [p for p in panels(d) if "burn rate over" in p["title"]]
    assert [(p["title"], threshold_of(d, p["title"])) for p in burn[:2]] == [
        ("Page: burn rate over 2h and 10m (condition above 10x)", [10]),
        ("Ticket: burn rate over 2d and 4h (condition above 2x)", [2])]
    assert burn[0]["targets"][0]["expr"] == (
        '(sum(hermes_instance:slo_turns_failed:increase2h{job=~"$job", instance=~"$instance"}) / '
        'sum(hermes_instance:slo_turns_judged:increase2h{job=~"$job", instance=~"$instance"})) / (1 - 0.995)')
    left = panel(d, "Error budget left")["targets"][0]["expr"]
    assert "increase28d" in left and left.endswith("/ (1 - 0.995)")
    state = panel(d, "Burn-rate alert conditions now")
    assert state["fieldConfig"]["defaults"]["mappings"] == [{"type": "value", "options": {
        "0": {"color": "green", "index": 0, "text": "OK"}, "1": {"color": "orange", "index": 1, "text": "Ticket"},
        "2": {"color": "red", "index": 2, "text": "Page"}}}]



def test_a_cluster_label_adds_a_cluster_picker_that_filters_every_selector():
    """selectors.cluster_label: cluster puts a Cluster picker before Job (All = .+), the job and instance
    pickers list only the chosen clusters' values, every selector of every panel and annotation carries
    cluster=~"$cluster", and Grafana's linter and closed types still find nothing."""
    import promql_parser
    from hermes_dash.build.lint import _nodes, expand_macros
    cfg = config_from_mapping({"selectors": {"cluster_label": "cluster"}})
    schema_errors = {}
    for name in NAMES:
        d = build_json(name, cfg)
        vs = {v["name"]: v for v in d["templating"]["list"]}
        assert list(vs)[:4] == ["datasource", "cluster", "job", "instance"], name
        c = vs["cluster"]
        assert (c["type"], c["label"], c["multi"], c["includeAll"], c["allValue"], c["definition"]) == \
            ("query", "Cluster", True, True, ".+", 'label_values(hermes_active_sessions{job="hermes-agent"}, cluster)')
        assert vs["job"]["definition"] == \
            'label_values(hermes_active_sessions{job="hermes-agent", cluster=~"$cluster"}, job)'
        assert vs["instance"]["definition"] == \
            'label_values(hermes_active_sessions{cluster=~"$cluster", job=~"$job"}, instance)'
        for where, expr in dashboard_exprs(d):
            for node in _nodes(promql_parser.parse(expand_macros(expr))):
                if isinstance(node, promql_parser.VectorSelector) and (": panel " in where or node.name == "ALERTS"):
                    ms = {(m.name, str(m.op), m.value) for m in node.matchers.matchers}
                    assert ("cluster", "MatchOp.Re", "$cluster") in ms, (where, expr)
        assert grafana_linter.lint_dashboard(d, strict=True) == [], name
        schema_errors[name] = grafana_schema.validate(d)
    assert schema_errors == {n: [] for n in NAMES}
    assert "cluster" not in {v["name"] for v in build_json("capacity", DEFAULT)["templating"]["list"]}
