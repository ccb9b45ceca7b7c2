"""Grafana's query interpolation (hermes_dash.build.grafana_query): variables at All or chosen, undefined
ones left literal, every syntax and format, the macros and the step as Grafana computes them."""
from hermes_dash.build import grafana_query as P

H6 = 6 * 3600

# --------------------------------------------------------------------------------------------------------
# grafana_expand: variables
# --------------------------------------------------------------------------------------------------------
def test_all_with_all_value_becomes_the_all_value():
    """All with all value becomes the all value."""
    v = {"instance": P.Var("instance", ["127.0.0.1:1", "127.0.0.1:2"], is_all=True, all_value=".*")}
    e = P.grafana_expand('up{instance=~"$instance"}', v, 0, H6, 24)
    assert e.expr == 'up{instance=~".*"}'


def test_all_without_all_value_becomes_a_regex_of_the_values_escaped_as_grafana_does():
    """All without all value becomes a regex of the values escaped as grafana does."""
    v = {"instance": P.Var("instance", ["127.0.0.1:19464", "127.0.0.1:19465"], is_all=True)}
    e = P.grafana_expand('up{instance=~"$instance"}', v, 0, H6, 24)
    # in the PromQL string literal \\. is the regex \. (prometheusSpecialRegexEscape)
    assert e.expr == r'up{instance=~"(127\\.0\\.0\\.1:19464|127\\.0\\.0\\.1:19465)"}'
    one = P.grafana_expand('up{instance=~"$instance"}', {"instance": P.Var("instance", ["a.b"])}, 0, H6, 24)
    assert one.expr == r'up{instance=~"a\\.b"}'


def test_a_plain_list_is_a_regex_alternation_and_a_string_is_inserted_as_is():
    """A plain list is a regex alternation and a string is inserted as is."""
    e = P.grafana_expand('x{m=~"$m", n="$n"}', {"m": ["a", "b"], "n": "raw.value"}, 0, H6, 24)
    assert e.expr == 'x{m=~"(a|b)", n="raw.value"}'


def test_an_undefined_variable_stays_literal():
    """An undefined variable stays literal."""
    v = {"instance": P.Var("instance", [], is_all=True, all_value=".*")}
    e = P.grafana_expand('sum(rate(c{instance=~"$instance", model=~"$model"}[$__rate_interval]))', v, 0, H6, 4)
    assert 'model=~"$model"' in e.expr and 'instance=~".*"' in e.expr
    assert "$__rate_interval" not in e.expr
    assert P.undefined_variables(e.expr) == ["model"]


def test_every_variable_syntax_and_formats():
    """Every variable syntax and formats."""
    v = {"i": P.Var("i", ["a", "b"])}
    assert P.grafana_expand("${i}", v, 0, 60, 24).expr == "(a|b)"
    assert P.grafana_expand("[[i]]", v, 0, 60, 24).expr == "(a|b)"
    assert P.grafana_expand("${i:pipe}", v, 0, 60, 24).expr == "a|b"
    assert P.grafana_expand("${i:csv}", v, 0, 60, 24).expr == "a,b"
    assert P.grafana_expand("$iother", v, 0, 60, 24).expr == "$iother"  # another (undefined) name


def test_single_value_variable_is_not_regex_escaped():
    """Single value variable is not regex escaped."""
    v = {"job": P.Var("job", ["hermes.agent"], regex=False)}
    assert P.grafana_expand('up{job="$job"}', v, 0, 60, 24).expr == 'up{job="hermes.agent"}'


# --------------------------------------------------------------------------------------------------------
# grafana_expand: macros and step
# --------------------------------------------------------------------------------------------------------
def test_macros_for_a_full_width_panel_over_6h():
    """Macros for a full width panel over 6h."""
    # 24 columns = 1920 px = 1920 points: 21600 s / 1920 = 11.25 s, rounded to 10 s, raised to the 15 s min
    e = P.grafana_expand("rate(x[$__rate_interval]) $__interval $__range", {}, 1000, 1000 + H6, 24)
    assert e.step == 15
    assert e.expr == "rate(x[1m]) 15s 21600s"  # rate interval: max(15 + 15, 4 x 15) = 60 s


def test_macros_follow_the_panel_width():
    """Macros follow the panel width."""
    # 8 columns = 640 points over 6 h: 33.75 s -> 30 s; rate interval max(30 + 15, 60) = 60 s
    assert P.grafana_expand("$__interval $__rate_interval", {}, 0, H6, 8).expr == "30s 1m"
    # 2 columns = 160 points: 135 s -> 2m; rate interval 120 + 15 = 135 s
    e = P.grafana_expand("$__interval $__rate_interval", {}, 0, H6, 2)
    assert (e.step, e.expr) == (120, "2m 135s")


def test_max_data_points_wins_over_the_width_as_in_grafana():
    """Max data points wins over the width as in grafana."""
    # panel.maxDataPoints || width: 100 points over 6 h = 216 s -> 5m; rate interval 5m + 15 s
    e = P.grafana_expand("$__interval $__rate_interval", {}, 0, H6, 24, max_data_points=100)
    assert (e.step, e.expr) == (300, "5m 315s")


def test_rate_interval_follows_the_scrape_interval():
    """Rate interval follows the scrape interval."""
    e = P.grafana_expand("$__rate_interval", {}, 0, 3600, 12, scrape_interval=60)
    assert (e.step, e.expr) == (60, "4m")  # step at least the 1m scrape; rate max(60 + 60, 240)


def test_range_macros_and_short_ranges():
    """Range macros and short ranges."""
    e = P.grafana_expand("$__range $__range_s $__range_ms $__interval_ms", {}, 0, 3600, 12)
    assert e.expr == "3600s 3600 3600000 15000"
    assert P.grafana_step(0, 300, 1000) == 15  # never under the min interval


def test_round_interval_table():
    """Round interval table."""
    assert [P.round_interval(x) for x in (9, 11250, 33750, 216000, 500000)] == [1, 10000, 30000, 300000, 600000]


def test_parse_and_format_durations():
    """Parse and format durations."""
    assert P.parse_duration("1h30m") == 5400 and P.parse_duration("500ms") == 0.5 and P.parse_duration("") is None
    assert [P.format_duration(s) for s in (15, 60, 90, 300, 3600, 0.5)] == ["15s", "1m", "90s", "5m", "1h", "500ms"]


# --------------------------------------------------------------------------------------------------------
# Variables from a dashboard
# --------------------------------------------------------------------------------------------------------
def _dash(**var):
    v = {"name": "instance", "type": "query", "includeAll": True, "multi": True, "allValue": ".*",
         "current": {"text": "$__all", "value": "$__all"}, "query": 'label_values(up{job="j"}, instance)',
         "sort": 1}
    v.update(var)
    return {"templating": {"list": [v]}}


def _label_values(calls):
    def lv(label, match, start, end):
        calls.append((label, match))
        return ["b:2", "a:1"]
    return lv


def test_resolve_all_uses_label_values_and_all_value():
    """Resolve all uses label values and all value."""
    calls = []
    out = P.resolve_variables(_dash(), _label_values(calls), 0, 60)
    assert calls == [("instance", 'up{job="j"}')]
    assert out["instance"].is_all and out["instance"].values == ["a:1", "b:2"]
    assert P.format_variable(out["instance"]) == ".*"


def test_resolve_all_without_all_value_gives_the_alternation():
    """Resolve all without all value gives the alternation."""
    out = P.resolve_variables(_dash(allValue=None), _label_values([]), 0, 60)
    assert P.format_variable(out["instance"]) == "(a:1|b:2)"


def test_resolve_overrides_and_unknown_names():
    """Resolve overrides and unknown names."""
    notes = []
    out = P.resolve_variables(_dash(), _label_values([]), 0, 60, {"instance": "a:1", "model": "x"}, notes)
    assert not out["instance"].is_all and P.format_variable(out["instance"]) == "a:1"
    assert "model" not in out and any("model" in n for n in notes)
