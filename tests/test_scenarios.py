"""Generated rule tests: the scenario model, the oracle, promtool agreeing with it, and the mutants caught."""
import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from hermes_dash import catalogue as C
from hermes_dash.config import DEFAULT
from hermes_dash.harness.scenarios import draw_scenarios
from hermes_dash.harness.scenarios.model import DOWN, GAP, GONE, STALE, Event, Fault, Fleet, Load, Scenario, notation
from hermes_dash.harness.scenarios.mutants import MUTANTS, check_mutants_differ
from hermes_dash.harness.scenarios.oracle import Oracle, above, t_and, t_or
from hermes_dash.harness.scenarios.runner import (explain, first_difference, fixture, run_fixtures, save_regression,
                                          write_fixture)
from hermes_dash.harness.scenarios.strategies import scenarios

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
RULES = [str(ROOT / "rules" / "hermes_recording_rules.yml"), str(ROOT / "rules" / "hermes_alerts.yml")]
REGRESSIONS = ROOT / "rule_tests" / "regressions"
ONE = Fleet(("a:9464",), ("web_search",), ("hermes-3-70b",))
TOOL = ((C.L_TOOL, "web_search"),)


def outage(minutes=60, **kw):
    """10 successful calls a minute; from minute 10 to 40 the tool also fails 5 times a minute."""
    return Scenario(ONE, minutes, Load(tool_calls=10, **kw),
                    (Fault("tool outage", 10, 40, (("tool_failures", 5), ("tool_failure_status", "timeout"))),))


# --- three-valued logic and margins --------------------------------------------------------------------

def test_three_valued_logic_and_margins():
    """False wins an AND and True wins an OR over unknown; values within 5% of a threshold are unknown."""
    assert (t_and(True, None), t_and(False, None), t_and(True, True)) == (None, False, True)
    assert (t_or(False, None), t_or(True, None), t_or(False, False)) == (None, True, False)
    assert (above(0.0524, 0.05), above(0.0526, 0.05), above(0.0474, 0.05), above(None, 0.05)) == \
        (None, True, False, None)


# --- the model -----------------------------------------------------------------------------------------

def test_notation_round_trips_and_refuses_inexact_decimals():
    """Runs become a+bxn, gaps _xn, stale markers `stale`; a decimal that repeated addition does not
    reproduce exactly (0.4) is refused rather than rendered as a phantom counter reset."""
    assert notation([0.0, 1.0, 2.0, 3.0, None, None, STALE, None, 0.0, 2.0]) == "0+1x3 _x2 stale _ 0+2x1"
    assert notation([5.0, 5.0, 5.0]) == "5+0x2"
    with pytest.raises(ValueError, match="not reproduced exactly"):
        notation([0.4 * i for i in range(40)])


def test_truth_renders_resets_gaps_down_and_gone():
    """A restart resets counters, a gap leaves no samples, down is up == 0 with stale series that restart
    from zero, gone removes every series for good."""
    s = Scenario(ONE, 12, Load(tool_calls=2), (), (
        Event("restart", "a:9464", 3), Event(GAP, "a:9464", 5, 6), Event(DOWN, "a:9464", 7, 9),
        Event(GONE, "a:9464", 11)))
    t = s.expand()
    key = (C.TOOL_CALLS.name, TOOL + ((C.L_STATUS, "success"),))
    assert t.samples("a:9464", key) == [0.0, 2.0, 4.0, 2.0, 4.0, None, 8.0, STALE, None, 2.0, 4.0, STALE, None]
    assert t.up_samples("a:9464") == [1.0] * 5 + [None, 1.0, 0.0, 0.0, 1.0, 1.0, STALE, None]
    assert t.states["a:9464"] == ["up"] * 5 + [GAP, "up", DOWN, DOWN, "up", "up", GONE, GONE]


def test_every_catalogue_series_the_rules_read_is_rendered():
    """input_series carry only catalogue metric names and labels, with job and instance."""
    series = Scenario(ONE, 5, Load(turns_fast=1)).expand().input_series("hermes-agent")
    names = {s["series"].split("{")[0] for s in series}
    assert names == {C.UP, C.TURN_DURATION.name + "_bucket", C.TURN_DURATION.name + "_count",
                     C.TOOL_CALLS.name, C.LLM_REQUESTS.name, C.LLM_ERRORS.name, C.TOKENS.name, C.UNPRICED_TOKENS.name,
                     C.COST.name, C.SESSIONS.name, C.ACTIVE_SESSIONS.name, C.STEP_DURATION.name + "_bucket"}
    assert all('job="hermes-agent", instance="a:9464"' in s["series"] for s in series)
    assert len([s for s in series if s["series"].startswith(C.TURN_DURATION.name + "_bucket")]) == \
        len(C.TURN_STATUSES) * (len(C.TURN_BUCKETS) + 1)


# --- the oracle ----------------------------------------------------------------------------------------

def test_oracle_fires_a_tool_error_rate_after_its_for_duration():
    """A third of the calls fail from minute 10: the condition holds from 10, so with for: 5m the alert
    fires at 15, not at 14, and stops when the outage's last failures leave the 5-minute window."""
    o = Oracle(outage().expand(), DEFAULT)
    alert = (C.A_TOOL_ERROR_RATE, C.WARNING)
    assert o.condition(alert, 9) == {TOOL: False}
    assert o.condition(alert, 10) == {TOOL: True}
    assert (o.firing(alert, 14), o.firing(alert, 15), o.firing(alert, 43)) == \
        ({TOOL: False}, {TOOL: True}, {TOOL: True})
    assert o.firing(alert, 44) == {TOOL: False}


def test_oracle_counts_timeouts_as_failures_and_needs_minimum_traffic():
    """Timeouts are failures; with 1 call a minute (5 in the window, under the minimum of 10) it stays quiet."""
    timeouts = Fault("t", 1, 31, (("tool_failures", 1), ("tool_failure_status", "timeout")))
    o = Oracle(Scenario(ONE, 30, Load(tool_calls=0), (timeouts,)).expand(), DEFAULT)
    assert o.condition((C.A_TOOL_ERROR_RATE, C.WARNING), 20) == {TOOL: False}


def test_oracle_abstains_around_scrape_gaps_and_crashes():
    """A window whose edge falls in a scrape gap is unknown; so is one that lost events in a crash."""
    gap = Scenario(ONE, 40, Load(tool_calls=10), (), (Event(GAP, "a:9464", 20, 24),))
    o = Oracle(gap.expand(), DEFAULT)
    assert o.condition((C.A_TOOL_ERROR_RATE, C.WARNING), 22) == {TOOL: None}
    assert o.condition((C.A_TOOL_ERROR_RATE, C.WARNING), 28) == {TOOL: None}  # starts in the gap
    assert o.condition((C.A_TOOL_ERROR_RATE, C.WARNING), 29) == {TOOL: False}
    inside = o.window(C.TOOL_CALLS.name, 40, 30)  # the gap lies inside the window: counted exactly
    assert (inside.total, inside.exact) == (300.0, True)
    crash = Scenario(ONE, 40, Load(tool_calls=10), (Fault("outage", 5, 15, (("tool_failures", 10),)),),
                     (Event(GAP, "a:9464", 5, 12), Event(DOWN, "a:9464", 12, 16)))
    o = Oracle(crash.expand(), DEFAULT)
    # failures counted during the gap died with the process: Prometheus never saw them
    assert o.window(C.TOOL_CALLS.name, 18, 30, **{C.L_STATUS: "!success"}).exact is False


def test_oracle_metrics_absent_and_instance_down():
    """An instance that is down fires HermesInstanceDown after 1m; once every instance is down or gone,
    HermesMetricsAbsent fires after 5m."""
    two = Fleet(("a:9464", "b:9464"), ("web_search",), ("hermes-3-70b",))
    s = Scenario(two, 30, Load(), (), (Event(DOWN, "a:9464", 5, 31), Event(GONE, "b:9464", 10)))
    o = Oracle(s.expand(), DEFAULT)
    down = (C.A_INSTANCE_DOWN, C.CRITICAL)
    assert o.firing(down, 6) == {((C.L_INSTANCE, "a:9464"),): True, ((C.L_INSTANCE, "b:9464"),): False}
    assert o.firing(down, 5) == {((C.L_INSTANCE, "a:9464"),): False, ((C.L_INSTANCE, "b:9464"),): False}
    absent = (C.A_METRICS_ABSENT, C.CRITICAL)
    assert (o.firing(absent, 14), o.firing(absent, 15)) == ({(): False}, {(): True})


def test_oracle_token_spike_needs_the_floor():
    """0.1 -> 0.5 tokens/s is five times the hourly average but under the 100 tokens/s floor: quiet;
    200 -> 600 tokens/s fires (until the spike has lifted the hourly average to within the margin)."""
    def spike(base, peak):
        return Scenario(ONE, 60, Load(prompt_tokens=base), (Fault("spike", 40, 61, (("prompt_tokens", peak),)),))
    alert = (C.A_TOKEN_SPIKE, C.WARNING)
    assert Oracle(spike(6, 30).expand(), DEFAULT).firing(alert, 52) == {(): False}
    big = Oracle(spike(12_000, 36_000).expand(), DEFAULT)
    assert (big.firing(alert, 51), big.firing(alert, 52), big.firing(alert, 55)) == \
        ({(): False}, {(): True}, {(): None})


def test_oracle_completion_low_counts_zero_completed_sessions():
    """Every session failing is 0% completion: the alert fires (it needs the zero-initialised series)."""
    s = Scenario(ONE, 40, Load(sessions_failed=2))
    assert Oracle(s.expand(), DEFAULT).firing((C.A_TASK_COMPLETION_LOW, C.WARNING), 30) == {(): True}


# --- promtool against the oracle -----------------------------------------------------------------------

def _run_one(tmp_path, s, index=0):
    fx = fixture(index, s, DEFAULT)
    write_fixture(fx, str(tmp_path), RULES)
    return fx, run_fixtures([fx], jobs=1, promtool=require_tool("promtool"))


def test_promtool_reads_the_rendered_series_as_the_model_says(tmp_path):
    """Every sample of every rendered series, read back through promtool, is what Truth.samples holds."""
    s = Scenario(Fleet(("a:9464", "b:9464"), ("web_search",), ("hermes-3-70b",)), 20,
                 Load(tool_calls=3, cost_usd=0.375, active_sessions=4), (),
                 (Event("restart", "a:9464", 4), Event(GAP, "b:9464", 6, 9), Event(DOWN, "a:9464", 12, 15)))
    t = s.expand()
    tests = []
    for inst, key, gauge in t.all_series():
        for m, v in enumerate(t.samples(inst, key, gauge)):
            if isinstance(v, float):
                labels = dict(key[1], job="hermes-agent", instance=inst)
                sel = key[0] + "{" + ", ".join(f'{k}="{x}"' for k, x in sorted(labels.items())) + "}"
                tests.append({"expr": sel, "eval_time": f"{m}m", "exp_samples": [{"labels": sel, "value": v}]})
    path = tmp_path / "read_back.yml"
    path.write_text(yaml.safe_dump({"tests": [{"interval": "1m", "input_series": t.input_series("hermes-agent"),
                                                "promql_expr_test": tests}]}))
    out = subprocess.run([require_tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(tests) > 300


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(s=scenarios())
def test_rules_agree_with_the_oracle_on_generated_scenarios(tmp_path_factory, s):
    """Property: for any scenario, at every minute where the oracle is decisive, exactly the alerts it says
    fire (with their labels) are firing in promtool. A failure shrinks to a minimal scenario, saved under
    rule_tests/regressions/ as a regression test."""
    d = tmp_path_factory.mktemp("scenario")
    fx, report = _run_one(d, s)
    if report.failures or report.errors:
        # hypothesis replays the shrunk example last, so the file left behind is the minimal one
        target = save_regression(fx, str(REGRESSIONS), RULES, "minimal_failure")
        pytest.fail(explain(fx, (report.failures or [(fx, "")])[0][1]) + f"\nsaved as {target}\n"
                    + "\n".join(report.errors))


def test_a_saved_regression_runs_from_its_place_in_the_repository(tmp_path):
    """save_regression writes a fixture whose rule files are relative to it; promtool runs it as saved."""
    d = ROOT / "build" / "regression-test"
    fx = fixture(3, outage(), DEFAULT)
    path = save_regression(fx, str(d), RULES, "saved")
    try:
        data = yaml.safe_load(Path(path).read_text())
        assert data["rule_files"] == ["../../rules/hermes_recording_rules.yml", "../../rules/hermes_alerts.yml"]
        out = subprocess.run([require_tool("promtool"), "test", "rules", path], capture_output=True, text=True,
                             timeout=60, cwd=str(tmp_path))
        assert out.returncode == 0, out.stderr
    finally:
        os.unlink(path)
        if not os.listdir(d):
            os.rmdir(d)


def test_a_disagreement_is_reported_in_words_with_the_diff_and_how_to_reproduce(tmp_path):
    """When the rules disagree, the report names the scenario in words, promtool's diff and the commands."""
    mutant = MUTANTS[2]  # `for` dropped from HermesToolErrorRate
    files = mutant.write(DEFAULT, str(tmp_path / "rules"))
    fx = fixture(7, outage(), DEFAULT)
    write_fixture(fx, str(tmp_path), files)
    report = run_fixtures([fx], jobs=1, promtool=require_tool("promtool"))
    assert len(report.failures) == 1
    text = explain(fx, report.failures[0][1], seed=3)
    assert "minutes 10-40: tool outage: tool_failures=5, tool_failure_status=timeout" in text
    assert "got: {__name__=\"ALERTS\", alertname=\"HermesToolErrorRate\"" in text
    assert f"promtool test rules {fx.path}" in text and "--seed 3 --only 7" in text
    # minute 14 is the last pending minute of the `for` boundary pair the generator always checks
    assert first_difference(report.failures[0][1]) == \
        "at 14m expected nothing, got HermesToolErrorRate (warning)"


# --- the generated set and the mutants ------------------------------------------------------------------

def test_the_default_set_is_deterministic_and_stratified():
    """The same seed draws the same scenarios; every kind leads an equal share of them."""
    from hermes_dash.harness.scenarios.strategies import KINDS
    a, b = draw_scenarios(36, 0), draw_scenarios(36, 0)
    assert a == b and len(set(a)) == 36
    assert draw_scenarios(36, 1) != a
    firsts = [s.faults[0].kind for s in a if s.faults]
    assert {k for k in KINDS if k != "token spike on trivial traffic"} <= set(firsts) | {"trivial token traffic"}


def test_every_mutant_changes_the_rules():
    """Each mutant's rule files differ from the correct ones (a mutant that changes nothing proves nothing)."""
    check_mutants_differ(DEFAULT)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught(tmp_path, mutant):
    """Each broken rule set disagrees with the oracle on at least one of 12 scenarios of the kind that
    exercises it (the full check, `make test-rules`, runs every mutant against the whole default set)."""
    kind = {"down": "availability", "gone": "availability"}.get(mutant.hint[0], mutant.hint[0])
    fixtures = [fixture(i, s, DEFAULT) for i, s in enumerate(draw_scenarios(12, 0, first=kind))]
    files = mutant.write(DEFAULT, str(tmp_path / "rules"))
    for fx in fixtures:
        write_fixture(fx, str(tmp_path), files)
    report = run_fixtures(fixtures, jobs=2, batch=6, promtool=require_tool("promtool"))
    assert report.failures, f"{mutant.name}: all {len(fixtures)} scenarios agree with the broken rules"
    good = [copy.copy(fx) for fx in fixtures]
    for fx in good:
        write_fixture(fx, str(tmp_path / "good"), RULES)
    assert run_fixtures(good, jobs=2, batch=6, promtool=require_tool("promtool")).failures == []


def test_the_scenarios_run_every_alert_and_exactly_the_records_alerts_read(tmp_path):
    """alert_inputs keeps every alert rule and, of the recording rules, exactly those an alert reads
    directly or through other records (the turn P95, the SLO error ratios), none that only dashboards read
    (the per-instance turn buckets, hermes_instance:*); the alert file is unchanged, and promtool accepts
    both files."""
    import re as _re
    from hermes_dash.build.rules import all_alert_rules, recording_groups
    from hermes_dash.harness.scenarios.runner import alert_inputs
    rec, alerts = alert_inputs(RULES, str(tmp_path))
    kept = {r["record"] for g in yaml.safe_load(Path(rec).read_text())["groups"] for r in g["rules"]}
    records = {r.rule.name: r.expr for g in recording_groups(DEFAULT) for r in g.rules}
    read = set()
    todo = [a.expr for a in all_alert_rules(DEFAULT)]
    while todo:
        for name in set(_re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", todo.pop())) & records.keys() - read:
            read.add(name)
            todo.append(records[name])
    assert kept == read
    assert C.RULE_TURN_P95.name in kept and C.RULE_TURN_BUCKETS.name not in kept  # the panels' buckets
    assert not any(n.startswith("hermes_instance:") for n in kept)
    assert Path(alerts).read_text() == yaml.safe_dump(yaml.safe_load((ROOT / "rules" / "hermes_alerts.yml")
                                                                     .read_text()), sort_keys=False, width=1000)
    out = subprocess.run([require_tool("promtool"), "check", "rules", rec, alerts], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
