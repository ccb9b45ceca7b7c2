"""Grafana's query interpolation for Prometheus, as Grafana does it: variables, macros and the step.

    step, macros = query_macros(start, end, panel_width=12)           # $__interval, $__rate_interval, ...
    grafana_expand('rate(x{instance=~"$instance"}[$__rate_interval])', {"instance": Var(...)}, start, end, 12)

A multi-value (or include-All) variable at All is its `allValue`, else the regex alternation of its
values; chosen values are regex-escaped as Grafana's Prometheus datasource escapes them; a variable the
dashboard does not define is left as written (so the panel selects nothing, as in Grafana). The step
is Grafana's: the range over the panel's max data points (its pixel width), rounded, at least the scrape
interval. The dashboard lint, the end-to-end tests and `hermes-dash preview` all expand queries here.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

GRID_COLUMNS = 24
DASHBOARD_WIDTH_PX = 1920   #: assumed dashboard width: a panel of w columns is w/24*1920 px wide
DEFAULT_SCRAPE_INTERVAL = 15.0  #: the datasource's scrape interval (`timeInterval`) when none is given
SAFE_RESOLUTION = 11000     #: Prometheus refuses more points per series; Grafana raises the step to stay under

LabelValues = Callable[[str, Optional[str], float, float], List[str]]

# ---------------------------------------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------------------------------------
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: Union[str, float, int, None]) -> Optional[float]:
    """Seconds of a Grafana/Prometheus duration: 15, "15s", "1m", "1h30m", "500ms"; None for ""/None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip().lstrip(">")  # Grafana accepts ">15s" for a min interval
    try:
        return float(s)
    except ValueError:
        pass
    parts = _DURATION.findall(s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ValueError(f"not a duration: {value!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """A duration as Grafana writes $__interval: the largest whole unit ("15s", "5m", "1h", "1d"), else
    seconds ("90s"), else milliseconds ("500ms")."""
    ms = round(seconds * 1000)
    for unit, size in (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


#: Grafana's rangeutil.roundInterval: (upper bound exclusive, rounded value), in milliseconds
_ROUND_INTERVAL_MS = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
    (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
    (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
    (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000), (32400000, 21600000),
    (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000), (3628800000, 2592000000),
)


def round_interval(ms: float) -> float:
    """Grafana's rangeutil.roundInterval (milliseconds in, milliseconds out)."""
    for bound, value in _ROUND_INTERVAL_MS:
        if ms < bound:
            return value
    return 31536000000


def grafana_step(start: float, end: float, max_data_points: float, min_interval: float = DEFAULT_SCRAPE_INTERVAL,
                 interval_factor: float = 1, min_step: Optional[float] = None) -> float:
    """The step (= $__interval) Grafana uses for a panel: calculateInterval(range, maxDataPoints, min
    interval) -- the range over the max data points, rounded to a "nice" interval, at least the min
    interval (panel `interval`, else the datasource's scrape interval) -- then the Prometheus datasource's
    adjustInterval: times the query's interval factor, at least its min step and range/11000."""
    range_s = end - start
    interval = round_interval(range_s * 1000 / max(1, max_data_points)) / 1000
    interval = max(interval, min_interval)
    safe = range_s / SAFE_RESOLUTION
    if safe > 1:
        safe = math.ceil(safe)
    return max(interval * (interval_factor or 1), min_step if min_step is not None else interval, safe)


# ---------------------------------------------------------------------------------------------------------
# Template variables and macros
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Var:
    """A template variable's selection, as Grafana interpolates it into a Prometheus query.

    values: the selected values (at All: every option). is_all: All is selected. all_value: the variable's
    custom allValue (used as is, unescaped, when All is selected). regex: multi-value or include-All
    variables are regex-escaped and joined as (a|b); single-value ones are inserted as they are."""
    name: str
    values: List[str]
    is_all: bool = False
    all_value: Optional[str] = None
    regex: bool = True
    text: Optional[str] = None  # what Grafana shows in the picker

    def display(self) -> str:
        if self.is_all:
            shown = "All"
            if self.all_value is not None:
                return f"{shown} (allValue {self.all_value!r}; options: {', '.join(self.values) or 'none'})"
            return f"{shown} ({', '.join(self.values) or 'no values'})"
        return ", ".join(self.values) if self.values else "(none)"


def prometheus_regex_escape(value: str) -> str:
    """Grafana's prometheusSpecialRegexEscape: regex metacharacters escaped for a PromQL string (so
    "127.0.0.1" becomes 127\\\\.0\\\\.0\\\\.1 in the query text, the regex 127\\.0\\.0\\.1)."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def prometheus_regular_escape(value: str) -> str:
    """Grafana's prometheusRegularEscape, for single-value variables."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def format_variable(var: Union[Var, str, Sequence[str]], fmt: Optional[str] = None) -> str:
    """How Grafana's Prometheus datasource writes a variable into a query (`fmt`: ${var:fmt})."""
    if isinstance(var, str):
        return var
    if not isinstance(var, Var):
        var = Var("", list(var))
    if var.is_all and var.all_value is not None and fmt not in ("text", "queryparam"):
        return var.all_value
    values = list(var.values)
    if fmt is None and not var.regex:
        return prometheus_regular_escape(values[0]) if len(values) == 1 else "(" + "|".join(values) + ")"
    if fmt is None:
        esc = [prometheus_regex_escape(v) for v in values]
        return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
    if fmt == "regex":
        esc = [re.sub(r"[\\^$.|?*+()\[\]{}/]", lambda m: "\\" + m.group(0), v) for v in values]
        return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt == "json":
        return json.dumps(values if len(values) != 1 else values[0])
    if fmt == "doublequote":
        return ",".join(f'"{v}"' for v in values)
    if fmt == "singlequote":
        return ",".join(f"'{v}'" for v in values)
    if fmt == "text":
        return "All" if var.is_all else " + ".join(values)
    return ",".join(values)  # raw and anything else


#: Grafana's variable syntaxes: $name, [[name]] or [[name:fmt]], ${name}, ${name.field}, ${name:fmt}
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


class Expanded(NamedTuple):
    """A query as Grafana sends it: the expression and the step of the range query (seconds)."""
    expr: str
    step: float
    interval: str       #: $__interval
    rate_interval: str  #: $__rate_interval
    range: str          #: $__range


def grafana_expand(expr: str, variables: Mapping[str, Union[Var, str, Sequence[str]]], start: float, end: float,
                   panel_width: int, *, max_data_points: Optional[int] = None,
                   scrape_interval: float = DEFAULT_SCRAPE_INTERVAL, min_interval: Optional[float] = None,
                   interval_factor: float = 1, min_step: Optional[float] = None,
                   dashboard_width_px: int = DASHBOARD_WIDTH_PX) -> Expanded:
    """`expr` as Grafana sends it for the time range [start, end] (unix seconds) in a panel `panel_width`
    grid columns wide; returns the expression and the step.

    - step = $__interval: the range over the max data points -- the panel's `maxDataPoints` when given
      (Grafana: `panel.maxDataPoints || width`), else its pixel width, panel_width/24 * dashboard_width_px --
      rounded as Grafana rounds intervals, at least `min_interval` (the panel's "Min interval", else the
      scrape interval), then at least the query's min step and range/11000 (`grafana_step`).
    - $__rate_interval = max(step + scrape interval, 4 x scrape interval) (scrape interval: the
      datasource's, 15s unless given; the query's min step when it has one).
    - $__range = the range in whole seconds, as a duration ("21600s"); $__range_s and $__range_ms too,
      $__interval_ms as well.
    - Variables: `variables` maps a name to a `Var` (its selection: All with an allValue gives the
      allValue; All without one, or several values, give a regex alternation (a|b) of the regex-escaped
      values), a plain string (inserted as is) or a list of values (a regex alternation). A variable that is
      not in `variables` stays literal ("$model" stays "$model"), as in Grafana.
    """
    points = max_data_points or max(1, round(panel_width / GRID_COLUMNS * dashboard_width_px))
    step = grafana_step(start, end, points, min_interval if min_interval is not None else scrape_interval,
                        interval_factor, min_step)
    scrape = min_step if min_step is not None else (scrape_interval or DEFAULT_SCRAPE_INTERVAL)
    rate = max(step + scrape, 4 * scrape)
    range_s = int(round(end - start))
    macros = {
        "__interval": format_duration(step), "__interval_ms": str(int(round(step * 1000))),
        "__rate_interval": format_duration(rate), "__rate_interval_ms": str(int(round(rate * 1000))),
        "__range": f"{range_s}s", "__range_s": str(range_s), "__range_ms": str(int(round((end - start) * 1000))),
    }

    return Expanded(substitute(expr, variables, macros), step, macros["__interval"], macros["__rate_interval"],
                    macros["__range"])


def substitute(expr: str, variables: Mapping[str, Union["Var", str, Sequence[str]]],
               macros: Mapping[str, str]) -> str:
    """`expr` with each macro and variable replaced as Grafana writes them; undefined ones left as written."""
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in macros:
            return macros[name]
        if name not in variables:
            return m.group(0)  # undefined: Grafana leaves it as written
        return format_variable(variables[name], fmt)
    return _VARIABLE.sub(sub, expr)


def undefined_variables(expr: str) -> List[str]:
    """The $variables still in an expanded expression (those the dashboard does not define)."""
    out = []
    for m in _VARIABLE.finditer(expr):
        name = m.group(1) or m.group(2) or m.group(4)
        if name not in out:
            out.append(name)
    return out


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*?)\s*,\s*)?(\w+)\s*\)\s*$", re.S)


def resolve_variables(dashboard: dict, label_values: Optional[LabelValues], start: float, end: float,
                      overrides: Optional[Mapping[str, Union[str, Sequence[str]]]] = None,
                      notes: Optional[List[str]] = None) -> Dict[str, Var]:
    """The selection of every template variable of `dashboard`, in order (a query variable may use the ones
    before it). Query variables get their options from label_values() against Prometheus; `overrides`
    (name -> value, list of values, or "All"/"$__all") replace the saved selection. A name in `overrides`
    that the dashboard does not define is ignored (and noted): Grafana would leave it literal."""
    overrides = dict(overrides or {})
    notes = notes if notes is not None else []
    out: Dict[str, Var] = {}
    for v in (dashboard.get("templating") or {}).get("list") or []:
        name, typ = v.get("name"), v.get("type")
        if not name or typ == "adhoc":
            continue
        current = v.get("current") or {}
        cur_val = current.get("value")
        cur_vals = cur_val if isinstance(cur_val, list) else ([] if cur_val in (None, "") else [cur_val])
        options: List[str] = []
        if typ == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = _LABEL_VALUES.match(q or "")
            if m and label_values is not None:
                match = m.group(1)
                if match:
                    match = grafana_expand(match, out, start, end, GRID_COLUMNS).expr
                try:
                    options = list(label_values(m.group(2), match or None, start, end))
                except Exception as e:  # noqa: BLE001 - a variable that cannot load is shown, not fatal
                    notes.append(f"variable {name}: label_values failed: {e}")
            elif not m:
                notes.append(f"variable {name}: query {q!r} is not label_values(); options not loaded")
            if v.get("regex"):
                try:
                    rx = re.compile(v["regex"].strip("/"))
                    kept = []
                    for o in options:
                        mm = rx.search(o)
                        if mm:
                            kept.append(mm.group(1) if mm.groups() else o)
                    options = kept
                except re.error:
                    notes.append(f"variable {name}: bad regex {v['regex']!r}")
            sort = v.get("sort") or 0
            if sort in (1, 2):
                options = sorted(set(options), reverse=sort == 2)
            elif sort in (3, 4):
                def num(s):
                    mm = re.search(r"-?\d+(\.\d+)?", s)
                    return float(mm.group(0)) if mm else math.inf
                options = sorted(set(options), key=num, reverse=sort == 4)
            else:
                options = list(dict.fromkeys(options))
        elif typ == "custom":
            for part in re.split(r"(?<!\\),", v.get("query") or ""):
                part = part.strip()
                if part:
                    options.append(part.split(" : ")[-1].strip())
        elif typ in ("constant", "textbox"):
            options = [str(v.get("query") or "")]
            if typ == "textbox" and cur_vals:
                options = [str(cur_vals[0])]
        elif typ == "interval":
            options = [o.strip() for o in str(v.get("query") or "").split(",") if o.strip()]
        elif typ == "datasource":
            out[name] = Var(name, [str(current.get("text") or cur_val or "")], regex=False)
            continue
        multi = bool(v.get("multi") or v.get("includeAll"))
        sel = overrides.pop(name, None)
        if sel is not None:
            sel_vals = [sel] if isinstance(sel, str) else list(sel)
        else:
            sel_vals = [str(x) for x in cur_vals]
        is_all = any(s in ("$__all", "All") for s in sel_vals) and bool(v.get("includeAll"))
        if is_all:
            out[name] = Var(name, options, True, v.get("allValue") if v.get("allValue") not in ("", None) else None,
                            regex=True)
        else:
            if not sel_vals and options:
                sel_vals = options[:1]
            out[name] = Var(name, sel_vals, False, None, regex=multi and typ != "constant")
    for name in overrides:
        notes.append(f"variable {name} given but not defined by the dashboard: left literal, as Grafana would")
    return out


def parse_time(value: Union[str, float, int], now: Optional[float] = None) -> float:
    """A time: "now", "now-6h", unix seconds, or an ISO 8601 date-time (UTC unless it says otherwise)."""
    now = time.time() if now is None else now
    if isinstance(value, (int, float)):
        return float(value)
    v = str(value).strip()
    if v.startswith("now"):
        rest = v[3:].split("/")[0]
        if not rest:
            return now
        sign = -1 if rest[0] == "-" else 1
        return now + sign * (parse_duration(rest[1:]) or 0)
    try:
        return float(v)
    except ValueError:
        t = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.timestamp()
