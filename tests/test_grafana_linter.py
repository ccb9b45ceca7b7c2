"""Grafana's dashboard linter, ported (hermes_dash.build.grafana_linter): the Go tests of
github.com/grafana/dashboard-linter
(commit 4d0844b40d49cbfd442916fc6c0c3c6fc81084e3, lint/*_test.go).

Each Go table case becomes one pytest case with the same input (the Go
structs are written as the equivalent dashboard JSON) and the same expected
result.  Go's ``ResultSuccess`` (an "OK" result) is an empty findings list
here.  Where a Go test builds a Template struct without a query, the JSON
carries ``"query": ""`` (the struct value that Template.UnmarshalJSON would
produce for it; a template without any ``query`` key fails to decode in Go).

Go test files not ported: rules_test.go (TestCustomRules/TestFixableRules test
the Go plug-in API ``RuleSet.Add``, which this port has no equivalent of).
lint_test.go's ResultSet/Configuration cases are ported against the
``config=`` semantics.

Cases marked ``GO_PARSER_TEXT`` expect an error text that comes from Loki's
parser; they are asserted exactly against this port's emulation of it.
"""

from __future__ import annotations

import copy

import pytest

from hermes_dash.build import grafana_linter as gl
from hermes_dash.build.grafana_linter import Finding

# ---------------------------------------------------------------------------
# helpers: Go struct literals -> dashboard JSON
# ---------------------------------------------------------------------------


def tpl(**kw) -> dict:
    """lint.Template{...} as JSON."""
    names = {"Name": "name", "Label": "label", "Type": "type", "Query": "query",
             "Datasource": "datasource", "Multi": "multi", "AllValue": "allValue",
             "Options": "options", "Current": "current", "Refresh": "refresh"}
    out = {"query": ""}
    for k, v in kw.items():
        out[names[k]] = v
    return out


def target(**kw) -> dict:
    names = {"Expr": "expr", "PanelId": "panelId", "Hide": "hide", "Datasource": "datasource",
             "RefId": "refId"}
    return {names[k]: v for k, v in kw.items()}


def panel(**kw) -> dict:
    """lint.Panel{...} as JSON (Targets only present when the Go struct sets it)."""
    names = {"Id": "id", "Title": "title", "Description": "description", "Type": "type",
             "Datasource": "datasource", "Targets": "targets", "FieldConfig": "fieldConfig",
             "Options": "options", "Panels": "panels"}
    return {names[k]: v for k, v in kw.items()}


def dash(title="test", templates=None, panels=None, **extra) -> dict:
    d = {"title": title}
    if templates is not None:
        d["templating"] = {"list": templates}
    if panels is not None:
        d["panels"] = panels
    d.update(extra)
    return d


def results(rule: str, dashboard: dict) -> list:
    """(severity, message) of one rule, like testRule/testMultiResultRule."""
    return [(f.severity, f.message) for f in gl.lint_dashboard(dashboard) if f.rule == rule]


E, W = "error", "warning"
OK: list = []

# ---------------------------------------------------------------------------
# rule_template_datasource_test.go
# ---------------------------------------------------------------------------

TEMPLATE_DATASOURCE_CASES = [
    ("0 Data Sources",
     [(E, "Dashboard 'test' does not have a templated data source")],
     dash()),
    ("1 Data Source",
     [(E, "Dashboard 'test' templated data source variable named 'foo', should be named "
          "'_datasource', or 'datasource'"),
      (W, "Dashboard 'test' templated data source variable labeled '', should be labeled "
          "' data source', or 'Data source'")],
     dash(templates=[tpl(Type="datasource", Name="foo")])),
    ("wrong name",
     [(W, "Dashboard 'test' templated data source variable labeled 'bar', should be labeled "
          "'Bar data source', or 'Data source'")],
     dash(templates=[tpl(Type="datasource", Name="datasource", Query="bar", Label="bar")])),
    ("OK - Data source ", OK,
     dash(templates=[tpl(Type="datasource", Name="datasource", Label="Data source",
                         Query="prometheus")])),
    ("OK - Prometheus data source", OK,
     dash(templates=[tpl(Type="datasource", Name="datasource", Label="Prometheus data source",
                         Query="prometheus")])),
    ("OK - name: prometheus_datasource", OK,
     dash(templates=[tpl(Type="datasource", Name="prometheus_datasource", Label="Data source",
                         Query="prometheus")])),
    ("OK - name: prometheus_datasource, label: Prometheus data source", OK,
     dash(templates=[tpl(Type="datasource", Name="prometheus_datasource",
                         Label="Prometheus data source", Query="prometheus")])),
    ("OK - name: loki_datasource, query: loki", OK,
     dash(templates=[tpl(Type="datasource", Name="loki_datasource", Label="Data source",
                         Query="loki")])),
    ("OK - name: datasource, query: loki", OK,
     dash(templates=[tpl(Type="datasource", Name="datasource", Label="Data source",
                         Query="loki")])),
    ("3 Data Sources - 0",
     [(E, "Dashboard 'test' templated data source variable named 'datasource', should be named "
          "'prometheus_datasource'"),
      (W, "Dashboard 'test' templated data source variable labeled 'Data source', should be "
          "labeled 'Prometheus data source'"),
      (W, "Dashboard 'test' templated data source variable labeled 'Data source', should be "
          "labeled 'Loki data source'"),
      (W, "Dashboard 'test' templated data source variable labeled 'Data source', should be "
          "labeled 'Influx data source'")],
     dash(templates=[
         tpl(Type="datasource", Name="datasource", Label="Data source", Query="prometheus"),
         tpl(Type="datasource", Name="loki_datasource", Label="Data source", Query="loki"),
         tpl(Type="datasource", Name="influx_datasource", Label="Data source", Query="influx")])),
    ("3 Data Sources - 1",
     [(W, "Dashboard 'test' templated data source variable labeled 'Data source', should be "
          "labeled 'Prometheus data source'"),
      (W, "Dashboard 'test' templated data source variable labeled 'Data source', should be "
          "labeled 'Loki data source'"),
      (W, "Dashboard 'test' templated data source variable labeled 'Data source', should be "
          "labeled 'Influx data source'")],
     dash(templates=[
         tpl(Type="datasource", Name="prometheus_datasource", Label="Data source",
             Query="prometheus"),
         tpl(Type="datasource", Name="loki_datasource", Label="Data source", Query="loki"),
         tpl(Type="datasource", Name="influx_datasource", Label="Data source", Query="influx")])),
    ("3 Data Sources - 2", OK,
     dash(templates=[
         tpl(Type="datasource", Name="prometheus_datasource", Label="Prometheus data source",
             Query="prometheus"),
         tpl(Type="datasource", Name="loki_datasource", Label="Loki data source", Query="loki"),
         tpl(Type="datasource", Name="influx_datasource", Label="Influx data source",
             Query="influx")])),
]


@pytest.mark.parametrize("name,expected,d", TEMPLATE_DATASOURCE_CASES,
                         ids=[c[0] for c in TEMPLATE_DATASOURCE_CASES])
def test_template_datasource(name, expected, d):
    assert results("template-datasource-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_template_job_test.go
# ---------------------------------------------------------------------------

PROM_DS = tpl(Type="datasource", Query="prometheus")

JOB_TEMPLATE_CASES = [
    ("Non-promtheus dashboards shouldn't fail.", OK, dash()),
    ("Missing job template.",
     [(E, "Dashboard 'test' is missing the job template")],
     dash(templates=[PROM_DS])),
    ("Wrong datasource.",
     [(E, "Dashboard 'test' job template should use datasource '$datasource', is currently 'foo'"),
      (E, "Dashboard 'test' job template should be a Prometheus query, is currently ''"),
      (W, "Dashboard 'test' job template should be a labeled 'Job', is currently ''"),
      (E, "Dashboard 'test' job template should be a multi select"),
      (E, "Dashboard 'test' job template allValue should be '.+', is currently ''")],
     dash(templates=[PROM_DS, tpl(Name="job", Datasource="foo")])),
    ("Wrong type.",
     [(E, "Dashboard 'test' job template should be a Prometheus query, is currently 'bar'"),
      (W, "Dashboard 'test' job template should be a labeled 'Job', is currently ''"),
      (E, "Dashboard 'test' job template should be a multi select"),
      (E, "Dashboard 'test' job template allValue should be '.+', is currently ''")],
     dash(templates=[PROM_DS, tpl(Name="job", Datasource="$datasource", Type="bar")])),
    ("Wrong job label.",
     [(W, "Dashboard 'test' job template should be a labeled 'Job', is currently 'bar'"),
      (E, "Dashboard 'test' job template should be a multi select"),
      (E, "Dashboard 'test' job template allValue should be '.+', is currently ''")],
     dash(templates=[PROM_DS, tpl(Name="job", Datasource="$datasource", Type="query",
                                  Label="bar")])),
    ("OK", OK,
     dash(templates=[
         PROM_DS,
         tpl(Name="job", Datasource="$datasource", Type="query", Label="Job", Multi=True,
             AllValue=".+"),
         tpl(Name="instance", Datasource="${datasource}", Type="query", Label="Instance",
             Multi=True, AllValue=".+")])),
]


@pytest.mark.parametrize("name,expected,d", JOB_TEMPLATE_CASES, ids=[c[0] for c in JOB_TEMPLATE_CASES])
def test_job_template(name, expected, d):
    assert results("template-job-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_template_instance_test.go
# ---------------------------------------------------------------------------

INSTANCE_TEMPLATE_CASES = [
    ("Non-promtheus dashboards shouldn't fail.", OK, dash()),
    ("Missing instance templates.",
     [(E, "Dashboard 'test' is missing the instance template")],
     dash(templates=[PROM_DS, tpl(Name="job", Datasource="$datasource", Type="query",
                                  Label="Job", Multi=True, AllValue=".+")])),
    ("What success looks like.", OK,
     dash(templates=[
         PROM_DS,
         tpl(Name="job", Datasource="$datasource", Type="query", Label="Job", Multi=True,
             AllValue=".+"),
         tpl(Name="instance", Datasource="${datasource}", Type="query", Label="Instance",
             Multi=True, AllValue=".+")])),
]


@pytest.mark.parametrize("name,expected,d", INSTANCE_TEMPLATE_CASES,
                         ids=[c[0] for c in INSTANCE_TEMPLATE_CASES])
def test_instance_template(name, expected, d):
    assert results("template-instance-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_template_label_promql_test.go
# ---------------------------------------------------------------------------

def _ns(query):
    return tpl(Name="namespaces", Datasource="$datasource", Query=query, Type="query", Label="job")


LABEL_PROMQL_CASES = [
    ("Don't fail on non prometheus template.", OK,
     dash(templates=[tpl(Type="datasource", Query="foo")])),
    ("OK", OK, dash(templates=[PROM_DS, _ns('label_values(up{job=~"$job"}, namespace)')])),
    ("Error",
     [(E, "Dashboard 'test' template 'namespaces' invalid templated label "
          "'label_values(up{, namespace)': 1:4: parse error: unexpected \",\" in label matching, "
          "expected identifier or \"}\"")],
     dash(templates=[PROM_DS, _ns("label_values(up{, namespace)")])),
    ("Invalid function.",
     [(E, "Dashboard 'test' template 'namespaces' invalid templated label 'foo(up, namespace)': "
          "invalid 'function': foo")],
     dash(templates=[PROM_DS, _ns("foo(up, namespace)")])),
    ("Invalid query expression.",
     [(E, "Dashboard 'test' template 'namespaces' invalid templated label 'foo': "
          "invalid 'query': foo")],
     dash(templates=[PROM_DS, _ns("foo")])),
    ("Support main grafana variables.", OK,
     dash(templates=[PROM_DS, _ns("query_result(max by(namespaces) "
                                  "(max_over_time(memory{}[$__range])))")])),
]


@pytest.mark.parametrize("name,expected,d", LABEL_PROMQL_CASES, ids=[c[0] for c in LABEL_PROMQL_CASES])
def test_template_label_promql(name, expected, d):
    assert results("template-label-promql-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_template_on_time_change_reload_test.go
# ---------------------------------------------------------------------------

def _reload_dash(refresh):
    return dash(templates=[
        PROM_DS,
        tpl(Name="namespaces", Datasource="$datasource",
            Query='label_values(up{job=~"$job"}, namespace)', Type="query", Label="job",
            Refresh=refresh)])


RELOAD_MSG = ("Dashboard 'test' templated datasource variable named 'namespaces', should be set to "
              "be refreshed 'On Time Range Change (value 2)', is currently '1'")


def test_template_on_time_change_reload_ok():
    assert results("template-on-time-change-reload-rule", _reload_dash(2)) == OK


def test_template_on_time_change_reload_autofix():
    fixed, findings = gl.autofix_dashboard(_reload_dash(1))
    got = [(f.severity, f.message) for f in findings
           if f.rule == "template-on-time-change-reload-rule"]
    assert got == [("fixed", RELOAD_MSG)]
    assert fixed == _reload_dash(2)


def test_template_on_time_change_reload_error():
    assert results("template-on-time-change-reload-rule", _reload_dash(1)) == [(E, RELOAD_MSG)]


# ---------------------------------------------------------------------------
# rule_panel_datasource_test.go
# ---------------------------------------------------------------------------

PANEL_DATASOURCE_CASES = [
    ([(E, "Dashboard 'test', panel 'bar' does not use a templated datasource, uses 'foo'")],
     panel(Type="singlestat", Datasource="foo", Title="bar"), None),
    (OK, panel(Type="singlestat", Datasource="$datasource"),
     [tpl(Type="datasource", Name="datasource")]),
    (OK, panel(Type="singlestat", Datasource="${datasource}"),
     [tpl(Type="datasource", Name="datasource")]),
    (OK, panel(Type="singlestat", Datasource="$prometheus_datasource"),
     [tpl(Type="datasource", Name="prometheus_datasource")]),
    (OK, panel(Type="singlestat", Datasource="${prometheus_datasource}"),
     [tpl(Type="datasource", Name="prometheus_datasource")]),
]


@pytest.mark.parametrize("expected,p,templates", PANEL_DATASOURCE_CASES)
def test_panel_datasource(expected, p, templates):
    d = dash(panels=[p], templates=templates)
    assert results("panel-datasource-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_panel_no_targets_test.go
# ---------------------------------------------------------------------------

PANEL_NO_TARGETS_CASES = [
    ([(E, "Dashboard 'test', panel 'bar' has no targets")],
     panel(Type="singlestat", Datasource="foo", Title="bar")),
    (OK, panel(Type="singlestat", Datasource="foo", Title="bar",
               Targets=[target(Expr="sum(rate(foo[5m]))")])),
]


@pytest.mark.parametrize("expected,p", PANEL_NO_TARGETS_CASES)
def test_panel_no_targets(expected, p):
    assert results("panel-no-targets-rule", dash(panels=[p])) == expected


def test_panel_no_targets_empty_list_is_not_missing():
    # Go: `targets: []` decodes to a non-nil empty slice, which passes.
    p = panel(Type="timeseries", Title="bar", Targets=[])
    assert results("panel-no-targets-rule", dash(panels=[p])) == OK


# ---------------------------------------------------------------------------
# rule_panel_title_description_test.go
# ---------------------------------------------------------------------------

TITLE_DESCRIPTION_CASES = [
    ([(E, "Dashboard 'test', panel with id '1' has missing title or description, currently has "
          "title '' and description: ''")],
     panel(Type="singlestat", Id=1, Title="", Description="")),
    ([(E, "Dashboard 'test', panel 'title' has missing title or description, currently has "
          "title 'title' and description: ''")],
     panel(Type="singlestat", Id=2, Title="title", Description="")),
    ([(E, "Dashboard 'test', panel with id '3' has missing title or description, currently has "
          "title '' and description: 'description'")],
     panel(Type="singlestat", Id=3, Title="", Description="description")),
    (OK, panel(Type="singlestat", Id=1, Datasource="foo", Title="testpanel",
               Description="testdescription")),
]


@pytest.mark.parametrize("expected,p", TITLE_DESCRIPTION_CASES)
def test_panel_title_description(expected, p):
    assert results("panel-title-description-rule", dash(panels=[p])) == expected


# ---------------------------------------------------------------------------
# rule_panel_units_test.go
# ---------------------------------------------------------------------------

_MAPPINGS = [{"type": "value", "options": {"1": {"text": "OK", "color": "green", "index": 0},
                                            "2": {"text": "Problem", "color": "red", "index": 1}}}]
_UNITS_MSG = "Dashboard 'test', panel 'bar' has no or invalid units defined: '{}'"

PANEL_UNITS_CASES = [
    ("invalid unit", [(E, _UNITS_MSG.format("MyInvalidUnit"))],
     panel(Type="singlestat", Datasource="foo", Title="bar",
           FieldConfig={"defaults": {"unit": "MyInvalidUnit"}})),
    ("missing FieldConfig", [(E, _UNITS_MSG.format(""))],
     panel(Type="singlestat", Datasource="foo", Title="bar")),
    ("empty FieldConfig", [(E, _UNITS_MSG.format(""))],
     panel(Type="singlestat", Datasource="foo", Title="bar", FieldConfig={})),
    ("valid", OK,
     panel(Type="singlestat", Datasource="foo", Title="bar",
           FieldConfig={"defaults": {"unit": "short"}})),
    ("none - scalar", OK,
     panel(Type="singlestat", Datasource="foo", Title="bar",
           FieldConfig={"defaults": {"unit": "none"}})),
    ("has nonnumeric reduceOptions fields", OK,
     panel(Type="stat", Datasource="foo", Title="bar",
           Options={"reduceOptions": {"fields": "/^version$/"}})),
    ("has empty reduceOptions fields(Numeric Fields default value)", [(E, _UNITS_MSG.format(""))],
     panel(Type="stat", Datasource="foo", Title="bar", Options={"reduceOptions": {"fields": ""}})),
    ("no units but have value mappings", OK,
     panel(Type="singlestat", Datasource="foo", Title="bar",
           FieldConfig={"defaults": {"mappings": [
               {"options": {"0": {"color": "red", "index": 1, "text": "DOWN"},
                            "1": {"color": "green", "index": 0, "text": "UP"}},
                "type": "value"}]}})),
    ("no units but have value mappings in overrides", OK,
     panel(Type="singlestat", Datasource="foo", Title="bar",
           FieldConfig={"overrides": [{"properties": [{"id": "mappings", "value": _MAPPINGS}]}]})),
]


@pytest.mark.parametrize("name,expected,p", PANEL_UNITS_CASES, ids=[c[0] for c in PANEL_UNITS_CASES])
def test_panel_units(name, expected, p):
    assert results("panel-units-rule", dash(panels=[p])) == expected


# ---------------------------------------------------------------------------
# rule_uneditable_test.go
# ---------------------------------------------------------------------------

UNEDITABLE_MSG = "Dashboard 'test' is editable, it should be set to 'editable: false'"


def test_uneditable_ok():
    assert results("uneditable-dashboard", dash(editable=False)) == OK


def test_uneditable_error():
    assert results("uneditable-dashboard", dash(editable=True)) == [(E, UNEDITABLE_MSG)]


def test_uneditable_autofix():
    fixed, findings = gl.autofix_dashboard(dash(editable=True))
    assert [(f.severity, f.message) for f in findings if f.rule == "uneditable-dashboard"] == [
        ("fixed", UNEDITABLE_MSG)]
    assert fixed == dash(editable=False)


# ---------------------------------------------------------------------------
# rule_target_promql_test.go
# ---------------------------------------------------------------------------

def _promql_dash(p):
    return dash(title="dashboard", panels=[p], templates=[
        PROM_DS,
        tpl(Type="interval", Name="interval", Options=[{"value": "1h"}]),
        tpl(Type="interval", Name="sampling", Current={"value": "$__auto_interval_sampling"}),
        tpl(Type="resolution", Name="resolution", Options=[{"value": "1h"}, {"value": "1h"}]),
    ])


_T0 = "Dashboard 'dashboard', panel 'panel', target idx '0' "
_NO_EXPR = "invalid PromQL query '': unknown position: parse error: no expression found in input"

TARGET_PROMQL_CASES = [
    ("Don't fail non-prometheus panels.", OK,
     panel(Title="panel", Datasource="foo", Targets=[target(Expr="sum(rate(foo[5m]))")])),
    ("This is what a valid panel looks like.", OK,
     panel(Title="panel", Type="singlestat", Targets=[target(Expr="sum(rate(foo[5m]))")])),
    ("Invalid query", OK,
     panel(Title="panel", Type="singlestat", Targets=[target(Expr="sum(rate(foo[5m]))")])),
    ("Timeseries support",
     [(E, _T0 + "invalid PromQL query 'foo(bar.baz)': 1:8: parse error: unexpected character: '.'")],
     panel(Title="panel", Type="timeseries", Targets=[target(Expr="foo(bar.baz)")])),
    ("Variable substitutions", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr="sum(rate(foo[$__rate_interval])) * $__range_s")])),
    ("Variable substitutions with ${...}", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr="sum(rate(foo[$__rate_interval])) * ${__range_s}")])),
    ("Variable substitutions inside by clause", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr="sum by(${variable:csv}) (rate(foo[$__rate_interval])) * $__range_s")])),
    ("Template variables substitutions", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr="sum (rate(foo[$interval:$resolution]))")])),
    ("Template variables substitutions (auto interval)", OK,
     panel(Title="panel", Type="singlestat", Targets=[target(Expr="increase(foo{}[$sampling])")])),
    ("Empty PromQL expression", [(E, _T0 + _NO_EXPR)],
     panel(Title="panel", Type="singlestat", Targets=[target(Expr="")])),
    ("Reference another panel that does not exist",
     [(E, _T0 + "Invalid panel reference in target"), (E, _T0 + _NO_EXPR)],
     panel(Id=1, Title="panel", Type="singlestat", Targets=[target(PanelId=2)])),
]


@pytest.mark.parametrize("name,expected,p", TARGET_PROMQL_CASES, ids=[c[0] for c in TARGET_PROMQL_CASES])
def test_target_promql(name, expected, p):
    assert results("target-promql-rule", _promql_dash(p)) == expected


# ---------------------------------------------------------------------------
# rule_target_rate_interval_test.go
# ---------------------------------------------------------------------------

def _prom_only_dash(p):
    return dash(title="dashboard", panels=[p], templates=[PROM_DS])


_SEL = '{job=~"$job",instance=~"$instance"}'

RATE_INTERVAL_CASES = [
    ("Don't fail non-prometheus panels.", OK,
     panel(Title="panel", Datasource="foo", Targets=[target(Expr="sum(rate(foo[5m]))")])),
    ("valid", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr=f"sum(rate(foo{_SEL}[$__rate_interval]))")])),
    ("valid binary", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr=f"sum(rate(foo{_SEL}[$__rate_interval]))/"
                                f"sum(rate(bar{_SEL}[$__rate_interval]))")])),
    ("Invalid query",
     [(E, _T0 + f"invalid PromQL query 'sum(rate(foo{_SEL}[5m]))': should use $__rate_interval")],
     panel(Title="panel", Type="singlestat", Targets=[target(Expr=f"sum(rate(foo{_SEL}[5m]))")])),
    ("Timeseries support",
     [(E, _T0 + f"invalid PromQL query 'sum(rate(foo{_SEL}[5m]))': should use $__rate_interval")],
     panel(Title="panel", Type="timeseries", Targets=[target(Expr=f"sum(rate(foo{_SEL}[5m]))")])),
    ("Non-rate functions should not make the linter fail", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr=f"sum(increase(foo{_SEL}[$__range]))")])),
    ("irate should be checked too",
     [(E, _T0 + f"invalid PromQL query 'sum(irate(foo{_SEL}[$__interval]))': should use "
                "$__rate_interval")],
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr=f"sum(irate(foo{_SEL}[$__interval]))")])),
]


@pytest.mark.parametrize("name,expected,p", RATE_INTERVAL_CASES, ids=[c[0] for c in RATE_INTERVAL_CASES])
def test_target_rate_interval(name, expected, p):
    assert results("target-rate-interval-rule", _prom_only_dash(p)) == expected


# ---------------------------------------------------------------------------
# rule_target_job_instance_test.go
# ---------------------------------------------------------------------------

def _matcher_cases(m):
    return [
        ("Happy path", OK, f'sum(rate(foo{{{m}=~"${m}"}}[5m]))'),
        ("Happy path (multiple matchers where at least one matches) 1", OK,
         f'sum(rate(foo{{{m}="integrations/bar", {m}=~"${m}"}}[5m]))'),
        ("Happy path (multiple matchers where at least one matches) 2", OK,
         f'sum(rate(foo{{{m}=~"${m}", {m}="integrations/bar"}}[5m]))'),
        ("Also happy when the promql is invalid", OK, "foo(bar.baz))"),
        ("Missing matcher",
         [(E, _T0 + f"invalid PromQL query 'sum(rate(foo[5m]))': {m} selector not found")],
         "sum(rate(foo[5m]))"),
        ("Not a regex matcher",
         [(E, _T0 + f"invalid PromQL query 'sum(rate(foo{{{m}=\"${m}\"}}[5m]))': "
                    f"{m} selector is =, not =~")],
         f'sum(rate(foo{{{m}="${m}"}}[5m]))'),
        ("Wrong template variable",
         [(E, _T0 + f"invalid PromQL query 'sum(rate(foo{{{m}=~\"$foo\"}}[5m]))': "
                    f"{m} selector is $foo, not ${m}")],
         f'sum(rate(foo{{{m}=~"$foo"}}[5m]))'),
    ]


MATCHER_CASES = [(m, *c) for m in ("job", "instance") for c in _matcher_cases(m)]


@pytest.mark.parametrize("matcher,name,expected,expr", MATCHER_CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in MATCHER_CASES])
def test_target_job_instance(matcher, name, expected, expr):
    d = dash(title="dashboard", templates=[PROM_DS],
             panels=[panel(Title="panel", Type="singlestat", Targets=[target(Expr=expr)])])
    assert results(f"target-{matcher}-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_target_counter_agg_test.go
# ---------------------------------------------------------------------------

def _counter_msg(name):
    return [(E, _T0 + f"counter metric '{name}' is not aggregated with rate, irate, or increase")]


COUNTER_AGG_CASES = [
    ("Non aggregated counter fails", _counter_msg("something_total"), "something_total"),
    ("Weird matrix selector without an aggregator", _counter_msg("something_total"),
     "something_total[$__rate_interval]"),
    ("Single aggregated counter is good", OK, "increase(something_total[$__rate_interval])"),
    ("multiple counters, first failing", _counter_msg("something_total"),
     "something_total / rate(somethingelse_total[$__rate_interval])"),
    ("multiple counters, second failing", _counter_msg("somethingelse_total"),
     "rate(something_total[$__rate_interval]) / somethingelse_total"),
]


@pytest.mark.parametrize("name,expected,expr", COUNTER_AGG_CASES, ids=[c[0] for c in COUNTER_AGG_CASES])
def test_target_counter_agg(name, expected, expr):
    d = dash(title="dashboard", templates=[],
             panels=[panel(Title="panel", Datasource="foo", Targets=[target(Expr=expr)])])
    assert results("target-counter-agg-rule", d) == expected


# ---------------------------------------------------------------------------
# rule_target_logql_test.go
# ---------------------------------------------------------------------------

def _loki_dash(p):
    return dash(title="dashboard", panels=[p], templates=[tpl(Type="datasource", Query="loki")])


LOGQL_CASES = [
    ("Don't fail non-Loki panels.", OK,
     panel(Title="panel", Datasource="prometheus", Targets=[target(Expr="sum(rate(foo[5m]))")])),
    ("Valid LogQL query", OK,
     panel(Title="panel", Type="singlestat", Targets=[target(Expr='sum(rate({job="mysql"}[5m]))')])),
    ("Invalid LogQL query (GO_PARSER_TEXT)",
     [(E, _T0 + "invalid LogQL query 'sum(rate({job=\"mysql\"[5m]))': parse error at line 0, "
                "col 22: syntax error: unexpected RANGE, expecting } or ,")],
     panel(Title="panel", Type="singlestat", Targets=[target(Expr='sum(rate({job="mysql"[5m]))')])),
    ("Valid LogQL query with $__auto", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr='sum(rate({job="mysql"}[$__auto]))')])),
    ("Valid complex LogQL query", OK,
     panel(Title="panel", Type="singlestat", Targets=[target(
         Expr='sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | '
              'duration > 10s [5m]))')])),
    ("Invalid complex LogQL query (GO_PARSER_TEXT)",
     [(E, _T0 + "invalid LogQL query 'sum by (host) (rate({job=\"mysql\"} |= \"error\" != "
                "\"timeout\" | json | duration > 10s [5m])))': parse error at line 1, col 89: "
                "syntax error: unexpected )")],
     panel(Title="panel", Type="singlestat", Targets=[target(
         Expr='sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | '
              'duration > 10s [5m])))')])),
    ("LogQL query with line_format", OK,
     panel(Title="panel", Type="singlestat", Targets=[target(
         Expr='{job="mysql"} | json | line_format "{{.timestamp}} {{.message}}"')])),
    ("LogQL query with unwrap", OK,
     panel(Title="panel", Type="singlestat",
           Targets=[target(Expr='sum(rate({job="mysql"} | unwrap duration [5m]))')])),
]


@pytest.mark.parametrize("name,expected,p", LOGQL_CASES, ids=[c[0] for c in LOGQL_CASES])
def test_target_logql(name, expected, p):
    assert results("target-logql-rule", _loki_dash(p)) == expected


# ---------------------------------------------------------------------------
# rule_target_logql_auto_test.go
# ---------------------------------------------------------------------------

_FIXED = [(E, _T0 + "LogQL query uses fixed duration: should use $__auto")]
_LSEL = '{job=~"$job",instance=~"$instance"}'

LOGQL_AUTO_CASES = [
    ("Non-Loki panel", OK, "", f"sum(rate({_LSEL}[5m]))", "foo"),
    ("Valid with $__auto", OK, "singlestat", f"sum(rate({_LSEL} [$__auto]))", None),
    ("Valid with $__auto complex", OK, "singlestat",
     f"sum(rate({_LSEL} [$__auto]))/sum(rate({_LSEL} [$__auto]))", None),
    ("Invalid without $__auto", _FIXED, "singlestat", f"sum(rate({_LSEL}[5m]))", None),
    ("Invalid without $__auto timeseries", _FIXED, "timeseries", f"sum(rate({_LSEL}[5m]))", None),
    ("count_over_time $__auto", OK, "singlestat", 'count_over_time({job="mysql"} [$__auto])', None),
    ("count_over_time fixed", _FIXED, "singlestat", 'count_over_time({job="mysql"}[5m])', None),
    ("bytes_rate $__auto", OK, "singlestat", 'bytes_rate({job="mysql"} [$__auto])', None),
    ("bytes_rate fixed", _FIXED, "singlestat", 'bytes_rate({job="mysql"}[5m])', None),
    ("bytes_over_time $__auto", OK, "singlestat", 'bytes_over_time({job="mysql"} [$__auto])', None),
    ("bytes_over_time fixed", _FIXED, "singlestat", 'bytes_over_time({job="mysql"}[5m])', None),
    ("sum_over_time $__auto", OK, "singlestat",
     'sum_over_time({job="mysql"} |= "duration" | unwrap duration [$__auto])', None),
    ("sum_over_time fixed", _FIXED, "singlestat",
     'sum_over_time({job="mysql"} |= "duration" | unwrap duration[5m])', None),
    ("avg_over_time $__auto", OK, "singlestat",
     'avg_over_time({job="mysql"} |= "duration" | unwrap duration [$__auto])', None),
    ("avg_over_time fixed", _FIXED, "singlestat",
     'avg_over_time({job="mysql"} |= "duration" | unwrap duration[5m])', None),
]


@pytest.mark.parametrize("name,expected,ptype,expr,ds", LOGQL_AUTO_CASES,
                         ids=[c[0] for c in LOGQL_AUTO_CASES])
def test_target_logql_auto(name, expected, ptype, expr, ds):
    kw = {"Title": "panel", "Targets": [target(Expr=expr)]}
    if ptype:
        kw["Type"] = ptype
    if ds is not None:
        kw["Datasource"] = ds
    assert results("target-logql-auto-rule", _loki_dash(panel(**kw))) == expected


# ---------------------------------------------------------------------------
# variables_test.go (expandVariables)
# ---------------------------------------------------------------------------

def _tpls(*objs):
    return [gl._decode_template(o) for o in objs]


_RI = "rate(cpu{}[8869990787ms])"
VARIABLE_CASES = [
    ("Should not replace variables in quoted strings", 'up{job=~"$job"}', [], 'up{job=~"$job"}', None),
    ("Should replace variables in metric name", 'up$var{job=~"$job"}', [], 'upvar{job=~"$job"}', None),
    ("Should replace global rate/range variables", "rate(metric{}[$__rate_interval])", [],
     "rate(metric{}[8869990787ms])", None),
    ("Should support ${...} syntax", "rate(metric{}[${__rate_interval}])", [],
     "rate(metric{}[8869990787ms])", None),
    ("Should support [[...]] syntax", "rate(metric{}[[[__rate_interval]]])", [],
     "rate(metric{}[8869990787ms])", None),
    ("Should support ${__user.id}", 'sum(http_requests_total{method="GET"} @ ${__user.id})', [],
     'sum(http_requests_total{method="GET"} @ 42)', None),
    ("Should support $__from/$__to", 'sum(http_requests_total{method="GET"} @ $__from)', [],
     'sum(http_requests_total{method="GET"} @ 1594671549254)', None),
    ("unix seconds", 'sum(http_requests_total{method="GET"} @ ${__from:date:seconds}000)', [],
     'sum(http_requests_total{method="GET"} @ 1594671549000)', None),
    ("iso default", 'sum(http_requests_total{method="GET"} @ ${__from:date})', [],
     'sum(http_requests_total{method="GET"} @ 2020-07-13T20:19:09Z)', None),
    ("iso", 'sum(http_requests_total{method="GET"} @ ${__from:date:iso})', [],
     'sum(http_requests_total{method="GET"} @ 2020-07-13T20:19:09Z)', None),
    ("momentjs formatting unsupported", 'sum(http_requests_total{method="GET"} @ ${__from:date:YYYY-MM})',
     [], "", "unsupported momentjs time format: YYYY-MM"),
    ("csv", "max by(${variable:csv}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(variable,variable,variable) ({_RI})", None),
    ("doublequote", "max by(${variable:doublequote}) (rate(cpu{}[$__rate_interval]))", [],
     f'max by("variable","variable","variable") ({_RI})', None),
    ("glob", "max by(${variable:glob}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by({{variable,variable,variable}}) ({_RI})", None),
    ("json", "max by(${variable:json}) (rate(cpu{}[$__rate_interval]))", [],
     f'max by(["variable","variable","variable"]) ({_RI})', None),
    ("lucene", "max by(${variable:lucene}) (rate(cpu{}[$__rate_interval]))", [],
     f'max by(("variable" OR "variable" OR "variable")) ({_RI})', None),
    ("percentencode", "max by(${variable:percentencode}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(variable%2Cvariable%2Cvariable) ({_RI})", None),
    ("pipe", "max by(${variable:pipe}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(variable|variable|variable) ({_RI})", None),
    ("raw", "max by(${variable:raw}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(variable,variable,variable) ({_RI})", None),
    ("regex", "max by(${variable:regex}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(variable|variable|variable) ({_RI})", None),
    ("singlequote", "max by(${variable:singlequote}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by('variable','variable','variable') ({_RI})", None),
    ("sqlstring", "max by(${variable:sqlstring}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by('variable','variable','variable') ({_RI})", None),
    ("text", "max by(${variable:text}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(variable + variable + variable) ({_RI})", None),
    ("queryparam", "max by(${variable:queryparam}) (rate(cpu{}[$__rate_interval]))", [],
     f"max by(var-variable=variable&var-variable=variable&var-variable=variable) ({_RI})", None),
    ("unknown syntax", "max by(${a:b:c:d}) (rate(cpu{}[$__rate_interval]))", [], "",
     "unknown variable format: a:b:c:d"),
    ("Should replace variables present in the templating",
     "max by($var) (rate(cpu{}[$interval:$resolution]))",
     [{"name": "interval", "options": [{"value": "4h"}], "query": ""},
      {"name": "resolution", "options": [{"value": "5m"}], "query": ""},
      {"name": "var", "type": "query", "current": {"value": "value"}, "query": ""}],
     "max by(value) (rate(cpu{}[4h:5m]))", None),
    ("Should recursively replace variables", "sum (rate(cpu{}[$interval]))",
     [{"name": "interval", "current": {"value": "$__auto_interval_interval"}, "query": ""}],
     "sum (rate(cpu{}[10s]))", None),
    ("plain $__auto_interval (grafonnet-lib)", "sum (rate(cpu{}[$interval]))",
     [{"name": "interval", "current": {"value": "$__auto_interval"}, "query": ""}],
     "sum (rate(cpu{}[10s]))", None),
    ("no infinite loop", "sum (rate(cpu{}[$interval]))",
     [{"name": "interval", "current": {"value": "$interval"}, "query": ""}],
     "sum (rate(cpu{}[interval]))", None),
]


@pytest.mark.parametrize("desc,expr,variables,expected,err", VARIABLE_CASES,
                         ids=[c[0] for c in VARIABLE_CASES])
def test_variable_expansion(desc, expr, variables, expected, err):
    tv = _tpls(*variables)
    if err is not None:
        with pytest.raises(gl._ExpandError) as exc:
            gl._expand_variables(expr, tv)
        assert str(exc.value) == err
    else:
        assert gl._expand_variables(expr, tv) == expected


# ---------------------------------------------------------------------------
# model_test.go
# ---------------------------------------------------------------------------

DATASOURCE_PARSE_CASES = [
    ("string", "${datasource}", ("${datasource}", ""), None),
    ("uid", {"uid": "${datasource}"}, ("${datasource}", ""), None),
    ("uid-type", {"uid": "${datasource}", "type": "${type}"}, ("${datasource}", "${type}"), None),
    ("byte", 1, ("", ""), "invalid type for field 'datasource': 1"),
    ("empty object", {}, ("", ""), "invalid type for field 'datasource': missing uid field"),
    ("int uid", {"uid": 1}, ("", ""),
     "invalid type for field 'datasource': invalid uid field type, should be string"),
]


@pytest.mark.parametrize("name,raw,expected,err", DATASOURCE_PARSE_CASES,
                         ids=[c[0] for c in DATASOURCE_PARSE_CASES])
def test_parse_datasource(name, raw, expected, err):
    assert gl._get_data_source(raw) == (expected, err)


# lint/testdata/dashboard.json of the Go repository (same content).
SAMPLE_DASHBOARD = {
    "editable": True,
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "prom", "type": "datasource",
                  "pluginId": "prom"}],
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                              "enable": True, "hide": True, "name": "Annotations & Alerts",
                              "type": "dashboard"}]},
    "rows": [{"panels": [{"type": "timeseries", "title": "Timeseries",
                          "targets": [{"expr": "up{job=\"$job\"}"}]}]}],
    "panels": [
        {"type": "timeseries", "title": "Timeseries", "targets": [{"expr": "up{job=\"$job\"}"}]},
        {"type": "row", "title": "Dashboard row", "panels": [
            {"type": "timeseries", "title": "Timeseries", "targets": [{"expr": "up{job=\"$job\"}"}]}]},
    ],
    "templating": {"list": [
        {"current": {"text": "default", "value": "default"}, "hide": 0, "label": "Data Source",
         "name": "datasource", "options": [], "query": "prometheus", "refresh": 1, "regex": "",
         "type": "datasource"},
        {"name": "job", "label": "job", "datasource": "$datasource", "type": "query",
         "query": "query_result(up{})", "multi": True, "allValue": ".+"},
        {"filters": [], "hide": 0, "name": "query0", "skipUrlSync": False, "type": "adhoc"},
        {"current": {"selected": True, "text": "10", "value": "10"}, "hide": 0,
         "includeAll": False, "multi": False, "name": "limit",
         "options": [{"selected": True, "text": "10", "value": "10"}], "type": "custom"},
    ]},
    "title": "Sample dashboard",
}


def test_parse_dashboard_row_panels():
    assert len(gl._new_dashboard(SAMPLE_DASHBOARD).get_panels()) == 4


def test_parse_dashboard_annotations():
    assert len(gl._new_dashboard(SAMPLE_DASHBOARD).annotations) == 1


def test_parse_dashboard_v0alpha1():
    d = gl._new_dashboard({"apiVersion": "v0alpha1", "kind": "Dashboard", "spec": SAMPLE_DASHBOARD})
    assert len(d.annotations) == 1
    assert d.api_version == "v0alpha1"


TEMPLATE_VALUE_CASES = [
    ({"text": "text", "value": "value"}, ("text", "value"), None),
    ({"text": ["text1", "text2"], "value": ["value1", "value2"]}, ("text1", "value1"), None),
    ({"text": 1, "value": 2}, ("", ""), "invalid type for field 'text': 1"),
    ({"text": "text", "value": 2}, ("text", ""), "invalid type for field 'value': 2"),
    ({}, ("", ""), None),
    ({"text": "text"}, ("text", ""), None),
]


@pytest.mark.parametrize("raw,expected,err", TEMPLATE_VALUE_CASES)
def test_parse_template_value(raw, expected, err):
    assert gl._template_value_get(raw) == (expected, err)


def test_parse_template():
    # NB no "query.query" field, some data source don't use this.
    t = gl._decode_template({"type": "query", "query": {}})
    assert (t.type, t.raw_query, t.query, t.name) == ("query", {}, "", "")


# ---------------------------------------------------------------------------
# v2_test.go
# ---------------------------------------------------------------------------

V2_DASHBOARD = {
    "apiVersion": "dashboard.grafana.app/v2",
    "kind": "Dashboard",
    "spec": {
        "title": "V2 Test",
        "editable": True,
        "variables": [
            {"kind": "DatasourceVariable",
             "spec": {"name": "datasource", "label": "Data source", "pluginId": "prometheus"}},
            {"kind": "QueryVariable",
             "spec": {"name": "cluster", "label": "cluster", "multi": True,
                      "refresh": "onTimeRangeChanged", "allValue": "all-clusters",
                      "query": {"kind": "DataQuery", "group": "prometheus", "version": "v0",
                                "datasource": {"name": "${datasource}"},
                                "spec": {"query": "label_values(up, cluster)"}}}},
        ],
        "annotations": [
            {"kind": "AnnotationQuery", "spec": {
                "name": "Annotations & Alerts",
                "query": {"kind": "DataQuery", "group": "grafana", "version": "v0",
                          "datasource": {"name": "-- Grafana --"}, "spec": {}}}},
        ],
        "elements": {
            "panel-1": {
                "kind": "Panel",
                "spec": {
                    "id": 1, "title": "CPU", "description": "cpu usage",
                    "data": {"kind": "QueryGroup", "spec": {"queries": [
                        {"kind": "PanelQuery", "spec": {
                            "refId": "A", "hidden": False,
                            "query": {"kind": "DataQuery", "group": "prometheus", "version": "v0",
                                      "datasource": {"name": "$datasource"},
                                      "spec": {"expr": "sum(rate(node_cpu_seconds_total"
                                                       "{cluster=\"$cluster\"}[5m]))"}}}}]}},
                    "vizConfig": {"kind": "VizConfig", "group": "timeseries", "version": "1.0",
                                  "spec": {"options": {}, "fieldConfig": {
                                      "defaults": {"unit": "percent"}, "overrides": []}}},
                },
            },
        },
    },
}


def test_parse_v2_dashboard():
    d = gl._new_dashboard(V2_DASHBOARD)
    assert (d.title, d.api_version, d.editable) == ("V2 Test", "dashboard.grafana.app/v2", True)
    panels = d.get_panels()
    assert len(panels) == 1
    p = panels[0]
    assert (p.id, p.title, p.description, p.type) == (1, "CPU", "cpu usage", "timeseries")
    assert p.field_config is not None and p.field_config.unit == "percent"
    assert gl._get_data_source(p.datasource)[0][0] == "$datasource"
    assert len(p.targets) == 1
    tg = p.targets[0]
    assert (tg.ref_id, tg.hide) == ("A", False)
    assert tg.expr == 'sum(rate(node_cpu_seconds_total{cluster="$cluster"}[5m]))'
    assert gl._get_data_source(tg.datasource) == (("$datasource", "prometheus"), None)
    ds_vars = d.get_template_by_type("datasource")
    assert [(v.name, v.query) for v in ds_vars] == [("datasource", "prometheus")]
    qv = d.get_template_by_type("query")
    assert [(v.name, v.multi, v.query, v.refresh, v.all_value) for v in qv] == [
        ("cluster", True, "label_values(up, cluster)", 2, "all-clusters")]
    assert [a[0] for a in d.annotations] == ["Annotations & Alerts"]


def test_lint_v2_dashboard_no_false_positives():
    errors = {f.rule for f in gl.lint_dashboard(V2_DASHBOARD) if f.severity == "error"}
    for rule in ("template-on-time-change-reload-rule", "template-datasource-rule",
                 "panel-datasource-rule", "panel-units-rule", "panel-title-description-rule",
                 "panel-no-targets-rule", "target-promql-rule"):
        assert rule not in errors


def test_lint_v2_mapped_refresh_is_consumed():
    load = copy.deepcopy(V2_DASHBOARD)
    load["spec"]["variables"][1]["spec"]["refresh"] = "onDashboardLoad"
    errors = {f.rule for f in gl.lint_dashboard(load) if f.severity == "error"}
    assert "template-on-time-change-reload-rule" in errors


# ---------------------------------------------------------------------------
# lint_test.go (ResultSet / Configuration semantics)
# ---------------------------------------------------------------------------

def _cfg_match(section, rule, dashboard="", panel_title=None, target_idx=None):
    return gl._config_section_matches(section, rule, dashboard, panel_title, target_idx)


def test_config_excludes_rule():
    ex = {"rule1": {}}
    assert _cfg_match(ex, "rule1") and not _cfg_match(ex, "rule2")


def test_config_excludes_more_specific_config():
    # appendConfigExclude(rule1) then (rule1, dash1): one entry for dash1
    ex = {"rule1": {"entries": [{"dashboard": "dash1"}]}}
    assert _cfg_match(ex, "rule1", "dash1", "foo", 0)
    assert not _cfg_match(ex, "rule1", "dash2", "bar", 0)


def test_config_excludes_multiple_entries():
    ex = {"rule1": {"entries": [{"dashboard": "dash1"}, {"dashboard": "dash2"}]}}
    assert _cfg_match(ex, "rule1", "dash1") and _cfg_match(ex, "rule1", "dash2")
    assert not _cfg_match(ex, "rule1", "dash3")


def test_config_excludes_all_when_entries_empty():
    ex = {"rule1": None}
    assert _cfg_match(ex, "rule1", "dash1", "panel1", 0)
    assert _cfg_match(ex, "rule1", "dash1", "panel1", 1)


def test_config_panels_and_targets():
    ex = {"rule1": {"entries": [{"dashboard": "dash1", "panel": "panel1", "targetidx": "0"}]}}
    assert _cfg_match(ex, "rule1", "dash1", "panel1", 0)
    assert not _cfg_match(ex, "rule1", "dash1", "panel1", 1)
    assert not _cfg_match(ex, "rule1", "dash1", "panel2", 0)


def test_config_end_to_end_exclusion_and_warning():
    d = dash(editable=True, templates=[PROM_DS])
    base = {f.rule for f in gl.lint_dashboard(d)}
    assert {"uneditable-dashboard", "template-job-rule"} <= base
    out = gl.lint_dashboard(d, config={"exclusions": {"uneditable-dashboard": None},
                                       "warnings": {"template-job-rule": None}})
    assert "uneditable-dashboard" not in {f.rule for f in out}
    assert {f.severity for f in out if f.rule == "template-job-rule"} == {"warning"}
    assert gl.lint_failed(out, strict=True) and not gl.lint_failed(out, strict=False)


# ---------------------------------------------------------------------------
# Port-specific checks (behaviour of the Go code that the Go tests do not pin)
# ---------------------------------------------------------------------------

def test_finding_is_frozen_dataclass():
    f = Finding("r", "error", "dashboard", "m")
    with pytest.raises(Exception):
        f.rule = "x"  # type: ignore[misc]


def test_rules_registry_order():
    assert gl.RULES == (
        "template-datasource-rule", "template-job-rule", "template-instance-rule",
        "template-label-promql-rule", "template-on-time-change-reload-rule",
        "panel-datasource-rule", "panel-title-description-rule", "panel-units-rule",
        "panel-no-targets-rule", "target-logql-rule", "target-logql-auto-rule",
        "target-promql-rule", "target-rate-interval-rule", "target-job-rule",
        "target-instance-rule", "target-counter-agg-rule", "uneditable-dashboard")


def test_template_without_query_fails_to_decode():
    with pytest.raises(gl.DashboardParseError):
        gl.lint_dashboard({"templating": {"list": [{"name": "x", "type": "interval"}]}})


def test_case_insensitive_json_keys():
    assert results("uneditable-dashboard", {"Title": "test", "EDITABLE": True}) == [
        (E, UNEDITABLE_MSG)]


def test_variable_expansion_single_quotes_are_expanded():
    # Only double quotes protect variables from expansion.
    assert gl._expand_variables("up{job=~'$job'}", []) == "up{job=~'job'}"


def test_logql_expansion_panics_like_go():
    with pytest.raises(gl.LinterPanic):
        gl._expand_logql_variables("$var", [])


def test_rate_interval_magic_duration_roundtrip():
    node = gl._parse_promql("rate(foo[$__rate_interval])", [])
    assert gl._go_range_ns(node.args[0].range) == gl._RATE_INTERVAL_NS


def test_counter_with_matchers_is_not_flagged():
    # VectorSelector.String() ends with "}" so the _total suffix test fails in Go.
    d = dash(title="dashboard",
             panels=[panel(Title="panel", Targets=[target(Expr='foo_total{job="x"}')])])
    assert results("target-counter-agg-rule", d) == OK


def test_rate_interval_paren_parent():
    d = _prom_only_dash(panel(Title="panel", Type="timeseries",
                              Targets=[target(Expr="rate((foo[5m]))")]))
    assert results("target-rate-interval-rule", d) == [
        (E, _T0 + "invalid PromQL query 'rate((foo[5m]))': $__rate_interval used in non-rate "
                  "function")]


def test_label_values_partial_parse_is_ok():
    d = dash(templates=[PROM_DS, _ns('label_values(up{job="x"}, instance)')])
    assert results("template-label-promql-rule", d) == OK


def test_experimental_function_rejected():
    d = _prom_only_dash(panel(Title="panel", Type="timeseries",
                              Targets=[target(Expr="mad_over_time(foo[$__rate_interval])")]))
    assert results("target-promql-rule", d) == [
        (E, _T0 + "invalid PromQL query 'mad_over_time(foo[$__rate_interval])': parse error: "
                  "function \"mad_over_time\" is not enabled")]


def test_where_field():
    d = dash(title="dashboard", templates=[PROM_DS], editable=True,
             panels=[panel(Id=7, Title="panel", Type="timeseries",
                           Targets=[target(Expr="up", RefId="A")])])
    wheres = {(f.rule, f.where) for f in gl.lint_dashboard(d)}
    assert ("uneditable-dashboard", "dashboard") in wheres
    assert ("panel-units-rule", "panel 'panel' (id 7)") in wheres
    assert ("target-job-rule", "panel 'panel' (id 7) target 0 (refId 'A')") in wheres


def test_strict_semantics():
    d = dash(templates=[PROM_DS, tpl(Type="datasource", Name="datasource", Label="x",
                                     Query="prometheus")])
    warn_only = [f for f in gl.lint_dashboard(d) if f.severity == "warning"]
    assert warn_only
    assert gl.lint_failed(warn_only, strict=True)
    assert not gl.lint_failed(warn_only, strict=False)
