"""Static checks of PromQL in dashboards: every expression parses and names only known metrics and labels.

    errors = lint_dashboard(json.load(open("dashboards/cost.json")))
    # ['cost: panel "USD per hour": unknown metric hermes_cost_total', ...]

Known names: the catalogue's series (with `_bucket`/`_count`/`_sum` for histograms), its recording rules,
and the few series other exporters provide (`catalogue.EXTERNAL_SERIES`). promql-parser is the first
check; promtool (`promtool_check_exprs`) stays the authority on syntax, since promql-parser accepts some
functions Prometheus 2.42 does not.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import promql_parser
import yaml

from . import catalogue as C

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
        out[r] = None  # type: ignore[assignment]  # labels of recording rules are not checked here
    for name, labels in C.EXTERNAL_SERIES.items():
        out[name] = set(labels)
    return out


def expand_macros(expr: str) -> str:
    """`expr` with Grafana's $__rate_interval, $__interval and $__range replaced by durations."""
    return _MACROS.sub("5m", expr)


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


def lint_expr(expr: str, where: str, known: Optional[Dict[str, Set[str]]] = None) -> List[str]:
    """Problems of one expression, each prefixed by `where` (e.g. 'cost: panel "USD per hour"')."""
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
        if name not in known:
            errors.append(f"{where}: unknown metric {name}")
            continue
        names.append(name)
        labels = known[name]
        if labels is None:
            continue
        for m in vs.matchers.matchers:
            if m.name not in labels | _ALWAYS:
                errors.append(f"{where}: metric {name} has no label {m.name}")
        used_labels |= labels
    grouping = [g for n in nodes if isinstance(n, promql_parser.AggregateExpr) and n.modifier is not None
                for g in n.modifier.labels]
    for g in grouping:
        if names and not any(known[n] is None for n in names) and g not in used_labels | _ALWAYS:
            errors.append(f"{where}: groups by label {g} that none of {', '.join(sorted(set(names)))} has")
    return errors


def dashboard_exprs(data: dict) -> Iterator[Tuple[str, str]]:
    """(where, expr) for every query of a dashboard: panels, variables, annotations."""
    name = data.get("uid", "?")
    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels") or [])
    for p in panels(data.get("panels") or []):
        for t in p.get("targets") or []:
            if t.get("expr"):
                yield f'{name}: panel "{p.get("title")}"', t["expr"]
    for a in (data.get("annotations") or {}).get("list") or []:
        if a.get("expr"):
            yield f'{name}: annotation "{a.get("name")}"', a["expr"]
    for v in (data.get("templating") or {}).get("list") or []:
        q = v.get("query")
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q or "") if v.get("type") == "query" else None
        if m:
            yield f'{name}: variable "{v.get("name")}"', m.group(1)


def lint_dashboard(data: dict) -> List[str]:
    known = known_series()
    errors: List[str] = []
    for where, expr in dashboard_exprs(data):
        errors += lint_expr(expr, where, known)
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
