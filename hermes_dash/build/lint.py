"""Static checks of dashboards and rule files: PromQL parses, names only catalogue metrics and labels,
and every alert follows the house style.

    errors = lint_dashboard(json.load(open("dashboards/cost.json")))
    # ['cost: panel "USD per hour": unknown metric hermes_cost_total', ...]
    errors = lint_paths(["rules", "dashboards"])   # what `hermes-dash lint` runs

Known names: the catalogue's series (with `_bucket`/`_count`/`_sum` for histograms), its recording rules,
and the few series other exporters provide (`catalogue.EXTERNAL_SERIES`). promql-parser is the first
check; promtool (`promtool_check_exprs`) stays the authority on syntax, since promql-parser accepts some
functions Prometheus 2.42 does not.
"""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import tempfile
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Set, Tuple

import promql_parser
import yaml

from .. import catalogue as C
from . import grafana_query

# Grafana macros in duration positions, replaced by a fixed duration before parsing
_MACROS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")
# labels Prometheus attaches to every series (target labels) or a histogram bucket carries
_ALWAYS = set(C.TARGET_LABELS) | {C.L_LE, "__name__"}


def known_series() -> Dict[str, Set[str]]:
    """Every series name a query may use, with the labels it carries."""
    out: Dict[str, Set[str]] = {}
    for m in C.METRICS:
        for s in m.sample_names:
            out[s] = set(m.labels)
    for r in C.RECORDING_RULES:
        out[r.name] = set(r.labels)
    for name, labels in C.EXTERNAL_SERIES.items():
        out[name] = set(labels)
    return out


def expand_macros(expr: str, rate_interval: str = "5m", interval: str = "5m", range_: str = "5m") -> str:
    """`expr` with Grafana's $__rate_interval, $__interval and $__range replaced by durations."""
    durations = {"rate_interval": rate_interval, "interval": interval, "range": range_}
    return _MACROS.sub(lambda m: durations[m.group(1) or m.group(2)], expr)


#: Grafana's global variables (Grafana docs, "Global variables"): defined on every dashboard
GRAFANA_GLOBALS = frozenset({
    "__rate_interval", "__rate_interval_ms", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__dashboard", "__name", "__org", "__user", "__timezone", "__auto", "timeFilter",
    "__timeFilter", "__all"})


def variables_of(dashboard: dict) -> Dict[str, dict]:
    """The dashboard's template variables by name."""
    return {v["name"]: v for v in (dashboard.get("templating") or {}).get("list") or [] if v.get("name")}


def undefined_variables(expr: str, defined) -> List[str]:
    """The variables `expr` uses that are neither in `defined` nor Grafana globals, in order of use.
    Grafana leaves them as written, so the query selects nothing (or something else)."""
    return [n for n in grafana_query.undefined_variables(expr) if n not in defined and n not in GRAFANA_GLOBALS]


def grafana_expand(expr: str, dashboard: dict, range_: str, rate_interval: str, interval: str,
                   values: Optional[Dict[str, List[str]]] = None) -> str:
    """A panel's query as Grafana's Prometheus datasource sends it (``grafana_query``), with the macros at
    these durations: each variable of the dashboard at its value in `values` (a list), else at All — its
    `allValue`; a variable the dashboard does not define is left as written."""
    values = values or {}
    chosen = {}
    for name, v in variables_of(dashboard).items():
        if v.get("type") == "datasource":
            continue
        if name in values:
            chosen[name] = grafana_query.Var(name, list(values[name]))
        elif v.get("allValue"):
            chosen[name] = grafana_query.Var(name, [], True, v["allValue"])
        else:
            raise ValueError(f"variable ${name} is at All and has no allValue: give its values")
    macros = {"__range": range_, "__rate_interval": rate_interval, "__interval": interval}
    return grafana_query.substitute(expand_macros(expr, rate_interval, interval, range_), chosen, macros)


def _nodes(node) -> Iterator:
    """Every node of a promql-parser AST, depth first (a range selector's vector selector included)."""
    yield node
    if isinstance(node, promql_parser.MatrixSelector):
        yield node.vector_selector
        return
    for attr in ("lhs", "rhs", "expr", "param"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from _nodes(child)
    for arg in getattr(node, "args", None) or ():
        yield from _nodes(arg)


def lint_expr(expr: str, where: str, known: Optional[Dict[str, Set[str]]] = None,
              extra_labels: FrozenSet[str] = frozenset()) -> List[str]:
    """Problems of one expression, each prefixed by `where` (e.g. 'cost: panel "USD per hour"');
    `extra_labels` every series may carry besides its own (the configured cluster label)."""
    always = _ALWAYS | extra_labels
    known = known_series() if known is None else known
    try:
        ast = promql_parser.parse(expand_macros(expr))
    except Exception as e:  # promql-parser raises ValueError with the position
        return [f"{where}: does not parse: {e}: {expr}"]
    nodes = list(_nodes(ast))
    errors = []
    used_labels: Set[str] = set()
    names = []
    for vs in (n for n in nodes if isinstance(n, promql_parser.VectorSelector)):
        name = vs.name or next((m.value for m in vs.matchers.matchers if m.name == "__name__"), None)
        rule = C.recording_rule(name) if name not in known else None
        if name not in known and rule is None:
            errors.append(f"{where}: unknown metric {name}")
            continue
        labels = known[name] if rule is None else set(rule.labels)
        known[name] = labels
        names.append(name)
        if labels is None:
            continue
        for m in vs.matchers.matchers:
            if m.name not in labels | always:
                errors.append(f"{where}: metric {name} has no label {m.name}")
        used_labels |= labels
    grouping = [g for n in nodes if isinstance(n, promql_parser.AggregateExpr) and n.modifier is not None
                for g in n.modifier.labels]
    for g in grouping:
        if names and not any(known[n] is None for n in names) and g not in used_labels | always:
            errors.append(f"{where}: groups by label {g} that none of {', '.join(sorted(set(names)))} has")
    return errors


def panels_of(data: dict) -> Iterator[dict]:
    """Every panel of a dashboard, rows and the panels of collapsed rows included."""
    def walk(ps):
        for p in ps:
            yield p
            yield from walk(p.get("panels") or [])
    return walk(data.get("panels") or [])


def dashboard_exprs(data: dict) -> Iterator[Tuple[str, str]]:
    """(where, expr) for every query of a dashboard: panels, variables, annotations."""
    name = data.get("uid", "?")
    for p in panels_of(data):
        for t in p.get("targets") or []:
            if t.get("expr"):
                yield f'{name}: panel "{p.get("title")}"', t["expr"]
    for a in (data.get("annotations") or {}).get("list") or []:
        expr = (a.get("target") or {}).get("expr") or a.get("expr")
        if expr:
            yield f'{name}: annotation "{a.get("name")}"', expr
    for v in variables_of(data).values():
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q or "") if v.get("type") == "query" else None
        if m:
            yield f'{name}: variable "{v.get("name")}"', m.group(1)


def lint_dashboard(data: dict, extra_labels: FrozenSet[str] = frozenset()) -> List[str]:
    """Problems of one dashboard: Grafana's own dashboard linter (every rule, strict: warnings count),
    Grafana 13.2.3's types held closed, variables used but not defined, and the catalogue checks of
    every query."""
    from . import grafana_linter, grafana_schema
    known = known_series()
    name = data.get("uid", "?") if isinstance(data, dict) else "?"
    errors = [f"{name}: {f.where}: {f.rule}: {f.message}" for f in grafana_linter.lint_dashboard(data, strict=True)]
    errors += [f"{name}: Grafana {grafana_schema.schema()['x-grafana-version']} types: {p}"
               for p in grafana_schema.validate(data)]
    defined = set(variables_of(data))
    for where, expr in dashboard_exprs(data):
        errors += [f"{where}: uses ${v}, which the dashboard does not define (Grafana sends it as written)"
                   for v in undefined_variables(expr, defined)]
        errors += lint_expr(expr, where, known, extra_labels)
    return errors


def promtool_check_exprs(exprs: Iterable[Tuple[str, str]], promtool: str = "promtool") -> List[str]:
    """Check expressions with promtool (the authority on syntax), all in one call.

    Each expression becomes a recording rule of a temporary rule file; an error names its `where`.
    """
    items = [(w, expand_macros(e)) for w, e in exprs]
    rules = [{"record": f"lint:expr_{i}", "expr": e} for i, (_, e) in enumerate(items)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "exprs.yml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": [{"name": "lint", "rules": rules}]}, f)
        out = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True, timeout=60)
    if out.returncode == 0:
        return []
    text = out.stdout + out.stderr
    errors = []
    for i, (w, e) in enumerate(items):
        if f'"lint:expr_{i}"' in text:
            errors.append(f"{w}: promtool rejects: {e}")
    return errors or [f"promtool check rules failed: {text.strip()}"]


# ---------------------------------------------------------------------------------------------------------
# Rule files
# ---------------------------------------------------------------------------------------------------------
ALERT_NAME = re.compile(r"Hermes[A-Z][A-Za-z0-9]*")
#: labels an alert rule may set itself (Prometheus adds alertname and the expression's labels)
ALERT_LABELS = {C.L_SEVERITY, C.L_TEAM, C.L_SLO}


def lint_alert_style(rule: dict, where: str) -> List[str]:
    """House style of one alert: name, severity, team, for, summary, description, runbook_url."""
    errors = []
    name = rule.get("alert")
    if not isinstance(name, str) or not ALERT_NAME.fullmatch(name):
        errors.append(f"{where}: alert name {name!r} is not CamelCase Hermes<Subject><Condition>")
    labels = rule.get("labels") or {}
    if labels.get(C.L_SEVERITY) not in C.SEVERITIES:
        errors.append(f"{where}: labels.severity is {labels.get(C.L_SEVERITY)!r}, not one of {', '.join(C.SEVERITIES)}")
    if labels.get(C.L_TEAM) not in C.TEAMS:
        errors.append(f"{where}: labels.team is {labels.get(C.L_TEAM)!r}, not one of {', '.join(C.TEAMS)}")
    for extra in sorted(set(labels) - ALERT_LABELS):
        errors.append(f"{where}: label {extra} is not an alert label of the catalogue")
    if not rule.get("for"):
        errors.append(f"{where}: no `for` duration")
    ann = rule.get("annotations") or {}
    if not ann.get("summary"):
        errors.append(f"{where}: no summary annotation")
    elif "{{" in ann["summary"]:
        errors.append(f"{where}: summary must be static (no template), got {ann['summary']!r}")
    if not ann.get("description"):
        errors.append(f"{where}: no description annotation")
    elif "{{" not in ann["description"]:
        errors.append(f"{where}: description should be templated ($labels / $value), got {ann['description']!r}")
    if not str(ann.get("runbook_url", "")).startswith(("http://", "https://")):
        errors.append(f"{where}: no runbook_url annotation (an http(s) URL)")
    return errors


def lint_rule_groups(data: dict, where: str, extra_labels: FrozenSet[str] = frozenset()) -> List[str]:
    """Problems of a parsed rule file: names from the catalogue, PromQL, alert style."""
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        return [f"{where}: not a rule file (no `groups:` list)"]
    known = known_series()
    errors: List[str] = []
    for g in data["groups"]:
        for i, rule in enumerate(g.get("rules") or []):
            if "record" in rule:
                w = f"{where}: group {g.get('name')}: record {rule['record']}"
                if C.recording_rule(rule["record"]) is None:
                    errors.append(f"{w}: recording rule name is not in the catalogue")
            else:
                w = f"{where}: group {g.get('name')}: alert {rule.get('alert', f'#{i}')}"
                errors += lint_alert_style(rule, w)
            errors += lint_expr(str(rule.get("expr", "")), w, known, extra_labels)
    return errors


def promtool_check_rule_files(paths: List[str], promtool: str = "promtool") -> List[str]:
    """`promtool check rules --lint-fatal` on the files, one call."""
    if not paths:
        return []
    out = subprocess.run([promtool, "check", "rules", "--lint-fatal", *paths],
                         capture_output=True, text=True, timeout=60)
    return [] if out.returncode == 0 else [f"promtool check rules --lint-fatal: {(out.stdout + out.stderr).strip()}"]


def lint_paths(paths: Iterable[str], promtool: bool = True, extra_labels: FrozenSet[str] = frozenset()) -> List[str]:
    """Lint rule files (.yml/.yaml) and dashboards (.json), or directories of them; `extra_labels` every
    series may carry (the config's cluster label)."""
    files: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(f for ext in ("*.yml", "*.yaml", "*.json") for f in glob.glob(os.path.join(p, ext)))
        elif os.path.exists(p):
            files.append(p)
        else:
            return [f"{p}: no such file or directory"]
    errors: List[str] = []
    rule_files, exprs = [], []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                data = json.load(fh) if f.endswith(".json") else yaml.safe_load(fh)
        except (ValueError, yaml.YAMLError) as e:
            errors.append(f"{f}: cannot parse: {e}")
            continue
        if f.endswith(".json"):
            errors += [f"{f}: {e}" for e in lint_dashboard(data, extra_labels)]
            exprs += [(f"{f}: {w}", e) for w, e in dashboard_exprs(data)]
        else:
            errors += lint_rule_groups(data, f, extra_labels)
            rule_files.append(f)
    if promtool:
        errors += promtool_check_rule_files(rule_files)
        if exprs:
            errors += promtool_check_exprs(exprs)
    return errors
