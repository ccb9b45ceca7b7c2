"""Building blocks shared by the dashboards: the registry, variables, panels from specs, layout, links.

A dashboard module declares NAME, TITLE, ORDER (its place in link order) and ABOUT (what it shows, the
dashboard's description), and describes rows of `Panel` specs (title, queries, unit, the catalogue metric
whose help text becomes the description, an optional threshold from the config); `dashboard()` lays them
out on Grafana's 24-column grid with stable ids and turns them into grafanalib objects. `registry()`
finds the dashboard modules by convention (every public module of this package), as grafanalib finds
its `*.dashboard.py` files: there is no list of dashboards to keep in sync.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, List, Optional, Sequence, Tuple

import grafanalib.core as G

from ... import catalogue as C
from ...config import Config
from ..queries import Queries

SCHEMA_VERSION = 42  # Grafana 12.x+; schemas/grafana-dashboard.schema.json records the same
DS = {"type": "prometheus", "uid": "${datasource}"}
TAG = "hermes"


def uid(name: str) -> str:
    return f"hermes-{name}"


@dataclass(frozen=True)
class Registered:
    """One dashboard module as the registry sees it."""
    name: str
    title: str
    about: str
    order: int
    build: Callable[[Config], G.Dashboard]

    @property
    def uid(self) -> str:
        return uid(self.name)


def _register(module: ModuleType) -> Registered:
    missing = [a for a in ("NAME", "TITLE", "ABOUT", "ORDER", "build") if not hasattr(module, a)]
    if missing:
        raise TypeError(f"dashboard module {module.__name__} lacks {', '.join(missing)}")
    return Registered(module.NAME, module.TITLE, module.ABOUT, module.ORDER, module.build)


@functools.lru_cache(maxsize=None)
def registry() -> Tuple[Registered, ...]:
    """Every dashboard module of this package (public modules), in link order."""
    package = __name__.rpartition(".")[0]
    found = [_register(importlib.import_module(f"{package}.{m.name}"))
             for m in pkgutil.iter_modules(importlib.import_module(package).__path__) if not m.name.startswith("_")]
    names = [d.name for d in found]
    if len(set(names)) != len(names) or len({d.order for d in found}) != len(found):
        raise TypeError(f"dashboard names and orders must be unique: {sorted((d.order, d.name) for d in found)}")
    return tuple(sorted(found, key=lambda d: d.order))


def registered(name: str) -> Registered:
    """The registered dashboard `name`; KeyError naming the known ones."""
    for d in registry():
        if d.name == name:
            return d
    raise KeyError(f"no dashboard {name!r} (registered: {', '.join(d.name for d in registry())})")


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"


#: each variable's label in Grafana's variable bar (the linter wants "Job" and "Instance")
VARIABLE_LABELS = {C.L_JOB: "Job", C.L_INSTANCE: "Instance", C.L_MODEL: "Model", C.L_TOOL: "Tool"}
#: a multi-select variable at All matches every non-empty value (the linter's allValue for job and instance)
ALL_VALUE = ".+"


@dataclass(frozen=True)
class Panel:
    title: str
    queries: Tuple[Q, ...]
    unit: str
    #: the catalogue metric whose help text describes the panel, or a description of its own
    about: object
    kind: str = "timeseries"          # timeseries | stat | bargauge
    width: int = 12
    height: int = 8
    threshold: Optional[float] = None  # drawn as a red line / step at this value
    threshold_below: bool = False      # True: values *below* the threshold are bad (rates of success)
    link: Optional[str] = None         # name of a dashboard this panel links to
    stacked: bool = False
    #: explicit threshold steps (value, colour) after the base (red with threshold_below, else green)
    steps: Tuple[Tuple[float, str], ...] = ()
    #: value mappings of a stat (value, text, colour): a state shown as words
    mappings: Tuple[Tuple[float, str, str], ...] = ()
    decimals: Optional[int] = None


@dataclass
class Row:
    title: str
    panels: List[Panel] = field(default_factory=list)


def describe(about: object) -> str:
    if isinstance(about, C.Metric):
        return f"{about.help} (metric `{about.name}`)"
    return str(about)


def _steps(p: Panel):
    if p.steps:  # a base colour below the first step: red when low values are bad
        return [{"color": "red" if p.threshold_below else "green", "value": None}] + \
            [{"color": c, "value": v} for v, c in p.steps]
    if p.threshold is None:
        return [{"color": "green", "value": None}]
    if p.threshold_below:
        return [{"color": "red", "value": None}, {"color": "green", "value": p.threshold}]
    return [{"color": "green", "value": None}, {"color": "red", "value": p.threshold}]


def _targets(p: Panel):
    out = []
    for i, q in enumerate(p.queries):
        out.append(G.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), datasource=DS,
                            instant=q.instant, format=q.format, intervalFactor=1, step=None))
    return out


class _BarGauge(G.BarGauge):
    """grafanalib 0.7.1 emits the pre-7.0 `options.fieldOptions` form; Grafana 7+ reads fieldConfig and
    options.reduceOptions, which this emits instead."""

    def to_json_data(self):
        data = super().to_json_data()
        old = data["options"].pop("fieldOptions")
        data["fieldConfig"] = {"defaults": {"unit": old["defaults"]["unit"], "min": 0,
                                            "thresholds": {"mode": "absolute", "steps": old["thresholds"]}},
                               "overrides": []}
        data["options"]["reduceOptions"] = {"calcs": old["calcs"], "fields": "", "values": False}
        return data


def _panel(p: Panel, pid: int, x: int, y: int):
    common = dict(title=p.title, description=describe(p.about), dataSource=DS, targets=_targets(p),
                  gridPos=G.GridPos(h=p.height, w=p.width, x=x, y=y), id=pid)
    if p.link:
        target = registered(p.link)
        common["links"] = [{"title": target.title, "url": f"/d/{target.uid}", "type": "link",
                            "icon": "dashboard", "tags": [], "asDropdown": False, "includeVars": True,
                            "keepTime": True, "targetBlank": False, "tooltip": f"Open {target.title}"}]
    if p.kind == "stat":
        mappings = [{"type": "value", "options": {f"{v:g}": {"text": text, "color": color, "index": i}
                                                  for i, (v, text, color) in enumerate(p.mappings)}}] \
            if p.mappings else []
        return G.Stat(format=p.unit, thresholds=_steps(p), reduceCalc="lastNotNull",
                      graphMode="none" if p.mappings else "area", colorMode="value", mappings=mappings,
                      decimals=p.decimals, **common)
    if p.kind == "bargauge":
        return _BarGauge(format=p.unit, thresholds=_steps(p), calc="lastNotNull", displayMode="gradient",
                          orientation="horizontal", **common)
    return G.TimeSeries(unit=p.unit, thresholds=_steps(p),
                        thresholdsStyleMode="line" if p.threshold is not None or p.steps else "off",
                        stacking={"mode": "normal"} if p.stacked else {"mode": "none"},
                        fillOpacity=20 if p.stacked else 0, legendDisplayMode="table",
                        legendCalcs=["lastNotNull", "max"], tooltipMode="multi", **common)


def _variables(q: Queries, cfg: Config):
    out = [G.Template(name="datasource", label="Data source", type="datasource", query="prometheus",
                      default=cfg.grafana.datasource, hide=0)]
    for n in q.variables:
        out.append(G.Template(name=n, label=VARIABLE_LABELS.get(n, n.replace("_", " ").capitalize()),
                              query=q.variable_values(n), dataSource=DS,
                              includeAll=True, multi=True, allValue=ALL_VALUE, default="$__all", refresh=2, sort=1))
    return out


def dashboard(name: str, q: Queries, rows: Sequence[Row]) -> G.Dashboard:
    """Lay `rows` out on the grid and build the registered dashboard `name` (uid hermes-<name>), with the
    variables its queries `q` were built for."""
    cfg = q.cfg
    panels = []
    y, pid = 0, 1
    for row in rows:
        panels.append(G.RowPanel(title=row.title, gridPos=G.GridPos(h=1, w=24, x=0, y=y), id=pid))
        pid += 1
        y += 1
        x, row_h = 0, 0
        for p in row.panels:
            if x + p.width > 24:
                x, y, row_h = 0, y + row_h, 0
            panels.append(_panel(p, pid, x, y))
            pid += 1
            x += p.width
            row_h = max(row_h, p.height)
        y += row_h
    me = registered(name)
    return G.Dashboard(
        title=me.title, uid=me.uid, description=me.about, tags=[TAG], panels=panels,
        editable=False, schemaVersion=SCHEMA_VERSION, timezone="browser", refresh="1m", graphTooltip=1,
        time=G.Time(cfg.grafana.time_from, "now"),
        templating=G.Templating(list=_variables(q, cfg)),
        annotations=G.Annotations(list=[{
            "name": "Hermes alerts", "enable": True, "datasource": DS, "expr": q.alerts_firing(),
            "iconColor": "red", "step": "60s", "titleFormat": "{{alertname}}",
            "textFormat": "{{severity}} {{instance}}", "tagKeys": "severity,team",
            "useValueForTime": False}]),
        links=[G.DashboardLink(title="Hermes dashboards", type="dashboards", tags=[TAG], asDropdown=True,
                               includeVars=True, keepTime=True)],
    )
