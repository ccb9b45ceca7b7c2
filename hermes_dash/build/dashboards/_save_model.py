"""What Grafana 13.2.3 itself writes when it saves a dashboard, from what grafanalib 0.7.1 emits.

    data = save_model(dashboard.to_json_data(), datasource="Prometheus")

grafanalib is the library the dashboards are written with; its JSON carries pre-7 and Graphite-era keys
(`panel.error`, `target.metric`, rows with targets, `auto*` on every variable, `maxDataPoints: 100` on
every panel, which caps the resolution of a 24 h panel at a 15-minute step). Grafana 13 rebuilds each
element from typed state when it saves (`transformSceneToSaveModel`), so each element here is rebuilt
the same way: from a closed list of the keys Grafana writes, with the values grafanalib was given and
the defaults Grafana fills in (`@grafana/schema`'s panelcfg `defaultOptions`, the timeseries field
defaults). The result validates, closed, against hermes_dash/build/schemas/grafana-dashboard.schema.json.
"""
from __future__ import annotations

from typing import Any, Dict, List

#: the Grafana release whose save model and types the dashboards follow (the schema records the same)
GRAFANA_VERSION = "13.2.3"
#: Grafana's built-in "Annotations & Alerts" annotation, which it adds on load and saves
BUILT_IN_ANNOTATION = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
                       "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
                       "type": "dashboard"}
#: refId Grafana's Prometheus variable editor gives a variable's query
VARIABLE_REF_ID = "PrometheusVariableQueryEditor-VariableQuery"
#: PromVariableQuery.qryType of label_values()
QRY_LABEL_VALUES = 1


def target(t: Dict[str, Any]) -> Dict[str, Any]:
    """A Prometheus target as PromQuery: code editor, range or instant, format only when not the default."""
    instant = bool(t.get("instant"))
    out = {"datasource": t["datasource"], "editorMode": "code", "expr": t["expr"], "instant": instant,
           "legendFormat": t.get("legendFormat") or "__auto", "range": not instant, "refId": t["refId"]}
    if t.get("format") not in (None, "time_series"):
        out["format"] = t["format"]
    return out


def _thresholds(fc: Dict[str, Any]) -> Dict[str, Any]:
    return fc.get("thresholds") or {"mode": "absolute", "steps": [{"color": "green", "value": None}]}


def _defaults(p: Dict[str, Any], color_mode: str, custom: Dict[str, Any] = None) -> Dict[str, Any]:
    fc = (p.get("fieldConfig") or {}).get("defaults") or {}
    out: Dict[str, Any] = {"color": {"mode": color_mode}, "mappings": fc.get("mappings") or [],
                           "thresholds": _thresholds(fc)}
    for key in ("unit", "min", "max", "decimals"):
        if fc.get(key) is not None:
            out[key] = fc[key]
    if custom is not None:
        out["custom"] = custom
    return out


def _timeseries_custom(custom: Dict[str, Any]) -> Dict[str, Any]:
    """The timeseries field defaults a new panel gets, with the style grafanalib was given."""
    stacking = (custom.get("stacking") or {}).get("mode", "none")
    return {"axisBorderShow": False, "axisCenteredZero": False, "axisColorMode": "text", "axisLabel": "",
            "axisPlacement": "auto", "barAlignment": 0, "barWidthFactor": 0.6, "drawStyle": "line",
            "fillOpacity": custom.get("fillOpacity", 0), "gradientMode": "none",
            "hideFrom": {"legend": False, "tooltip": False, "viz": False}, "insertNulls": False,
            "lineInterpolation": "linear", "lineWidth": 1, "pointSize": 5, "scaleDistribution": {"type": "linear"},
            "showPoints": "auto", "showValues": False, "spanNulls": False,
            "stacking": {"group": "A", "mode": stacking},
            "thresholdsStyle": {"mode": (custom.get("thresholdsStyle") or {}).get("mode", "off")}}


def _reduce(options: Dict[str, Any]) -> Dict[str, Any]:
    r = options.get("reduceOptions") or {}
    return {"calcs": r.get("calcs") or ["lastNotNull"], "fields": r.get("fields", ""), "values": r.get("values", False)}


def _options(p: Dict[str, Any]) -> Dict[str, Any]:
    o, kind = p.get("options") or {}, p["type"]
    if kind == "timeseries":
        legend, tooltip = o.get("legend") or {}, o.get("tooltip") or {}
        return {"legend": {"calcs": legend.get("calcs", []), "displayMode": legend.get("displayMode", "list"),
                           "placement": legend.get("placement", "bottom"), "showLegend": True},
                "tooltip": {"hideZeros": False, "mode": tooltip.get("mode", "single"), "sort": tooltip.get("sort", "none")}}
    if kind == "stat":
        return {"colorMode": o.get("colorMode", "value"), "graphMode": o.get("graphMode", "area"),
                "justifyMode": o.get("justifyMode", "auto"), "orientation": o.get("orientation", "auto"),
                "percentChangeColorMode": "standard", "reduceOptions": _reduce(o), "showPercentChange": False,
                "textMode": o.get("textMode", "auto"), "wideLayout": True}
    if kind == "bargauge":
        return {"displayMode": o.get("displayMode", "gradient"),
                "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": False},
                "maxVizHeight": 300, "minVizHeight": 16, "minVizWidth": 8, "namePlacement": "auto",
                "orientation": o.get("orientation", "horizontal"), "reduceOptions": _reduce(o),
                "showUnfilled": True, "sizing": "auto", "valueMode": "color"}
    if kind == "gauge":
        return {"barShape": "flat", "barWidthFactor": 0.5, "effects": {}, "endpointMarker": "point",
                "minVizHeight": 75, "minVizWidth": 75, "orientation": "auto", "reduceOptions": _reduce(o),
                "segmentCount": 1, "segmentSpacing": 0.3, "shape": "gauge", "showThresholdLabels": False,
                "showThresholdMarkers": True, "sizing": "auto", "sparkline": True, "textMode": "auto"}
    if kind == "text":
        return {"code": {"language": "plaintext", "showLineNumbers": False, "showMiniMap": False},
                "content": o.get("content", ""), "mode": o.get("mode", "markdown")}
    raise ValueError(f"panel type {kind!r} has no save model here")


def panel(p: Dict[str, Any]) -> Dict[str, Any]:
    """One panel, rebuilt from the keys Grafana's vizPanelToPanel writes."""
    kind = p["type"]
    if kind == "row":
        return {"collapsed": bool(p.get("collapsed")), "gridPos": p["gridPos"], "id": p["id"],
                "panels": [panel(c) for c in p.get("panels") or []], "title": p["title"], "type": "row"}
    out: Dict[str, Any] = {"gridPos": p["gridPos"], "id": p["id"], "options": _options(p),
                           "pluginVersion": GRAFANA_VERSION, "title": p["title"], "type": kind}
    if kind == "text":
        out["fieldConfig"] = {"defaults": {}, "overrides": []}
    else:
        custom = _timeseries_custom((((p.get("fieldConfig") or {}).get("defaults") or {}).get("custom")) or {}) \
            if kind == "timeseries" else None
        out["fieldConfig"] = {"defaults": _defaults(p, "palette-classic" if kind == "timeseries" else "thresholds",
                                                    custom), "overrides": []}
        out["datasource"] = p["datasource"]
        out["targets"] = [target(t) for t in p.get("targets") or []]
    if p.get("description"):
        out["description"] = p["description"]
    if p.get("links"):
        out["links"] = p["links"]
    return out


def variable(v: Dict[str, Any], datasource_default: str) -> Dict[str, Any]:
    """A datasource or Prometheus query variable as Grafana 13's variable editors save it."""
    if v["type"] == "datasource":
        return {"current": {"text": datasource_default, "value": datasource_default}, "includeAll": False,
                "label": v.get("label") or "", "name": v["name"], "options": [], "query": v["query"],
                "refresh": 1, "regex": "", "type": "datasource"}
    query = v["query"]
    out = {"current": {"text": ["All"], "value": ["$__all"]} if v.get("includeAll") else {"text": "", "value": ""},
           "datasource": v["datasource"], "definition": query, "includeAll": bool(v.get("includeAll")),
           "label": v.get("label") or v["name"], "multi": bool(v.get("multi")), "name": v["name"], "options": [],
           "query": {"qryType": QRY_LABEL_VALUES, "query": query, "refId": VARIABLE_REF_ID},
           "refresh": v.get("refresh", 2), "regex": "", "sort": v.get("sort", 1), "type": "query"}
    if v.get("allValue"):
        out["allValue"] = v["allValue"]
    return out


def annotation(a: Dict[str, Any]) -> Dict[str, Any]:
    """A Prometheus annotation in the editor's shape: the query under `target` (prepareAnnotation moves a
    legacy top-level expr/step there)."""
    out = {k: a[k] for k in ("datasource", "enable", "iconColor", "name", "tagKeys", "textFormat", "titleFormat",
                             "useValueForTime") if k in a}
    out["hide"] = bool(a.get("hide"))
    out["target"] = {"expr": a["expr"], "interval": a.get("step", ""), "refId": "Anno"}
    return out


def save_model(d: Dict[str, Any], datasource_default: str) -> Dict[str, Any]:
    """The whole dashboard as Grafana 13 saves it: keys it writes, none it drops, no nulls but threshold
    bases."""
    annotations: List[Dict[str, Any]] = [dict(BUILT_IN_ANNOTATION)]
    annotations += [annotation(a) for a in (d.get("annotations") or {}).get("list") or []]
    out = {"annotations": {"list": annotations}, "description": d.get("description") or "",
           "editable": bool(d.get("editable")), "fiscalYearStartMonth": 0, "graphTooltip": d.get("graphTooltip", 0),
           "links": d.get("links") or [], "panels": [panel(p) for p in d.get("panels") or []], "preload": False,
           "refresh": d.get("refresh") or "", "schemaVersion": d["schemaVersion"], "tags": d.get("tags") or [],
           "templating": {"list": [variable(v, datasource_default) for v in (d.get("templating") or {}).get("list") or []]},
           "time": d["time"], "timepicker": {}, "timezone": d.get("timezone") or "browser", "title": d["title"],
           "uid": d["uid"], "version": 1, "weekStart": ""}
    return out
