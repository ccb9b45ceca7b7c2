"""Preview the dashboards without Grafana: every panel rendered to PNG from a live Prometheus, and one
index.html per dashboard laying the panels out on Grafana's 24-column grid.

    hermes-dash preview --prometheus http://127.0.0.1:9090 --out build/preview
    # build/preview/index.html links one page per dashboard: build/preview/<uid>/index.html

    report = render_dashboard(json.load(open("dashboards/cost.json")), prom.query_range, "out/cost",
                              start=end - 3600, end=end, query_instant=prom.query,
                              label_values=prom.label_values)
    [p.title for p in report.panels if not p.has_data]

Grafana cannot run where hermes-dash is built; this lets a reviewer look at a dashboard change before it
ships. Queries are expanded as Grafana sends them (``hermes_dash.build.grafana_query``: variables,
$__interval, $__rate_interval, $__range, the step): a variable the dashboard does not define stays
literal, as in Grafana, so a panel that uses one shows "No data" here too. Queries go through injected
functions (`query_range(expr, start, end, step)`, `query_instant(expr, time)`, `label_values(label,
match, start, end)`), so any Prometheus-compatible API can serve them; `PrometheusHTTP` is the default,
over urllib. Time series draw their threshold lines, stats and bar gauges their reduced values coloured
by thresholds. Rendering uses matplotlib's Agg backend only (no display, no network); the pages use no
external JS or CSS. Needs the `preview` extra (matplotlib).
"""
from __future__ import annotations

import datetime as _dt
import glob
import html
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import dates as mdates  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle, Wedge  # noqa: E402
from matplotlib.ticker import Formatter, MaxNLocator  # noqa: E402

from ..build.grafana_query import (DASHBOARD_WIDTH_PX, DEFAULT_SCRAPE_INTERVAL, GRID_COLUMNS,  # noqa: E402
                                   LabelValues, format_duration, grafana_expand, parse_duration, parse_time,
                                   resolve_variables, undefined_variables)

GRID_ROW_PX = 30            #: one gridPos height unit, in px (Grafana's row height)

QueryRange = Callable[[str, float, float, float], list]
QueryInstant = Callable[[str, float], list]


# ---------------------------------------------------------------------------------------------------------
# Legends, units, thresholds, colours
# ---------------------------------------------------------------------------------------------------------
_LEGEND = re.compile(r"\{\{\s*(.+?)\s*\}\}")


def format_legend(legend_format: Optional[str], labels: Mapping[str, str], expr: str = "") -> str:
    """A series' display name as Grafana's Prometheus datasource gives it: `legendFormat` with each
    {{label}} replaced by the series' value of that label (the label's own name when the series has no such
    label, as renderLegendFormat does); without a legendFormat (or "__auto"), name{label="value", ...}, and
    the expression when the series has neither name nor labels."""
    if legend_format and legend_format != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1)) or m.group(1), legend_format)
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    title = f"{name}{{{rest}}}" if rest else name
    return title or expr


def _to_fixed(value: float, decimals: Optional[int]) -> str:
    if decimals is None:
        decimals = _decimals_for(value)
    return f"{value:.{max(0, min(decimals, 20))}f}"


def _decimals_for(value: float) -> int:
    """Grafana's getDecimalsForValue: about 3 significant digits."""
    if value == 0 or not math.isfinite(value):
        return 0
    a = abs(value)
    log10 = math.floor(math.log10(a))
    dec = -log10 + 1
    norm = a / 10 ** -dec
    if norm > 2.25:
        dec += 1
    if value % 1 == 0:
        dec = 0
    return max(0, dec)


def _scaled(value: float, factor: float, units: Sequence[str], decimals: Optional[int], prefix: str = "",
            suffix: str = "") -> str:
    i, v = 0, value
    while abs(v) >= factor and i < len(units) - 1:
        v /= factor
        i += 1
    return f"{prefix}{_to_fixed(v, decimals)}{units[i]}{suffix}"


def _duration_text(seconds: float, decimals: Optional[int]) -> str:
    a = abs(seconds)
    if a == 0:
        return "0 s"
    for limit, div, suffix in ((1e-6, 1e-9, " ns"), (1e-3, 1e-6, " µs"), (1, 1e-3, " ms"), (60, 1, " s"),
                               (3600, 60, " min"), (86400, 3600, " hour"), (604800, 86400, " day"),
                               (31536000, 604800, " week")):
        if a < limit:
            return _to_fixed(seconds / div, decimals) + suffix
    return _to_fixed(seconds / 31536000, decimals) + " year"


_SI = ["", " K", " M", " B", " T", " P"]
_SHORT = ["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"]


def format_value(value: Optional[float], unit: Optional[str] = None, decimals: Optional[int] = None) -> str:
    """`value` as Grafana shows it for `unit` (percentunit, percent, s, ms, currencyUSD, bytes, decbytes,
    short, none, reqps/ops/rps..., prefix:X, suffix:X; anything else: short with the unit appended)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "No data"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    unit = unit or "short"
    if unit == "percentunit":
        return _to_fixed(value * 100, decimals) + "%"
    if unit == "percent":
        return _to_fixed(value, decimals) + "%"
    if unit == "s":
        return _duration_text(value, decimals)
    if unit == "ms":
        return _duration_text(value / 1000, decimals)
    if unit in ("µs", "us"):
        return _duration_text(value / 1e6, decimals)
    if unit == "ns":
        return _duration_text(value / 1e9, decimals)
    if unit.startswith("currency"):
        symbols = {"currencyUSD": "$", "currencyEUR": "€", "currencyGBP": "£", "currencyJPY": "¥"}
        sym = symbols.get(unit, unit[len("currency"):] + " ")
        sign = "-" if value < 0 else ""
        return sign + _scaled(abs(value), 1000, ["", "K", "M", "B", "T"], decimals, prefix=sym)
    if unit in ("bytes", "decbytes", "bits", "decbits"):
        if unit == "bytes":
            return _scaled(value, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"], decimals)
        if unit == "bits":
            return _scaled(value, 1024, [" b", " Kib", " Mib", " Gib", " Tib"], decimals)
        if unit == "decbytes":
            return _scaled(value, 1000, [" B", " kB", " MB", " GB", " TB", " PB"], decimals)
        return _scaled(value, 1000, [" b", " kb", " Mb", " Gb", " Tb"], decimals)
    rates = {"reqps": " req/s", "rps": " rd/s", "wps": " wr/s", "iops": " io/s", "ops": " ops/s",
             "opm": " ops/min", "reqpm": " req/min", "cps": " c/s", "mps": " m/s"}
    if unit in rates:
        return _scaled(value, 1000, _SI, decimals, suffix=rates[unit])
    if unit == "none":
        return _to_fixed(value, decimals)
    if unit.startswith("prefix:"):
        return unit[7:] + _to_fixed(value, decimals)
    if unit.startswith("suffix:"):
        return _to_fixed(value, decimals) + unit[7:]
    if unit == "short":
        return _scaled(value, 1000, _SHORT, decimals)
    return _scaled(value, 1000, _SHORT, decimals) + " " + unit


_NUMBER = re.compile(r"(\d+)\.(\d*?)0*(?=\D|$)")


def _normalise(label: str) -> str:
    """A formatted value with the trailing zeros of its number dropped ("1.500 K" -> "1.5 K")."""
    return _NUMBER.sub(lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""), label)


class UnitFormatter(Formatter):
    """Axis tick labels in Grafana's unit formatting, each with the fewest decimals that show it exactly
    ("1.5 K", "3 K"; "20%", "40%") rather than ~3 significant digits for a lone value."""

    def __init__(self, unit: Optional[str]):
        self.unit = unit

    def __call__(self, x, pos=None):
        if x == 0:
            return format_value(0.0, self.unit, 0)
        exact = _normalise(format_value(x, self.unit, 6))
        for d in range(0, 4):
            label = format_value(x, self.unit, d)
            if _normalise(label) == exact:
                return label
        return format_value(x, self.unit)  # not a round number: about 3 significant digits


class UnitLocator(MaxNLocator):
    """Ticks at round numbers of the unit as shown: for binary units (bytes, bits), round numbers of KiB,
    MiB, GiB... rather than of bytes."""

    def __init__(self, unit: Optional[str], **kw):
        super().__init__(**kw)
        self.unit = unit

    def tick_values(self, vmin, vmax):
        if self.unit in ("bytes", "bits"):
            biggest = max(abs(vmin), abs(vmax))
            factor = 1024.0 ** max(0, int(math.log(biggest, 1024))) if biggest >= 1 else 1.0
            return np.asarray(super().tick_values(vmin / factor, vmax / factor)) * factor
        return super().tick_values(vmin, vmax)


def axis_formatter(unit: Optional[str]) -> UnitFormatter:
    return UnitFormatter(unit)


#: Grafana's named colours (dark theme)
NAMED_COLORS = {
    "green": "#73BF69", "semi-dark-green": "#56A64B", "dark-green": "#37872D", "light-green": "#96D98D",
    "super-light-green": "#C8F2C2",
    "red": "#F2495C", "semi-dark-red": "#E02F44", "dark-red": "#C4162A", "light-red": "#FF7383",
    "super-light-red": "#FFA6B0",
    "yellow": "#FADE2A", "semi-dark-yellow": "#F2CC0C", "dark-yellow": "#E0B400", "light-yellow": "#FFEE52",
    "super-light-yellow": "#FFF899",
    "orange": "#FF9830", "semi-dark-orange": "#FF780A", "dark-orange": "#FA6400", "light-orange": "#FFB357",
    "super-light-orange": "#FFCB7D",
    "blue": "#5794F2", "semi-dark-blue": "#3274D9", "dark-blue": "#1F60C4", "light-blue": "#8AB8FF",
    "super-light-blue": "#C0D8FF",
    "purple": "#B877D9", "semi-dark-purple": "#A352CC", "dark-purple": "#8F3BB8", "light-purple": "#CA95E5",
    "super-light-purple": "#DEB6F2",
    "text": "#CCCCDC", "transparent": "#00000000",
}
#: Grafana's classic palette (fieldConfig color mode palette-classic)
PALETTE_CLASSIC = ["#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0",
                   "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
                   "#B7DBAB", "#F4D598", "#70DBED", "#F9BA8F", "#F29191", "#82B5D8", "#E5A8E2", "#AEA2E0"]


def grafana_color(name: Optional[str], default: str = "#73BF69") -> str:
    """A Grafana colour (named, #hex, rgb()/rgba()) as a hex colour matplotlib understands."""
    if not name:
        return default
    name = str(name).strip()
    if name in NAMED_COLORS:
        return NAMED_COLORS[name]
    m = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*([\d.]+)\s*)?\)", name)
    if m:
        r, g, b = (int(m.group(i)) for i in (1, 2, 3))
        a = float(m.group(4)) if m.group(4) else 1.0
        return "#%02X%02X%02X%02X" % (r, g, b, round(a * 255))
    if re.fullmatch(r"#[0-9a-fA-F]{3,8}", name):
        return name
    try:
        matplotlib.colors.to_rgba(name)
        return name
    except ValueError:
        return default


@dataclass(frozen=True)
class Step:
    value: float   #: -inf for the base step (value null)
    color: str     #: hex


def thresholds(field_defaults: Mapping) -> Tuple[str, List[Step]]:
    """(mode, steps) of fieldConfig.defaults.thresholds: mode "absolute" or "percentage", steps sorted,
    the base step (value null) at -inf, colours resolved to hex."""
    th = field_defaults.get("thresholds") or {}
    steps = [Step(-math.inf if s.get("value") is None else float(s["value"]), grafana_color(s.get("color")))
             for s in th.get("steps") or []]
    return th.get("mode") or "absolute", sorted(steps, key=lambda s: s.value)


def threshold_color(value: Optional[float], steps: Sequence[Step], mode: str = "absolute",
                    vmin: float = 0.0, vmax: float = 100.0, default: str = "#73BF69") -> str:
    """The colour of the highest step at or below `value` (percentage mode: of value within [vmin, vmax])."""
    if value is None or not math.isfinite(value) or not steps:
        return steps[0].color if steps else default
    v = value
    if mode == "percentage":
        v = 100.0 * (value - vmin) / (vmax - vmin) if vmax > vmin else 0.0
    color = steps[0].color
    for s in steps:
        if v >= s.value:
            color = s.color
    return color


def threshold_lines(panel: Mapping) -> List[Step]:
    """The threshold lines a timeseries panel draws: its non-base steps when custom.thresholdsStyle.mode is
    line, dashed, area or a combination ("line+area"...); [] when it is "off" or absent."""
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    style = ((defaults.get("custom") or {}).get("thresholdsStyle") or {}).get("mode") or "off"
    if style == "off":
        return []
    _mode, steps = thresholds(defaults)
    return [s for s in steps if math.isfinite(s.value)]


# ---------------------------------------------------------------------------------------------------------
# Reductions (reduceOptions.calcs)
# ---------------------------------------------------------------------------------------------------------
def reduce_values(values: np.ndarray, calc: str) -> Optional[float]:
    """Grafana's field reducers over one series' values (NaN = null)."""
    finite = values[np.isfinite(values)] if values.size else values
    if calc in ("lastNotNull", "last"):
        if calc == "last":
            return float(values[-1]) if values.size and math.isfinite(values[-1]) else None
        return float(finite[-1]) if finite.size else None
    if calc in ("firstNotNull", "first"):
        if calc == "first":
            return float(values[0]) if values.size and math.isfinite(values[0]) else None
        return float(finite[0]) if finite.size else None
    if not finite.size:
        return 0.0 if calc in ("count", "sum") else None
    return {
        "mean": lambda: float(finite.mean()), "max": lambda: float(finite.max()), "min": lambda: float(finite.min()),
        "sum": lambda: float(finite.sum()), "count": lambda: float(finite.size),
        "range": lambda: float(finite.max() - finite.min()), "delta": lambda: float(np.clip(np.diff(finite), 0, None).sum()),
        "diff": lambda: float(finite[-1] - finite[0]), "median": lambda: float(np.median(finite)),
        "stdDev": lambda: float(finite.std()), "variance": lambda: float(finite.var()),
    }.get(calc, lambda: float(finite[-1]))()


CALC_NAMES = {"lastNotNull": "Last *", "last": "Last", "mean": "Mean", "max": "Max", "min": "Min", "sum": "Total",
              "count": "Count", "firstNotNull": "First *", "first": "First", "range": "Range", "delta": "Delta",
              "diff": "Difference", "median": "Median"}


# ---------------------------------------------------------------------------------------------------------
# Prometheus over HTTP
# ---------------------------------------------------------------------------------------------------------
class QueryError(RuntimeError):
    pass


class PrometheusHTTP:
    """The Prometheus HTTP API over urllib (POST, form-encoded, as Grafana sends it)."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, params: Sequence[Tuple[str, str]], post: bool = True):
        data = urllib.parse.urlencode(list(params))
        if post:
            req = urllib.request.Request(self.url + path, data=data.encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:  # /api/v1/label/<name>/values answers GET only
            req = urllib.request.Request(self.url + path + "?" + data, method="GET")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read())
            except ValueError:
                raise QueryError(f"HTTP {e.code} from {path}") from None
        except (urllib.error.URLError, OSError) as e:
            raise QueryError(f"{self.url}{path}: {getattr(e, 'reason', e)}") from None
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list:
        data = self._call("/api/v1/query_range", [("query", expr), ("start", _num(start)), ("end", _num(end)),
                                                  ("step", _num(step))])
        return data["result"]

    def query(self, expr: str, time_: float) -> list:
        """Instant query: a list of {"metric", "value"} (a scalar or string result becomes one such)."""
        data = self._call("/api/v1/query", [("query", expr), ("time", _num(time_))])
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        if data["resultType"] == "matrix":
            return [{"metric": s["metric"], "value": s["values"][-1]} for s in data["result"] if s["values"]]
        return data["result"]

    def label_values(self, label: str, match: Optional[str], start: float, end: float) -> List[str]:
        params = [("start", _num(start)), ("end", _num(end))]
        if match:
            params.append(("match[]", match))
        return list(self._call(f"/api/v1/label/{urllib.parse.quote(label)}/values", params, post=False))


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------------------------------
# Panel data
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Series:
    name: str
    labels: Dict[str, str]
    times: np.ndarray   #: unix seconds
    values: np.ndarray  #: float, NaN = null
    ref_id: str = "A"


@dataclass
class PanelReport:
    """What the preview found and drew for one panel."""
    id: Optional[int]
    title: str
    type: str
    file: Optional[str]              #: PNG, relative to the dashboard's directory
    grid_pos: Dict[str, int]
    row: Optional[str] = None        #: title of the row it sits under
    series: int = 0
    points: int = 0                  #: finite values received, all series
    has_data: bool = False
    queries: List[Dict] = field(default_factory=list)  #: {ref_id, expr (expanded), step, instant, series}
    errors: List[str] = field(default_factory=list)
    no_data_reason: Optional[str] = None
    drawn: Dict = field(default_factory=dict)  #: what was put on the image (artists, points, plot box)
    drawn_truncated: int = 0         #: series over max_series, not drawn
    seconds: float = 0.0


@dataclass
class Report:
    uid: str
    title: str
    start: float
    end: float
    variables: Dict[str, str]
    panels: List[PanelReport]
    out_dir: str
    index: str
    notes: List[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def no_data(self) -> List[PanelReport]:
        return [p for p in self.panels if p.type != "row" and not p.has_data and p.type != "text"]

    def to_json(self) -> dict:
        return asdict(self)


def _le_key(s: Series) -> float:
    le = s.labels.get("le", s.name)
    try:
        return float(le.replace("+Inf", "inf"))
    except ValueError:
        try:
            return float(s.name.replace("+Inf", "inf"))
        except ValueError:
            return math.inf


def heatmap_buckets(series: List[Series]) -> List[Series]:
    """Grafana's Prometheus format "heatmap": series sorted by their `le` bound (+Inf last), then each
    bucket minus the one below it (cumulative counts become per-bucket counts; below 1e-9 becomes 0)."""
    ordered = sorted(series, key=_le_key)
    for i in range(len(ordered) - 1, 0, -1):
        top, bottom = ordered[i], ordered[i - 1]
        if top.values.shape == bottom.values.shape:
            diff = top.values - np.nan_to_num(bottom.values, nan=0.0)
            diff[diff < 1e-9] = 0.0
            top.values = diff
    return ordered


def _panel_width_cols(panel: Mapping) -> int:
    return int((panel.get("gridPos") or {}).get("w") or 12)


class _Context:
    def __init__(self, query_range, query_instant, start, end, variables, scrape_interval, dashboard_width_px,
                 honour_max_data_points):
        self.query_range = query_range
        self.query_instant = query_instant
        self.start, self.end = start, end
        self.variables = variables
        self.scrape_interval = scrape_interval
        self.dashboard_width_px = dashboard_width_px
        self.honour_max_data_points = honour_max_data_points


def fetch_panel(panel: Mapping, ctx: _Context) -> Tuple[List[Series], List[Dict], List[str], List[str]]:
    """Run a panel's queries as Grafana would: (series, queries as sent, errors, undefined variables)."""
    series: List[Series] = []
    queries: List[Dict] = []
    errors: List[str] = []
    undefined: List[str] = []
    width = _panel_width_cols(panel)
    mdp = panel.get("maxDataPoints") if ctx.honour_max_data_points else None
    panel_min = parse_duration(panel.get("interval"))
    for t in panel.get("targets") or []:
        if t.get("hide") or not t.get("expr"):
            continue
        min_step = parse_duration(t.get("interval"))
        exp = grafana_expand(t["expr"], ctx.variables, ctx.start, ctx.end, width, max_data_points=mdp,
                             scrape_interval=ctx.scrape_interval, min_interval=panel_min,
                             interval_factor=t.get("intervalFactor") or 1, min_step=min_step,
                             dashboard_width_px=ctx.dashboard_width_px)
        instant = bool(t.get("instant")) and not t.get("range")
        und = undefined_variables(exp.expr)
        undefined += [u for u in und if u not in undefined]
        ref = t.get("refId") or "A"
        q = {"ref_id": ref, "expr": exp.expr, "step": exp.step, "instant": instant, "series": 0}
        queries.append(q)
        try:
            if instant:
                raw = ctx.query_instant(exp.expr, ctx.end)
                got = [Series("", dict(r.get("metric") or {}), np.array([float(r["value"][0])]),
                              np.array([_float(r["value"][1])]), ref) for r in raw]
            else:
                step = exp.step
                # Grafana aligns the range to the step so that queries at about the same time look the same
                start = math.floor(ctx.start / step) * step
                end = math.floor(ctx.end / step) * step
                raw = ctx.query_range(exp.expr, start, end, step)
                got = []
                for r in raw:
                    vals = r.get("values") or []
                    got.append(Series("", dict(r.get("metric") or {}),
                                      np.array([float(v[0]) for v in vals], dtype=float),
                                      np.array([_float(v[1]) for v in vals], dtype=float), ref))
        except Exception as e:  # noqa: BLE001 - shown on the panel, like Grafana's error corner
            errors.append(f"{ref}: {e}")
            continue
        for s in got:
            s.name = format_legend(t.get("legendFormat"), s.labels, exp.expr)
        if t.get("format") == "heatmap":
            got = heatmap_buckets(got)
        q["series"] = len(got)
        series += got
    return series, queries, errors, undefined


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------------------
BG = "#181B1F"         # Grafana dark panel background
BORDER = "#2A2D33"
TEXT = "#CCCCDC"
TEXT_DIM = "#8E8E9A"
GRID = "#2C3035"
PX = 100.0             # matplotlib dpi at scale 1: 1 px = 0.72 pt


class Canvas:
    """A figure of w x h logical pixels with helpers placing things in pixels from the top-left."""

    def __init__(self, w_px: int, h_px: int, scale: float = 1.0):
        self.w, self.h, self.scale = w_px, h_px, scale
        self.fig = Figure(figsize=(w_px / PX, h_px / PX), dpi=PX * scale, facecolor=BG)
        FigureCanvasAgg(self.fig)

    def axes(self, left: float, top: float, right: float, bottom: float, **kw):
        """Axes spanning [left, w-right] x [top, h-bottom] (px from the figure's edges)."""
        w = max(1.0, self.w - left - right)
        h = max(1.0, self.h - top - bottom)
        return self.fig.add_axes([left / self.w, bottom / self.h, w / self.w, h / self.h], **kw)

    def text(self, x: float, y: float, s: str, **kw):
        """Text at (x, y) px from the top-left."""
        return self.fig.text(x / self.w, 1 - y / self.h, s, **kw)

    def save(self, path: str) -> None:
        self.fig.savefig(path, facecolor=self.fig.get_facecolor(), dpi=PX * self.scale)

    def bbox_px(self, ax) -> List[int]:
        """The axes' box in the saved image's pixels: [x0, y0, x1, y1], y from the top."""
        b = ax.get_position()
        W, H = self.w * self.scale, self.h * self.scale
        return [int(b.x0 * W), int((1 - b.y1) * H), int(b.x1 * W), int((1 - b.y0) * H)]


def _fit(text: str, max_px: float, font_px: float) -> str:
    """`text` cut with an ellipsis to about `max_px` wide at `font_px` (DejaVu Sans averages 0.6 em)."""
    n = max(3, int(max_px / (font_px * 0.6)))
    return text if len(text) <= n else text[: n - 1] + "…"


def _title(c: Canvas, panel: Mapping, note: Optional[str] = None) -> None:
    title = panel.get("title") or ""
    c.text(8, 6, _fit(title, c.w - 16, 13), fontsize=9.5, color=TEXT, va="top", ha="left", fontweight="bold")
    if note:
        c.text(c.w - 8, 6, note, fontsize=7, color="#F2495C", va="top", ha="right")


def _frame(c: Canvas) -> None:
    c.fig.patches.append(Rectangle((0, 0), 1, 1, transform=c.fig.transFigure, fill=False, edgecolor=BORDER,
                                   linewidth=1.0))


def _style_axes(ax) -> None:
    ax.set_facecolor(BG)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.tick_params(colors=TEXT_DIM, labelsize=7, length=0, pad=3)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def _defaults(panel: Mapping) -> Mapping:
    return (panel.get("fieldConfig") or {}).get("defaults") or {}


def _series_color(i: int, panel: Mapping) -> str:
    color = _defaults(panel).get("color") or {}
    if color.get("mode") == "fixed" and color.get("fixedColor"):
        return grafana_color(color["fixedColor"])
    return PALETTE_CLASSIC[i % len(PALETTE_CLASSIC)]


def render_message(c: Canvas, panel: Mapping, message: str, detail: Optional[str] = None,
                   color: str = TEXT_DIM) -> Dict:
    _title(c, panel)
    c.text(c.w / 2, c.h / 2 - 4, message, fontsize=14 if c.h > 120 else 10, color=color, ha="center",
           va="center")
    if detail:
        import textwrap
        lines = textwrap.wrap(detail, max(12, int((c.w - 24) / (10 * 0.6))))
        max_lines = max(1, int((c.h / 2 - 16) // 12))
        if len(lines) > max_lines:
            lines = lines[:max_lines - 1] + [_fit(" ".join(lines[max_lines - 1:]), c.w - 24, 10)]
        c.text(c.w / 2, c.h / 2 + 14, "\n".join(lines), fontsize=7.5, color=TEXT_DIM, ha="center", va="top",
               linespacing=1.3)
    return {"message": message}


def _grid(series: List[Series], start: float, end: float) -> Tuple[np.ndarray, np.ndarray]:
    """Series on a common time axis (union of their timestamps), NaN where one has no sample, with a NaN
    inserted where a series skips one or more steps (Grafana breaks the line there: spanNulls off)."""
    ts = np.unique(np.concatenate([s.times for s in series])) if series else np.array([])
    if ts.size > 1:
        step = float(np.min(np.diff(ts)))
        full = np.arange(ts[0], ts[-1] + step / 2, step)
        if full.size <= 20000:
            ts = np.unique(np.concatenate([ts, full]))
    mat = np.full((len(series), ts.size), np.nan)
    for i, s in enumerate(series):
        idx = np.searchsorted(ts, s.times)
        mat[i, idx] = s.values
    return ts, mat


LEGEND_ROW_PX = 13.0
LEGEND_COLUMN_PX = 420.0  #: a legend column (name and calcs) wants about this much width


def _legend_shape(n: int, width: float, max_height: float, header: bool) -> Tuple[int, int]:
    """(rows, columns) of a legend of n entries in `width` x at most `max_height` px: as many columns as
    fit at LEGEND_COLUMN_PX (wide panels spread their legend), more (up to 4) when the rows do not fit."""
    max_rows = max(1, int((max_height - (LEGEND_ROW_PX if header else 0)) // LEGEND_ROW_PX))
    ncols = max(1, min(4, int(width // LEGEND_COLUMN_PX), n))
    while n > max_rows * ncols and ncols < 4:
        ncols += 1
    rows = min(max_rows, math.ceil(n / ncols))
    if n <= rows * ncols:  # balance: as few columns as give that many rows
        ncols = math.ceil(n / rows)
    return rows, ncols


def _legend(c: Canvas, entries: List[Tuple[str, str, List[str]]], calcs: List[str], top: float, height: float,
            left: float = 8) -> None:
    """Grafana's bottom legend (table mode with calcs): swatch, name, then the calcs' values, in up to four
    columns when the series do not fit one; "+N more" when they do not fit at all."""
    if not entries:
        return
    row_h, font_px = LEGEND_ROW_PX, 9.4  # 6.8 pt
    width = c.w - left - 8
    max_rows, ncols = _legend_shape(len(entries), width, height, bool(calcs))
    col_w = width / ncols
    # each calc column as wide as its widest text
    calc_ws = []
    for k, calc in enumerate(calcs):
        longest = max([len(CALC_NAMES.get(calc, calc))] + [len(e[2][k]) for e in entries if k < len(e[2])])
        calc_ws.append(longest * font_px * 0.6 + 10)
    calc_total = sum(calc_ws)
    if calc_total > col_w * 0.6:  # no room for the calcs: names only
        calcs, calc_ws, calc_total = [], [], 0.0
    rights = []
    x = col_w - 4
    for w in reversed(calc_ws):
        rights.insert(0, x)
        x -= w
    y0 = top
    if calcs:
        for col in range(ncols):
            for k, calc in enumerate(calcs):
                c.text(left + col * col_w + rights[k], y0, CALC_NAMES.get(calc, calc), fontsize=6.5,
                       color="#5794F2", ha="right", va="top")
        y0 += row_h
    shown = entries[: max_rows * ncols]
    for i, (name, color, vals) in enumerate(shown):
        col, row = divmod(i, max_rows)
        x = left + col * col_w
        y = y0 + row * row_h
        c.fig.patches.append(Rectangle((x / c.w, 1 - (y + 7) / c.h), 12 / c.w, 2.5 / c.h,
                                       transform=c.fig.transFigure, color=color))
        c.text(x + 16, y, _fit(name, max(30.0, col_w - 24 - calc_total), font_px), fontsize=6.8, color=TEXT,
               ha="left", va="top")
        for k in range(len(calcs)):
            c.text(x + rights[k], y, vals[k], fontsize=6.8, color=TEXT, ha="right", va="top")
    if len(entries) > len(shown):
        c.text(c.w - 8, top + height - 2, f"+{len(entries) - len(shown)} more", fontsize=6.5, color=TEXT_DIM,
               ha="right", va="bottom")


def _time_axis(ax, start: float, end: float) -> None:
    ax.set_xlim(_epoch_days(start), _epoch_days(end))
    span = end - start
    fmt = "%H:%M" if span <= 2 * 86400 else "%m/%d %H:%M" if span <= 7 * 86400 else "%m/%d"
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=_local_tz()))


def _epoch_days(t):
    return np.asarray(t, dtype=float) / 86400.0  # matplotlib's default epoch is 1970-01-01


def _local_tz():
    return _dt.datetime.now().astimezone().tzinfo


def render_timeseries(c: Canvas, panel: Mapping, series: List[Series], start: float, end: float) -> Dict:
    defaults = _defaults(panel)
    custom = defaults.get("custom") or {}
    unit = defaults.get("unit")
    options = panel.get("options") or {}
    legend_opts = options.get("legend") or {}
    show_legend = legend_opts.get("showLegend", True) and legend_opts.get("displayMode") != "hidden"
    calcs = list(legend_opts.get("calcs") or []) if legend_opts.get("displayMode") == "table" else []
    stacking = (custom.get("stacking") or {}).get("mode") or "none"
    fill = float(custom.get("fillOpacity") or 0) / 100.0
    line_w = float(custom.get("lineWidth") or 1)
    draw_style = custom.get("drawStyle") or "line"

    _title(c, panel)
    n = len(series)
    legend_h = 0.0
    if show_legend and n:
        rows, _ncols = _legend_shape(n, c.w - 16, c.h * 0.38, bool(calcs))
        legend_h = LEGEND_ROW_PX * (rows + (1 if calcs else 0)) + 4
    ax = c.axes(left=62, top=26, right=12, bottom=18 + legend_h)
    _style_axes(ax)
    ts, mat = _grid(series, start, end)
    x = _epoch_days(ts)
    drawn_points = 0
    artists = 0
    base = np.zeros(ts.size)
    colors = [_series_color(i, panel) for i in range(n)]
    data_min, data_max = math.inf, -math.inf
    for i, s in enumerate(series):
        y = mat[i]
        finite = np.isfinite(y)
        if stacking == "normal":
            lower = base.copy()
            y = np.where(finite, base + np.nan_to_num(y), np.nan)
            base = base + np.nan_to_num(mat[i])
        else:
            lower = np.zeros(ts.size)
        if finite.any():
            data_min = min(data_min, float(np.nanmin(y)),
                           float(np.min(lower[finite])) if stacking == "normal" else math.inf)
            data_max = max(data_max, float(np.nanmax(y)))
        if draw_style == "bars":
            ax.bar(x[finite], (y - lower)[finite], bottom=lower[finite], width=(x[1] - x[0]) * 0.8 if x.size > 1 else 0.01,
                   color=colors[i], alpha=max(fill, 0.8))
        else:
            ax.plot(x, y, color=colors[i], linewidth=line_w, solid_joinstyle="round")
            if finite.sum() == 1:  # a lone point: Grafana shows it as a dot
                ax.plot(x[finite], y[finite], "o", color=colors[i], markersize=2.5)
            if fill > 0:
                ax.fill_between(x, lower, y, where=finite, color=colors[i], alpha=fill, linewidth=0,
                                interpolate=False)
        artists += 1
        drawn_points += int(finite.sum())
    _time_axis(ax, start, end)
    ax.yaxis.set_major_formatter(axis_formatter(unit))
    ax.yaxis.set_major_locator(UnitLocator(unit, nbins=max(2, int(ax.get_position().height * c.h // 28)),
                                           min_n_ticks=2))
    if math.isfinite(data_min):
        lo, hi = data_min, data_max
        if hi == lo:  # a flat line: Grafana centres it, and shows 0..1 for zeros
            lo, hi = (0.0, 1.0) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
        pad = (hi - lo) * 0.05
        lo2, hi2 = lo - pad, hi + pad
        if lo >= 0 > lo2:  # no negative axis for non-negative data; just room for a line at 0
            lo2 = -(hi - lo) * 0.015
        if defaults.get("min") is not None:
            lo2 = float(defaults["min"])
        if defaults.get("max") is not None:
            hi2 = float(defaults["max"])
        ax.set_ylim(lo2, hi2)
    elif defaults.get("min") is not None or defaults.get("max") is not None:
        ax.set_ylim(defaults.get("min"), defaults.get("max"))
    # threshold lines, as Grafana draws them: they do not widen the axis; ones out of range are noted
    style = ((custom.get("thresholdsStyle") or {}).get("mode")) or "off"
    lines = threshold_lines(panel)
    out_of_range = []
    if lines:
        lo_y, hi_y = ax.get_ylim()
        mode, all_steps = thresholds(defaults)
        if "area" in style:
            bounds = [lo_y] + [s.value for s in lines] + [hi_y]
            for k, s in enumerate([all_steps[0]] + lines):
                a, b = max(bounds[k], lo_y), min(bounds[k + 1], hi_y)
                if b > a:
                    ax.axhspan(a, b, color=s.color, alpha=0.12, linewidth=0)
        if "line" in style or "dashed" in style or "area" not in style:
            for s in lines:
                ax.axhline(s.value, color=s.color, linewidth=1.0,
                           linestyle=(0, (4, 3)) if "dashed" in style or "line" in style else "-")
                if not lo_y <= s.value <= hi_y:
                    out_of_range.append(s)
        ax.set_ylim(lo_y, hi_y)
    if out_of_range:
        c.text(c.w - 8, 8, "threshold " + ", ".join(("▲ " if s.value > ax.get_ylim()[1] else "▼ ")
                                                      + format_value(s.value, unit) for s in out_of_range),
               fontsize=6.5, color=out_of_range[0].color, ha="right", va="top")
    if show_legend and n:
        entries = []
        for i, s in enumerate(series):
            entries.append((s.name, colors[i], [format_value(reduce_values(s.values, k), unit) for k in calcs]))
        _legend(c, entries, calcs, top=c.h - legend_h, height=legend_h)
    return {"artists": artists, "drawn_points": drawn_points, "plot_bbox": c.bbox_px(ax),
            "colors": colors, "stacked": stacking == "normal",
            "threshold_lines": [(s.value, s.color) for s in lines]}


def _reduce_fields(panel: Mapping, series: List[Series]) -> List[Tuple[Series, Optional[float]]]:
    calcs = ((panel.get("options") or {}).get("reduceOptions") or {}).get("calcs") or ["lastNotNull"]
    return [(s, reduce_values(s.values, calcs[0])) for s in series]


def _auto_fontsize(text: str, w_px: float, h_px: float, max_pt: float = 40) -> float:
    """A font size (pt) at which `text` fits w x h px (DejaVu Sans: ~0.62 em per glyph)."""
    by_w = w_px / max(1, len(text)) / 0.62 * 0.72
    by_h = h_px * 0.72 * 0.75
    return max(6.0, min(max_pt, by_w, by_h))


def value_mapping(defaults: Mapping, value: Optional[float]) -> Optional[Mapping]:
    """The result ({text, color}) of the first `value` mapping of the field config that matches, as
    Grafana's getValueMappingResult does for exact values; None when none does."""
    if value is None:
        return None
    for m in defaults.get("mappings") or []:
        if m.get("type") == "value":
            for key, result in (m.get("options") or {}).items():
                try:
                    if float(key) == value:
                        return result
                except ValueError:
                    continue
    return None


def render_stat(c: Canvas, panel: Mapping, series: List[Series], start: float, end: float) -> Dict:
    defaults = _defaults(panel)
    options = panel.get("options") or {}
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    mode, steps = thresholds(defaults)
    color_mode = options.get("colorMode") or "value"
    graph = options.get("graphMode") == "area"
    text_mode = options.get("textMode") or "auto"
    _title(c, panel)
    fields = _reduce_fields(panel, series)
    n = len(fields)
    top, pad = 26.0, 6.0
    avail_w, avail_h = c.w - 2 * pad, c.h - top - pad
    horizontal = (options.get("orientation") or "auto") == "horizontal" or (
        (options.get("orientation") or "auto") == "auto" and avail_w >= avail_h)
    cols = n if horizontal else 1
    rows = 1 if horizontal else n
    if n > 6:  # many values: a grid
        cols = math.ceil(math.sqrt(n * avail_w / max(avail_h, 1)))
        rows = math.ceil(n / cols)
    cell_w, cell_h = avail_w / max(cols, 1), avail_h / max(rows, 1)
    finite_vals = [v for _, v in fields if v is not None]
    vmin = defaults.get("min") if defaults.get("min") is not None else min(finite_vals, default=0)
    vmax = defaults.get("max") if defaults.get("max") is not None else max(finite_vals, default=100)
    sparks = 0
    values_shown = []
    for k, (s, v) in enumerate(fields):
        r, col = divmod(k, cols)
        x0, y0 = pad + col * cell_w, top + r * cell_h
        color = threshold_color(v, steps, mode, vmin, vmax)
        mapped = value_mapping(defaults, v)
        if mapped is not None and mapped.get("color"):
            color = grafana_color(mapped["color"])
        if color_mode == "background":
            c.fig.patches.append(FancyBboxPatch(((x0 + 2) / c.w, 1 - (y0 + cell_h - 2) / c.h),
                                                (cell_w - 4) / c.w, (cell_h - 4) / c.h,
                                                boxstyle="round,pad=0,rounding_size=0.01",
                                                transform=c.fig.transFigure, color=color, alpha=0.9, zorder=0))
        text_color = TEXT if color_mode in ("background", "none") else color
        if graph and s.times.size > 1 and np.isfinite(s.values).sum() > 1:
            ax = c.fig.add_axes([(x0 + 2) / c.w, 1 - (y0 + cell_h - 2) / c.h, (cell_w - 4) / c.w,
                                 (cell_h * 0.45) / c.h])
            ax.set_axis_off()
            xs = _epoch_days(s.times)
            spark_color = "#FFFFFF" if color_mode == "background" else color
            lo, hi = float(np.nanmin(s.values)), float(np.nanmax(s.values))
            if hi == lo:
                lo, hi = lo - 1, hi + 1
            floor = lo - (hi - lo) * 0.05
            ax.plot(xs, s.values, color=spark_color, linewidth=1.0, alpha=0.9)
            ax.fill_between(xs, floor, s.values, where=np.isfinite(s.values), color=spark_color,
                            alpha=0.18, linewidth=0)
            ax.set_xlim(_epoch_days(start), _epoch_days(end))
            ax.set_ylim(floor, hi + (hi - lo) * 0.05)
            sparks += 1
        text = mapped["text"] if mapped is not None and mapped.get("text") else \
            format_value(v, unit, decimals) if v is not None else (defaults.get("noValue") or "No data")
        values_shown.append(text)
        show_name = text_mode in ("value_and_name", "name") or (text_mode == "auto" and n > 1)
        name_h = 14.0 if show_name else 0.0
        value_area_h = (cell_h * (0.55 if graph else 0.9)) - name_h
        fs = _auto_fontsize(text, cell_w - 8, value_area_h)
        cy = y0 + name_h + value_area_h / 2 + (cell_h * 0.05)
        if show_name:
            c.text(x0 + cell_w / 2, y0 + 2, _fit(s.name, cell_w - 6, 9), fontsize=7, color=TEXT, ha="center",
                   va="top")
        if text_mode != "name":
            c.text(x0 + cell_w / 2, cy, text, fontsize=fs, color=text_color, ha="center", va="center",
                   fontweight="bold")
    return {"values": values_shown, "sparklines": sparks, "artists": n}


def render_bargauge(c: Canvas, panel: Mapping, series: List[Series], start: float, end: float) -> Dict:
    defaults = _defaults(panel)
    options = panel.get("options") or {}
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    mode, steps = thresholds(defaults)
    _title(c, panel)
    fields = _reduce_fields(panel, series)
    vals = [v for _, v in fields if v is not None]
    vmin = float(defaults["min"]) if defaults.get("min") is not None else min(0.0, min(vals, default=0.0))
    vmax = float(defaults["max"]) if defaults.get("max") is not None else max(vals, default=1.0)
    if vmax <= vmin:
        vmax = vmin + 1
    top, pad = 26.0, 8.0
    n = max(1, len(fields))
    name_w = min(140.0, max(30.0, 7.0 * max((len(s.name) for s, _ in fields), default=4) + 6))
    value_w = 62.0
    area_h = c.h - top - pad
    bar_slot = area_h / n
    bar_h = max(3.0, min(bar_slot * 0.75, 40.0))
    font = max(5.5, min(8.0, bar_slot * 0.72 * 0.72))
    x_bar0 = pad + name_w
    bar_w_full = c.w - x_bar0 - value_w - pad
    drawn = 0
    for k, (s, v) in enumerate(fields):
        y = top + k * bar_slot + (bar_slot - bar_h) / 2
        color = threshold_color(v, steps, mode, vmin, vmax)
        # the empty track, then the value
        c.fig.patches.append(Rectangle((x_bar0 / c.w, 1 - (y + bar_h) / c.h), bar_w_full / c.w, bar_h / c.h,
                                       transform=c.fig.transFigure, color="#22252B", linewidth=0))
        if v is not None and math.isfinite(v):
            frac = min(1.0, max(0.0, (v - vmin) / (vmax - vmin)))
            if frac > 0:
                c.fig.patches.append(Rectangle((x_bar0 / c.w, 1 - (y + bar_h) / c.h), frac * bar_w_full / c.w,
                                               bar_h / c.h, transform=c.fig.transFigure, color=color,
                                               alpha=0.85 if options.get("displayMode") == "gradient" else 1.0,
                                               linewidth=0))
                drawn += 1
        c.text(x_bar0 - 6, y + bar_h / 2, _fit(s.name, name_w - 6, font * 1.39), fontsize=font, color=TEXT,
               ha="right", va="center")
        c.text(c.w - pad, y + bar_h / 2, format_value(v, unit, decimals), fontsize=font, color=color,
               ha="right", va="center", fontweight="bold")
    # drawn horizontally whatever options.orientation says (the dashboards' bar gauges are horizontal)
    return {"bars": len(fields), "drawn_bars": drawn, "order": [s.name for s, _ in fields], "artists": len(fields)}


def render_gauge(c: Canvas, panel: Mapping, series: List[Series], start: float, end: float) -> Dict:
    defaults = _defaults(panel)
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    mode, steps = thresholds(defaults)
    _title(c, panel)
    fields = _reduce_fields(panel, series)[:6]
    vmin = float(defaults.get("min") if defaults.get("min") is not None else 0)
    vmax = float(defaults.get("max") if defaults.get("max") is not None else
                 (1 if defaults.get("unit") == "percentunit" else 100))
    n = max(1, len(fields))
    cell_w = (c.w - 12) / n
    top, bottom = 28.0, 8.0 + (14.0 if n > 1 else 0.0)
    avail_h = c.h - top - bottom
    for k, (s, v) in enumerate(fields):
        # a half disc: 2.2 x 1.15 data units, as large as the cell allows, centred in it
        width = min(cell_w * 0.92, avail_h * 2.2 / 1.15)
        height = width * 1.15 / 2.2
        cx = 6 + cell_w * (k + 0.5)
        y_top = top + (avail_h - height) / 2
        ax = c.fig.add_axes([(cx - width / 2) / c.w, 1 - (y_top + height) / c.h, width / c.w, height / c.h])
        size = width
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-0.1, 1.05)
        ax.set_aspect("equal")
        ax.set_axis_off()
        # the threshold band (outer ring), then the value arc
        edges = [vmin] + [min(max(st.value, vmin), vmax) for st in steps[1:]] + [vmax]
        for j, st in enumerate(steps or [Step(-math.inf, "#73BF69")]):
            a, b = edges[j], edges[j + 1] if j + 1 < len(edges) else vmax
            if b > a:
                t1 = 180 - 180 * (a - vmin) / (vmax - vmin)
                t2 = 180 - 180 * (b - vmin) / (vmax - vmin)
                ax.add_patch(Wedge((0, 0), 1.0, t2, t1, width=0.07, color=st.color))
        ax.add_patch(Wedge((0, 0), 0.9, 0, 180, width=0.25, color="#22252B"))
        frac = min(1.0, max(0.0, (v - vmin) / (vmax - vmin))) if v is not None else 0.0
        if frac > 0:
            ax.add_patch(Wedge((0, 0), 0.9, 180 - 180 * frac, 180, width=0.25,
                               color=threshold_color(v, steps, mode, vmin, vmax)))
        text = format_value(v, unit, decimals)
        ax.text(0, 0.12, text, ha="center", va="center", color=threshold_color(v, steps, mode, vmin, vmax),
                fontsize=_auto_fontsize(text, size * 0.45, size * 0.14, 26), fontweight="bold")
        if n > 1:
            c.text(cx, c.h - 6, _fit(s.name, cell_w, 9), fontsize=7, color=TEXT, ha="center", va="bottom")
    return {"gauges": len(fields), "artists": len(fields)}


def render_table(c: Canvas, panel: Mapping, series: List[Series], start: float, end: float) -> Dict:
    defaults = _defaults(panel)
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    _title(c, panel)
    labels = []
    for s in series:
        for k in s.labels:
            if k != "__name__" and k not in labels:
                labels.append(k)
    cols = labels + ["Value"]
    rows = [[s.labels.get(k, "") for k in labels] + [format_value(reduce_values(s.values, "lastNotNull"), unit,
                                                                    decimals)] for s in series]
    row_h = 15.0
    max_rows = max(1, int((c.h - 30 - row_h) // row_h))
    col_w = (c.w - 16) / max(1, len(cols))
    y = 28.0
    for j, name in enumerate(cols):
        c.text(8 + j * col_w, y, _fit(name, col_w - 4, 9), fontsize=7, color="#5794F2", ha="left", va="top",
               fontweight="bold")
    for i, row in enumerate(rows[:max_rows]):
        yy = y + (i + 1) * row_h
        if i % 2 == 0:
            c.fig.patches.append(Rectangle((4 / c.w, 1 - (yy + row_h - 2) / c.h), (c.w - 8) / c.w, row_h / c.h,
                                           transform=c.fig.transFigure, color="#1F2228", linewidth=0))
        for j, cell in enumerate(row):
            c.text(8 + j * col_w, yy, _fit(cell, col_w - 4, 9), fontsize=7, color=TEXT, ha="left", va="top")
    if len(rows) > max_rows:
        c.text(c.w - 8, c.h - 4, f"+{len(rows) - max_rows} more rows", fontsize=6.5, color=TEXT_DIM, ha="right",
               va="bottom")
    return {"rows": len(rows), "artists": len(rows)}


def _markdown_to_text(content: str) -> str:
    text = re.sub(r"<[^>]+>", "", content)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)
    text = re.sub(r"^#+\s*", "", text, flags=re.M)
    text = re.sub(r"(\*\*|__|`)", "", text)
    return text.strip()


def render_text(c: Canvas, panel: Mapping) -> Dict:
    import textwrap
    _title(c, panel)
    content = (panel.get("options") or {}).get("content") or panel.get("content") or ""
    text = _markdown_to_text(content)
    width_chars = max(10, int((c.w - 16) / (9 * 0.6)))
    lines: List[str] = []
    for para in text.splitlines() or [""]:
        lines += textwrap.wrap(para, width_chars) or [""]
    max_lines = max(1, int((c.h - 30) // 12))
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + ["…"]
    c.text(8, 28, "\n".join(lines), fontsize=7, color=TEXT, ha="left", va="top", linespacing=1.3)
    return {"lines": len(lines), "artists": 1}


RENDERERS = {"timeseries": render_timeseries, "graph": render_timeseries, "stat": render_stat,
             "singlestat": render_stat, "bargauge": render_bargauge, "gauge": render_gauge, "table": render_table}


# ---------------------------------------------------------------------------------------------------------
# Dashboards
# ---------------------------------------------------------------------------------------------------------
def layout(panels: List[Mapping]) -> List[Tuple[Mapping, Dict[str, int], Optional[str]]]:
    """(panel, gridPos, row title) of every panel, rows included, in page order. A collapsed row's panels
    are shown expanded below it (the ones after it moved down), so that a preview shows everything."""
    out = []
    offset = 0
    row_title = None
    for p in sorted(panels, key=lambda p: ((p.get("gridPos") or {}).get("y", 0), (p.get("gridPos") or {}).get("x", 0))):
        gp = dict(p.get("gridPos") or {"x": 0, "y": 0, "w": 12, "h": 8})
        gp = {"x": int(gp.get("x", 0)), "y": int(gp.get("y", 0)) + offset, "w": int(gp.get("w", 12)),
              "h": int(gp.get("h", 8))}
        if p.get("type") == "row":
            row_title = p.get("title") or ""
            out.append((p, gp, row_title))
            children = p.get("panels") or []
            if p.get("collapsed") and children:
                y0 = min(int((c.get("gridPos") or {}).get("y", 0)) for c in children)
                bottom = 0
                for ch in sorted(children, key=lambda c: ((c.get("gridPos") or {}).get("y", 0),
                                                          (c.get("gridPos") or {}).get("x", 0))):
                    cg = dict(ch.get("gridPos") or {})
                    g = {"x": int(cg.get("x", 0)), "y": gp["y"] + 1 + int(cg.get("y", 0)) - y0,
                         "w": int(cg.get("w", 12)), "h": int(cg.get("h", 8))}
                    bottom = max(bottom, g["y"] + g["h"])
                    out.append((ch, g, row_title))
                offset += bottom - (gp["y"] + 1)
            continue
        out.append((p, gp, row_title))
    return out


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "dashboard"


def render_dashboard(dashboard: dict, query_range: QueryRange, out_dir: str, *, start: float, end: float,
                     variables: Optional[Mapping[str, Union[str, Sequence[str]]]] = None,
                     query_instant: Optional[QueryInstant] = None, label_values: Optional[LabelValues] = None,
                     scrape_interval: float = DEFAULT_SCRAPE_INTERVAL, dashboard_width_px: int = DASHBOARD_WIDTH_PX,
                     scale: float = 1.0, honour_max_data_points: bool = True, workers: int = 4,
                     max_series: int = 200) -> Report:
    """Render every panel of `dashboard` for [start, end] into `out_dir` (<uid>-panel-<id>.png) and write
    out_dir/index.html (the panels on Grafana's grid) and out_dir/report.json.

    query_range(expr, start, end, step) -> Prometheus matrix results; query_instant(expr, time) -> vector
    results (default: the last point of a one-step range query); label_values(label, match, start, end) ->
    values, for query variables (default: derived from a range query). `variables` overrides the saved
    selection of the dashboard's variables (name -> value, list, or "All"). `scrape_interval`: the
    datasource's (seconds), for $__rate_interval and the min interval. `honour_max_data_points`: use a
    panel's maxDataPoints for the step as Grafana does (else its pixel width). `max_series`: a panel draws
    at most this many series (the rest are counted in the report, and noted on the image), which keeps
    rendering bounded whatever a query returns; the HTTP client's timeout bounds each query."""
    t0 = time.monotonic()
    os.makedirs(out_dir, exist_ok=True)
    if query_instant is None:
        def query_instant(expr, t, _qr=query_range):
            res = _qr(expr, t, t, 1)
            return [{"metric": r["metric"], "value": r["values"][-1]} for r in res if r.get("values")]
    if label_values is None:
        def label_values(label, match, s, e, _qr=query_range):
            selector = match or '{__name__=~".+"}'
            res = _qr(f"count by ({label}) ({selector})", s, e, max(1.0, (e - s) / 50))
            return sorted({r["metric"].get(label) for r in res if r["metric"].get(label)})
    notes: List[str] = []
    resolved = resolve_variables(dashboard, label_values, start, end, variables, notes)
    ctx = _Context(query_range, query_instant, start, end, resolved, scrape_interval, dashboard_width_px,
                   honour_max_data_points)
    uid = dashboard.get("uid") or _safe(dashboard.get("title") or "dashboard")
    items = layout(dashboard.get("panels") or [])

    def fetch(item):
        panel = item[0]
        if panel.get("type") in ("row", "text") or not panel.get("targets"):
            return [], [], [], []
        return fetch_panel(panel, ctx)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # queries wait on I/O: a few at once
        fetched = list(pool.map(fetch, items))

    reports: List[PanelReport] = []
    for k, ((panel, gp, row_title), (series, queries, errors, undefined)) in enumerate(zip(items, fetched)):
        t1 = time.monotonic()
        ptype = panel.get("type") or "?"
        pid = panel.get("id") if panel.get("id") is not None else f"n{k}"
        rep = PanelReport(panel.get("id"), panel.get("title") or "", ptype, None, gp, row_title)
        if ptype == "row":
            reports.append(rep)
            continue
        points = int(sum(np.isfinite(s.values).sum() for s in series))
        rep.series, rep.points, rep.queries, rep.errors = len(series), points, queries, errors
        rep.has_data = points > 0
        fname = f"{_safe(uid)}-panel-{pid}.png"
        w_px = max(60, round(gp["w"] / GRID_COLUMNS * dashboard_width_px))
        h_px = max(40, gp["h"] * GRID_ROW_PX)
        c = Canvas(w_px, h_px, scale)
        try:
            if ptype == "text":
                rep.drawn = render_text(c, panel)
                rep.has_data = True
            elif errors and not rep.has_data:
                rep.no_data_reason = "query error: " + "; ".join(errors)
                rep.drawn = render_message(c, panel, "Query error", "; ".join(errors), color="#F2495C")
            elif not rep.has_data:
                reason = ("uses variable " + ", ".join("$" + u for u in undefined) +
                          " that the dashboard does not define (left literal, as Grafana does)") if undefined else (
                    "the queries returned no series" if not series else "every value is null/NaN")
                if not queries:
                    reason = "the panel has no queries"
                rep.no_data_reason = reason
                shown = (_defaults(panel).get("noValue") if ptype in ("stat", "gauge", "bargauge") else None)
                rep.drawn = render_message(c, panel, "No data", reason + (f' (Grafana shows "{shown}")' if shown
                                                                          else ""))
            else:
                if len(series) > max_series:
                    rep.drawn_truncated = len(series) - max_series
                    series = series[:max_series]
                renderer = RENDERERS.get(ptype)
                if renderer is None:
                    rep.drawn = render_timeseries(c, panel, series, start, end)
                    rep.drawn["note"] = f"panel type {ptype} drawn as a time series"
                else:
                    rep.drawn = renderer(c, panel, series, start, end)
                if rep.drawn_truncated:
                    rep.drawn["not_drawn"] = rep.drawn_truncated
                    c.text(c.w - 8, 18, f"{rep.drawn_truncated} more series not drawn", fontsize=6.5,
                           color="#FF9830", ha="right", va="top")
                if errors:
                    c.text(c.w - 8, 8, "⚠ " + _fit("; ".join(errors), c.w * 0.5, 9), fontsize=6.5,
                           color="#F2495C", ha="right", va="top")
        except Exception as e:  # noqa: BLE001 - one bad panel must not stop the preview
            rep.errors.append(f"render: {type(e).__name__}: {e}")
            c = Canvas(w_px, h_px, scale)
            rep.drawn = render_message(c, panel, "Render error", f"{type(e).__name__}: {e}", color="#F2495C")
        _frame(c)
        c.save(os.path.join(out_dir, fname))
        c.fig.clear()
        rep.file = fname
        rep.seconds = round(time.monotonic() - t1, 3)
        reports.append(rep)

    report = Report(uid, dashboard.get("title") or uid, start, end,
                    {n: v.display() for n, v in resolved.items()}, reports, out_dir,
                    os.path.join(out_dir, "index.html"), notes)
    report.seconds = round(time.monotonic() - t0, 3)
    with open(report.index, "w", encoding="utf-8") as f:
        f.write(dashboard_html(report))
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report.to_json(), f, indent=1, default=str)
    return report


# ---------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------
_CSS = """
body{margin:0;background:#111217;color:#ccccdc;font:13px/1.4 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{padding:12px 16px;border-bottom:1px solid #2a2d33}
h1{font-size:18px;margin:0 0 4px 0;font-weight:500}
a{color:#6e9fff}
.meta{color:#8e8e9a;font-size:12px}
.meta code{color:#ccccdc}
.warn{margin:10px 16px;padding:8px 12px;border-left:3px solid #f2495c;background:#1f1416}
.ok{margin:10px 16px;padding:8px 12px;border-left:3px solid #73bf69;background:#141f16}
.grid{position:relative;margin:8px 16px 24px 16px}
.cell{position:absolute;box-sizing:border-box;padding:4px}
.cell img{display:block;width:100%;height:100%;object-fit:fill;border-radius:2px}
.cell.nodata img{outline:2px solid #f2495c}
.row{position:absolute;box-sizing:border-box;padding:6px 4px 0 4px;font-size:15px;font-weight:500;color:#ccccdc;
     border-bottom:1px solid #2a2d33}
table{border-collapse:collapse;margin:8px 16px}
td,th{padding:3px 10px;border-bottom:1px solid #2a2d33;text-align:left;vertical-align:top}
th{color:#8e8e9a;font-weight:500}
details{margin:8px 16px} summary{cursor:pointer;color:#8e8e9a}
code{font-size:12px;word-break:break-all}
"""


def _fmt_time(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def dashboard_html(report: Report) -> str:
    """The dashboard page: title, time range, variables, no-data panels first, then the grid."""
    e = html.escape
    panels = [p for p in report.panels]
    bottom = max((p.grid_pos["y"] + p.grid_pos["h"] for p in panels), default=0)
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(report.title)} · preview</title>"
           f"<style>{_CSS}</style></head><body><header>",
           "<div class='meta'><a href='../index.html'>all dashboards</a></div>",
           f"<h1>{e(report.title)}</h1>",
           f"<div class='meta'>uid <code>{e(report.uid)}</code> · {e(_fmt_time(report.start))} → "
           f"{e(_fmt_time(report.end))} ({e(format_duration(report.end - report.start))}) · "
           f"rendered in {report.seconds:.1f} s</div>"]
    if report.variables:
        out.append("<div class='meta'>variables: " + " · ".join(
            f"<code>${e(k)}</code> = {e(v)}" for k, v in report.variables.items()) + "</div>")
    out.append("</header>")
    missing = report.no_data
    if missing:
        out.append("<div class='warn'><b>Panels with no data:</b><ul>" + "".join(
            f"<li><a href='#panel-{e(str(p.id))}'>{e(p.title)}</a> ({e(p.type)}): {e(p.no_data_reason or '')}</li>"
            for p in missing) + "</ul></div>")
    else:
        out.append("<div class='ok'>Every panel has data.</div>")
    for n in report.notes:
        out.append(f"<div class='warn'>{e(n)}</div>")
    out.append(f"<div class='grid' style='height:{bottom * GRID_ROW_PX}px'>")
    for p in panels:
        g = p.grid_pos
        style = (f"left:{g['x'] / GRID_COLUMNS * 100:.4f}%;width:{g['w'] / GRID_COLUMNS * 100:.4f}%;"
                 f"top:{g['y'] * GRID_ROW_PX}px;height:{g['h'] * GRID_ROW_PX}px")
        if p.type == "row":
            out.append(f"<div class='row' style='{style}'>{e(p.title)}</div>")
            continue
        cls = "cell" + ("" if p.has_data else " nodata")
        tip = f"{p.title} — {p.series} series, {p.points} points" + (f" — {p.no_data_reason}" if p.no_data_reason
                                                                       else "")
        out.append(f"<div class='{cls}' id='panel-{e(str(p.id))}' style='{style}'><a href='{e(p.file or '')}'>"
                   f"<img src='{e(p.file or '')}' alt='{e(p.title)}' title='{e(tip)}'></a></div>")
    out.append("</div>")
    out.append("<details><summary>Queries as sent</summary><table><tr><th>panel</th><th>series</th>"
               "<th>step</th><th>query</th></tr>")
    for p in panels:
        for q in p.queries:
            out.append(f"<tr><td>{e(p.title)} ({e(q['ref_id'])})</td><td>{q['series']}</td>"
                       f"<td>{'instant' if q['instant'] else e(format_duration(q['step']))}</td>"
                       f"<td><code>{e(q['expr'])}</code></td></tr>")
    out.append("</table></details></body></html>")
    return "\n".join(out)


def index_html(reports: List[Report], out_dir: str) -> str:
    e = html.escape
    rows = []
    for r in reports:
        rel = os.path.relpath(r.index, out_dir)
        panels = [p for p in r.panels if p.type != "row"]
        nd = r.no_data
        rows.append(f"<tr><td><a href='{e(rel)}'>{e(r.title)}</a></td><td>{len(panels)}</td>"
                    f"<td>{len(nd)}</td><td>{e(', '.join(p.title for p in nd))}</td><td>{r.seconds:.1f} s</td></tr>")
    rng = f"{_fmt_time(reports[0].start)} → {_fmt_time(reports[0].end)}" if reports else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Dashboard preview</title>"
            f"<style>{_CSS}</style></head><body><header><h1>Dashboard preview</h1>"
            f"<div class='meta'>{e(rng)}</div></header><table><tr><th>dashboard</th><th>panels</th>"
            f"<th>no data</th><th>panels without data</th><th>time</th></tr>{''.join(rows)}</table></body></html>")


def render_all(dashboard_files: Sequence[str], prometheus_url: str, out_dir: str, *, start: Optional[float] = None,
               end: Optional[float] = None, variables: Optional[Mapping] = None,
               scrape_interval: float = DEFAULT_SCRAPE_INTERVAL, timeout: float = 30.0, **kw) -> List[Report]:
    """Render each dashboard file into out_dir/<uid>/ against the Prometheus at `prometheus_url`, and write
    out_dir/index.html linking them. The time range defaults to each dashboard's own (time.from/to,
    relative to now)."""
    prom = PrometheusHTTP(prometheus_url, timeout=timeout)
    os.makedirs(out_dir, exist_ok=True)
    reports = []
    now = time.time()
    for path in dashboard_files:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        s, e = start, end
        if s is None or e is None:
            tr = d.get("time") or {}
            e = e if e is not None else parse_time(tr.get("to", "now"), now)
            s = s if s is not None else parse_time(tr.get("from", "now-6h"), now)
        uid = d.get("uid") or _safe(os.path.splitext(os.path.basename(path))[0])
        reports.append(render_dashboard(d, prom.query_range, os.path.join(out_dir, _safe(uid)), start=s, end=e,
                                        variables=variables, query_instant=prom.query,
                                        label_values=prom.label_values, scrape_interval=scrape_interval, **kw))
    with open(os.path.join(out_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write(index_html(reports, out_dir))
    return reports


# ---------------------------------------------------------------------------------------------------------
# `hermes-dash preview`
# ---------------------------------------------------------------------------------------------------------
def run_preview(dashboards: Sequence[str], prometheus_url: str, out_dir: str, start: Optional[str] = None,
                end: Optional[str] = None, variables: Sequence[str] = (), scrape_interval: str = "15s",
                width: int = DASHBOARD_WIDTH_PX, scale: float = 1.0, fail_on_no_data: bool = False) -> int:
    """Render `dashboards` (files, or directories of them) into `out_dir` and print what has no data; the
    exit code (1 with `fail_on_no_data` when a panel has none, 2 when there is no dashboard)."""
    files: List[str] = []
    for d in dashboards:
        files += sorted(glob.glob(os.path.join(d, "*.json"))) if os.path.isdir(d) else [d]
    if not files:
        print("hermes-dash preview: no dashboard files", file=sys.stderr)
        return 2
    chosen: Dict[str, List[str]] = {}
    for kv in variables:
        name, _, value = kv.partition("=")
        chosen.setdefault(name, []).append(value)
    now = time.time()
    t0 = time.monotonic()
    reports = render_all(files, prometheus_url, out_dir,
                         start=parse_time(start, now) if start else None, end=parse_time(end, now) if end else None,
                         variables={k: (v[0] if len(v) == 1 else v) for k, v in chosen.items()},
                         scrape_interval=parse_duration(scrape_interval) or DEFAULT_SCRAPE_INTERVAL,
                         dashboard_width_px=width, scale=scale)
    missing = 0
    for r in reports:
        nd = r.no_data
        missing += len(nd)
        print(f"{r.uid}: {len([p for p in r.panels if p.type != 'row'])} panels, {len(nd)} without data, "
              f"{r.seconds:.1f} s -> {r.index}")
        for p in nd:
            print(f"  no data: {p.title!r}: {p.no_data_reason}")
    print(f"{len(reports)} dashboards in {time.monotonic() - t0:.1f} s: {os.path.join(out_dir, 'index.html')}")
    return 1 if (missing and fail_on_no_data) else 0
