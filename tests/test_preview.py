"""hermes-dash preview: dashboards rendered without Grafana — legends, units, thresholds, value mappings,
reductions, layout — and, end to end, every panel of every dashboard rendered from a real Prometheus
holding the backfilled history, each image showing its data."""
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hermes_dash.harness import preview as P

from conftest import HISTORY_HOURS, ROOT, cli

DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
H6 = 6 * 3600

# --------------------------------------------------------------------------------------------------------
# Legends, units, thresholds
# --------------------------------------------------------------------------------------------------------
def test_legend_format():
    """Legend format."""
    labels = {"model": "hermes-3-8b", "token_type": "prompt", "job": "j"}
    assert P.format_legend("{{model}} {{token_type}}", labels) == "hermes-3-8b prompt"
    assert P.format_legend("{{ model }}/{{job}}", labels) == "hermes-3-8b/j"
    assert P.format_legend("{{instance}}", labels) == "instance"  # absent label: its name (renderLegendFormat)
    assert P.format_legend("USD/h", {}) == "USD/h"
    assert P.format_legend(None, {"__name__": "up", "instance": "a"}) == 'up{instance="a"}'
    assert P.format_legend("", {}, "sum(up)") == "sum(up)"
    assert P.format_legend("__auto", {"le": "1.0"}) == '{le="1.0"}'


@pytest.mark.parametrize("value,unit,text", [
    (0.9567, "percentunit", "95.7%"), (1, "percentunit", "100%"), (0.0283, "percentunit", "2.83%"),
    (95.5, "percent", "95.5%"),
    (0.25, "s", "250 ms"), (17.8, "s", "17.8 s"), (90, "s", "1.50 min"), (7200, "s", "2 hour"),
    (250, "ms", "250 ms"),
    (4.42, "currencyUSD", "$4.42"), (1234, "currencyUSD", "$1.23K"), (28.3, "currencyUSD", "$28.3"),
    (150 * 2 ** 20, "bytes", "150 MiB"), (3 * 2 ** 30, "bytes", "3 GiB"), (512, "bytes", "512 B"),
    (1500, "decbytes", "1.50 kB"),
    (1500, "short", "1.50 K"), (2.5e6, "short", "2.50 Mil"), (12, "short", "12"), (0.5, None, "0.500"),
    (0.126, "reqps", "0.126 req/s"), (2500, "reqps", "2.50 K req/s"),
    (3.14159, "none", "3.14"), (5, "suffix: jobs", "5 jobs"), (7, "prefix:#", "#7"),
    (None, "short", "No data"), (math.inf, "short", "+Inf"),
])
def test_format_value(value, unit, text):
    """Format value."""
    assert P.format_value(value, unit) == text


def test_axis_ticks_use_the_fewest_exact_decimals():
    """Axis ticks use the fewest exact decimals."""
    f = P.axis_formatter("percentunit")
    assert f.format_ticks([0.2, 0.4, 0.6]) == ["20%", "40%", "60%"]
    assert P.axis_formatter("short").format_ticks([0, 1500, 3000]) == ["0", "1.5 K", "3 K"]
    assert P.axis_formatter("s").format_ticks([0.5, 1, 1.5]) == ["500 ms", "1 s", "1.5 s"]


def test_thresholds_extraction_and_colours():
    """Thresholds extraction and colours."""
    defaults = {"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": 0.9},
                                                             {"color": "red", "value": None}]}}
    mode, steps = P.thresholds(defaults)
    assert mode == "absolute"
    assert steps == [P.Step(-math.inf, "#F2495C"), P.Step(0.9, "#73BF69")]  # sorted, base at -inf
    assert P.threshold_color(0.5, steps) == "#F2495C" and P.threshold_color(0.95, steps) == "#73BF69"
    assert P.threshold_color(0.9, steps) == "#73BF69"  # at the step: its colour
    assert P.threshold_color(None, steps) == "#F2495C"
    pct = P.thresholds({"thresholds": {"mode": "percentage", "steps": [{"color": "green", "value": None},
                                                                       {"color": "#FF0000", "value": 80}]}})
    assert P.threshold_color(9, pct[1], pct[0], 0, 10) == "#FF0000" and P.threshold_color(7, pct[1], pct[0], 0, 10) == "#73BF69"
    assert P.grafana_color("rgba(255, 0, 0, 0.5)") == "#FF000080"


def test_threshold_lines_only_when_the_style_draws_them():
    """Threshold lines only when the style draws them."""
    panel = {"fieldConfig": {"defaults": {"custom": {"thresholdsStyle": {"mode": "line"}},
                                          "thresholds": {"steps": [{"color": "green", "value": None},
                                                                   {"color": "red", "value": 32.0}]}}}}
    assert P.threshold_lines(panel) == [P.Step(32.0, "#F2495C")]
    panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] = "line+area"
    assert len(P.threshold_lines(panel)) == 1
    panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] = "off"
    assert P.threshold_lines(panel) == []


def test_reducers():
    """Reducers."""
    v = np.array([1.0, np.nan, 3.0, 2.0, np.nan])
    assert P.reduce_values(v, "lastNotNull") == 2.0 and P.reduce_values(v, "last") is None
    assert P.reduce_values(v, "mean") == 2.0 and P.reduce_values(v, "max") == 3.0
    assert P.reduce_values(np.array([np.nan]), "lastNotNull") is None


def test_heatmap_format_sorts_by_le_and_deaccumulates():
    """Heatmap format sorts by le and deaccumulates."""
    mk = lambda le, v: P.Series(le, {"le": le}, np.array([0.0]), np.array([v]))
    out = P.heatmap_buckets([mk("+Inf", 10), mk("10.0", 9), mk("2.0", 5), mk("1.0", 2)])
    assert [s.name for s in out] == ["1.0", "2.0", "10.0", "+Inf"]
    assert [float(s.values[0]) for s in out] == [2, 3, 4, 1]


def test_layout_expands_collapsed_rows():
    """Layout expands collapsed rows."""
    panels = [{"type": "row", "id": 1, "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "collapsed": True,
               "panels": [{"type": "stat", "id": 2, "gridPos": {"x": 0, "y": 1, "w": 12, "h": 4}}]},
              {"type": "row", "id": 3, "gridPos": {"x": 0, "y": 1, "w": 24, "h": 1}, "panels": []},
              {"type": "timeseries", "id": 4, "gridPos": {"x": 0, "y": 2, "w": 24, "h": 8}}]
    got = {p["id"]: g["y"] for p, g, _row in P.layout(panels)}
    assert got == {1: 0, 2: 1, 3: 5, 4: 6}  # the collapsed row's panel shown, the rest moved down 4


# --------------------------------------------------------------------------------------------------------
# Rendering with injected data (no Prometheus)
# --------------------------------------------------------------------------------------------------------
def _fake_range(expr, start, end, step):
    ts = np.arange(start, end + 1, step)
    if "nothing" in expr:
        return []
    return [{"metric": {"model": m}, "values": [[float(t), str(k + 1 + math.sin(t / 600))] for t in ts]}
            for k, m in enumerate(("a", "b"))]


def test_render_dashboard_with_an_injected_query_function(tmp_path):
    """Render dashboard with an injected query function."""
    d = {"uid": "t", "title": "T", "templating": {"list": []}, "panels": [
        {"type": "row", "id": 1, "title": "R", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
        {"type": "timeseries", "id": 2, "title": "stacked", "gridPos": {"x": 0, "y": 1, "w": 12, "h": 8},
         "fieldConfig": {"defaults": {"unit": "reqps", "custom": {"stacking": {"mode": "normal"}, "fillOpacity": 20,
                                                                   "thresholdsStyle": {"mode": "line"}},
                                      "thresholds": {"steps": [{"color": "green", "value": None},
                                                               {"color": "red", "value": 2.5}]}}},
         "targets": [{"expr": "rate(x[$__rate_interval])", "legendFormat": "{{model}}", "refId": "A"}]},
        {"type": "gauge", "id": 3, "title": "g", "gridPos": {"x": 12, "y": 1, "w": 6, "h": 8},
         "targets": [{"expr": "x", "refId": "A"}]},
        {"type": "table", "id": 4, "title": "tb", "gridPos": {"x": 18, "y": 1, "w": 6, "h": 8},
         "targets": [{"expr": "x", "instant": True, "refId": "A"}]},
        {"type": "text", "id": 5, "title": "notes", "gridPos": {"x": 0, "y": 9, "w": 12, "h": 4},
         "options": {"content": "# SLO\nThe **turn** SLO is 99%."}},
        {"type": "stat", "id": 6, "title": "empty", "gridPos": {"x": 12, "y": 9, "w": 12, "h": 4},
         "targets": [{"expr": "nothing", "refId": "A"}]},
    ]}
    r = P.render_dashboard(d, _fake_range, str(tmp_path), start=0, end=3600)
    by = {p.id: p for p in r.panels}
    assert by[2].drawn["stacked"] and by[2].drawn["drawn_points"] > 100
    assert by[2].drawn["threshold_lines"] == [(2.5, "#F2495C")]
    assert by[2].queries[0]["expr"] == "rate(x[1m])"
    assert by[3].has_data and by[4].has_data and by[4].drawn["rows"] == 2 and by[5].has_data
    assert [p.title for p in r.no_data] == ["empty"] and "no series" in by[6].no_data_reason
    for p in r.panels:
        if p.type != "row":
            assert (tmp_path / p.file).stat().st_size > 1000
    page = (tmp_path / "index.html").read_text()
    assert "t-panel-2.png" in page and "<script" not in page
    few = P.render_dashboard(d, _fake_range, str(tmp_path / "few"), start=0, end=3600, max_series=1)
    capped = next(p for p in few.panels if p.id == 2)
    assert capped.series == 2 and capped.drawn_truncated == 1 and capped.drawn["artists"] == 1


def test_value_mappings_show_a_state_as_words():
    """A stat's value mapping turns 2 into "Page" in its colour, as Grafana's value mappings do."""
    defaults = {"mappings": [{"type": "value", "options": {"0": {"text": "OK", "color": "green", "index": 0},
                                                           "2": {"text": "Page", "color": "red", "index": 2}}}]}
    assert P.value_mapping(defaults, 2.0) == {"text": "Page", "color": "red", "index": 2}
    assert P.value_mapping(defaults, 1.0) is None and P.value_mapping(defaults, None) is None


# --------------------------------------------------------------------------------------------------------
# End to end: the shared backfilled history (conftest.history), every dashboard
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(history, tmp_path_factory):
    prom, end = history
    out = tmp_path_factory.mktemp("preview")
    reports = P.render_all([str(p) for p in DASHBOARDS], prom.url, str(out), start=end - HISTORY_HOURS * 3600,
                           end=end, scrape_interval=60)
    return out, reports


def _png(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _pixels_of(img, box, colors, tol=40):
    x0, y0, x1, y1 = box
    area = img[y0:y1, x0:x1]
    n = 0
    for c in colors:
        rgb = np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)])
        n += int((np.abs(area - rgb).sum(axis=2) < tol).sum())
    return n


def test_every_panel_of_every_dashboard_is_drawn_with_data(rendered):
    """One PNG per panel, of the panel's size on the grid; every panel has data (no "No data" image), and
    the top page links every dashboard's page."""
    out, reports = rendered
    assert [r.uid for r in reports] == [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    top = (out / "index.html").read_text()
    count = 0
    for r, path in zip(reports, DASHBOARDS):
        assert os.path.relpath(r.index, out) in top
        d = json.loads(path.read_text())
        assert {p.id for p in r.panels if p.type != "row"} == {p["id"] for p in d["panels"] if p["type"] != "row"}
        for p in r.panels:
            if p.type == "row":
                continue
            count += 1
            img = Image.open(Path(r.out_dir) / p.file)
            assert (img.format, img.size) == ("PNG", (round(p.grid_pos["w"] / 24 * 1920), p.grid_pos["h"] * 30))
        assert [(p.title, p.no_data_reason) for p in r.no_data] == [], r.uid
    assert count == sum(1 for f in DASHBOARDS for p in json.loads(f.read_text())["panels"] if p["type"] != "row")


def test_timeseries_images_show_their_lines(rendered):
    """Every time series image has its series drawn: pixels in the series' colours inside the plot."""
    _, reports = rendered
    checked = 0
    for r in reports:
        for p in r.panels:
            if p.type != "timeseries":
                continue
            assert p.drawn["artists"] == p.series > 0, (r.uid, p.title)
            img = _png(Path(r.out_dir) / p.file)
            lit = _pixels_of(img, p.drawn["plot_bbox"], p.drawn["colors"])
            assert lit > 150, f"{r.uid}: {p.title}: only {lit} pixels in the series' colours"
            checked += 1
    assert checked == sum(1 for f in DASHBOARDS for p in json.loads(f.read_text())["panels"]
                          if p["type"] == "timeseries")


def test_thresholds_and_stat_values_come_from_the_dashboards(rendered):
    """Threshold lines are drawn at the config's values in their step colours, stats show their reduced
    values, and the SLO state stat shows a mapped word."""
    _, reports = rendered
    by = {(r.uid, p.title): p for r in reports for p in r.panels}
    assert by[("hermes-capacity", "Capacity used by instance")].drawn["threshold_lines"] == [(0.8, "#F2495C")]
    assert by[("hermes-business", "Task completion rate over time")].drawn["threshold_lines"] == [(0.9, "#73BF69")]
    assert by[("hermes-reliability", "Instances up")].drawn["values"] == ["1", "1", "1"]
    assert by[("hermes-slo", "Burn-rate alert conditions now")].drawn["values"][0] in ("OK", "Ticket", "Page")


def test_dashboard_page_layout(rendered):
    """The page lays panels out on the 24-column grid (30 px a height unit), rows as headings, each image
    linked, nothing loaded from the network."""
    _, reports = rendered
    cost = next(r for r in reports if r.uid == "hermes-cost")
    page = Path(cost.index).read_text()
    assert "<h1>Hermes / Cost</h1>" in page and "$instance" in page
    cell = re.search(r"style='([^']*)'><a href='hermes-cost-panel-6.png'>", page)  # USD per hour by model
    assert cell and cell.group(1) == "left:0.0000%;width:50.0000%;top:270px;height:240px"
    assert re.search(r"<div class='row' style='[^']*top:0px[^']*'>Spend</div>", page)
    assert not re.search(r"(src|href)=['\"]https?://", page)


def test_an_undefined_variable_shows_no_data_and_says_why(history, tmp_path):
    """A query using a variable its dashboard does not define (the overview's old "USD per hour") renders
    as "No data" with the variable named, as Grafana would leave it empty."""
    prom, end = history
    d = json.loads((ROOT / "dashboards" / "overview.json").read_text())
    p = next(p for p in d["panels"] if p.get("title") == "USD per hour")
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace('instance=~"$instance"',
                                                              'instance=~"$instance", model=~"$model"')
    http = P.PrometheusHTTP(prom.url)
    r = P.render_dashboard(d, http.query_range, str(tmp_path), start=end - 3600, end=end, scrape_interval=60,
                           query_instant=http.query, label_values=http.label_values)
    assert [(q.title, q.no_data_reason) for q in r.no_data] == [
        ("USD per hour", "uses variable $model that the dashboard does not define (left literal, as Grafana does)")]


def test_the_command_writes_a_preview_and_fails_on_no_data_when_asked(history, tmp_path):
    """`hermes-dash preview` renders the given dashboards, prints one line each, and with --fail-on-no-data
    exits 0 when every panel has data."""
    prom, end = history
    r = cli("preview", str(ROOT / "dashboards" / "overview.json"), "--prometheus", prom.url, "--out", str(tmp_path),
            "--from", str(end - 3600), "--to", str(end), "--scrape-interval", "1m", "--fail-on-no-data")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("hermes-overview: 8 panels, 0 without data")
    assert (tmp_path / "hermes-overview" / "hermes-overview-panel-2.png").exists()
    assert (tmp_path / "index.html").exists()
