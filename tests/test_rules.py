"""Recording and alert rules, their promtool tests, runbooks, lint, and the deployment files."""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hermes_dash import catalogue as C
from hermes_dash.cli import generated_files
from hermes_dash.config import DEFAULT, config_from_mapping, duration_seconds
from hermes_dash.deploy import (ALERTMANAGER_FILE, PROMETHEUS_FILE, PROMETHEUS_RULE_FILE, alertmanager_config,
                                prometheus_rule)
from hermes_dash.lint import lint_paths, lint_rule_groups
from hermes_dash.rules import (ALERTS_FILE, GENERATED_MARK, RECORDING_FILE, alert_groups, all_alert_rules,
                               recording_groups, render_rule_files, slo_windows)

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
RULE_TESTS = ROOT / "rule_tests"
SEED = RULE_TESTS / "seed"
HAND_WRITTEN = sorted(RULE_TESTS.glob("*.yml")) + sorted((RULE_TESTS / "seed_defects").glob("*.yml")) \
    + sorted((RULE_TESTS / "regressions").glob("*.yml"))  # minimal failures saved by the property tests
AM_FILE = ROOT / "deploy" / ALERTMANAGER_FILE
SEED_DEFECTS = sorted((RULE_TESTS / "seed_defects").glob("*.yml"))


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "hermes_dash.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


# --- generated files ------------------------------------------------------------------------------------

def test_committed_rules_and_deploy_files_are_fresh():
    """rules/ and deploy/ equal what the catalogue and the default config generate now."""
    for path, text in generated_files(DEFAULT, ("rules", "deploy")).items():
        assert (ROOT / path).read_text() == text, f"{path} is stale: run `make generate`"


def test_generated_files_are_marked_and_deterministic():
    """Every generated rule and deploy file starts with the DO NOT EDIT marker and renders identically twice."""
    first, second = generated_files(DEFAULT, ("rules", "deploy")), generated_files(DEFAULT, ("rules", "deploy"))
    assert first == second
    assert sorted(first) == sorted([f"rules/{RECORDING_FILE}", f"rules/{ALERTS_FILE}", f"deploy/{PROMETHEUS_FILE}",
                                    f"deploy/{ALERTMANAGER_FILE}", f"deploy/{PROMETHEUS_RULE_FILE}"])
    assert all(text.startswith(GENERATED_MARK) for text in first.values())


def test_build_check_reports_a_stale_rule_file(tmp_path):
    """`hermes-dash build --check` exits 1 naming a rule file edited by hand, and writes nothing."""
    assert cli("build", "--root", str(tmp_path)).returncode == 0
    alerts_path = tmp_path / "rules" / ALERTS_FILE
    alerts_path.write_text(alerts_path.read_text().replace("> 30", "> 31"))
    r = cli("build", "--check", "--root", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip() == f"{alerts_path} is stale: run `make generate`"
    assert "> 31" in alerts_path.read_text()


@pytest.mark.parametrize("text, message", [
    ("thresholds:\n  latency_p95_seconds: -3\n", "thresholds.latency_p95_seconds: must be a finite number >= 0"),
    ("thresholds:\n  latency_p95: 3\n", "thresholds.latency_p95: unknown key"),
    ("alerting:\n  for_durations:\n    high_latency: 5 minutes\n",
     "alerting.for_durations.high_latency: expected a Prometheus duration"),
    ("slo:\n  turn_latency_seconds: 45\n", "slo.turn_latency_seconds: must be a bucket boundary"),
    ("slo:\n  page: [{factor: 14.4, long: 5m, short: 1h}]\n", "slo.page[0].short: must be shorter than long"),
    ("thresholds:\n  tool_error_rate: '5%'\n", "thresholds.tool_error_rate: expected a number"),
])
def test_bad_config_exits_2_naming_file_and_key_and_writes_nothing(tmp_path, text, message):
    """A bad config file fails `build` with exit 2, names the file and key, and leaves every output as it was."""
    assert cli("build", "--root", str(tmp_path)).returncode == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    r = cli("build", "--config", str(bad), "--root", str(tmp_path))
    assert r.returncode == 2
    assert f"{bad}: {message}" in r.stderr
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != bad}
    assert after == before


def _p95_test_file(rules_root: Path, path: Path, fires_with_threshold):
    """A promtool test: 40 turns/min, 37 of them within 30 s and 3 in (30, 60]. The P95 rank 38 lies 1/3
    into (30, 60], so P95 = 40 s. It expects HermesHighLatency firing with the given threshold, or nothing."""
    series = [(le, v) for le, v in (("30.0", "0+37x10"), ("60.0", "0+40x10"), ("+Inf", "0+40x10"))]
    exp = [] if fires_with_threshold is None else [{
        "exp_labels": {"severity": "warning", "team": "platform", "job": "hermes-agent"},
        "exp_annotations": {
            "summary": f"Hermes turn latency P95 is above {fires_with_threshold}s",
            "description": f"P95 of turn duration on job hermes-agent is 40s over the last 5m "
                           f"(threshold {fires_with_threshold}s).",
            "runbook_url": "https://github.com/hermes-dash/hermes-dash/blob/main/RUNBOOK.md#hermeshighlatency"}}]
    path.write_text(yaml.safe_dump({
        "rule_files": [str(rules_root / "rules" / RECORDING_FILE), str(rules_root / "rules" / ALERTS_FILE)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m",
                   "input_series": [{"series": f'hermes_request_duration_seconds_bucket{{job="hermes-agent", '
                                               f'le="{le}"}}', "values": v} for le, v in series],
                   "promql_expr_test": [{"expr": "abs(hermes:request_duration_p95:5m - 40) < bool 1e-9",
                                         "eval_time": "10m",
                                         "exp_samples": [{"labels": '{job="hermes-agent"}', "value": 1}]}],
                   "alert_rule_test": [{"eval_time": "10m", "alertname": C.A_HIGH_LATENCY, "exp_alerts": exp}]}]}))
    return path


def test_a_changed_threshold_moves_the_alert_and_the_dashboard_line(tmp_path):
    """latency_p95_seconds: 45 in a config file changes HermesHighLatency's expression, summary and
    behaviour (a P95 of 40 s fires under the default 30 s, not under 45 s) and the latency dashboard's
    threshold line, from one build."""
    cfg_file = tmp_path / "hermes-dash.yml"
    cfg_file.write_text("thresholds:\n  latency_p95_seconds: 45\n")
    changed, default = tmp_path / "changed", tmp_path / "default"
    assert cli("build", "--config", str(cfg_file), "--root", str(changed)).returncode == 0
    assert cli("build", "--root", str(default)).returncode == 0
    rules = yaml.safe_load((changed / "rules" / ALERTS_FILE).read_text())
    high = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == C.A_HIGH_LATENCY)
    assert high["expr"] == 'hermes:request_duration_p95:5m{job="hermes-agent"} > 45'
    assert high["annotations"]["summary"] == "Hermes turn latency P95 is above 45s"
    for root, line in ((changed, 45), (default, 30)):
        dash = yaml.safe_load((root / "dashboards" / "latency.json").read_text())
        steps = [s["value"] for p in dash["panels"] if p.get("title", "").startswith("Turn P95")
                 for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]
        assert steps and set(steps) == {line}
    promtool = require_tool("promtool")
    for root, fires in ((default, 30), (changed, None)):
        f = _p95_test_file(root, tmp_path / f"p95_{root.name}.yml", fires)
        out = subprocess.run([promtool, "test", "rules", str(f)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr


# --- rule content ---------------------------------------------------------------------------------------

def test_every_contract_alert_is_generated_with_its_severity_and_team():
    """Each alert of the catalogue is generated, with the severity and team that route it as designed."""
    expected = {
        C.A_HIGH_LATENCY: {("warning", "platform")}, C.A_CRITICAL_LATENCY: {("critical", "platform")},
        C.A_TOOL_ERROR_RATE: {("warning", "platform")}, C.A_LLM_ERROR_RATE: {("warning", "platform")},
        C.A_INSTANCE_DOWN: {("critical", "platform")}, C.A_METRICS_ABSENT: {("critical", "platform")},
        C.A_COST_OVERRUN: {("warning", "finance")}, C.A_DAILY_COST_BUDGET: {("warning", "finance")},
        C.A_DAILY_TOKEN_BUDGET: {("warning", "finance")}, C.A_TOKEN_SPIKE: {("warning", "finance")},
        C.A_UNPRICED_TOKENS: {("info", "finance")}, C.A_SESSIONS_NEAR_CAPACITY: {("warning", "platform")},
        C.A_TASK_COMPLETION_LOW: {("warning", "platform")},
        C.A_TURN_ERROR_BUDGET_BURN: {("critical", "platform"), ("warning", "platform")},
        C.A_TURN_LATENCY_BUDGET_BURN: {("critical", "platform"), ("warning", "platform")},
    }
    got = {}
    for r in all_alert_rules(DEFAULT):
        got.setdefault(r["alert"], set()).add((r["labels"]["severity"], r["labels"]["team"]))
    assert got == expected
    assert set(got) == set(C.ALERT_NAMES)


def test_thresholds_for_durations_and_slo_targets_come_from_the_config():
    """Every configurable number appears in the generated rules: changing each one changes its alert."""
    cfg = config_from_mapping({
        "thresholds": {"latency_p99_seconds": 99, "tool_error_rate": 0.07, "tool_error_min_calls": 11,
                       "llm_error_rate": 0.08, "llm_error_min_requests": 12, "cost_per_hour_usd": 77,
                       "daily_cost_budget_usd": 555, "daily_token_budget": 1234567, "token_spike_factor": 3.5,
                       "token_spike_min_tokens_per_second": 42, "session_capacity_per_instance": 16,
                       "capacity_warning_ratio": 0.7, "task_completion_target": 0.85,
                       "task_completion_min_sessions": 13},
        "alerting": {"for_durations": {"token_spike": "7m", "slo_page": "3m"}},
        "slo": {"turn_success_target": 0.995},
        "selectors": {"job": "agents"}})
    by = {(r["alert"], r["labels"]["severity"]): r for r in all_alert_rules(cfg)}
    assert by[(C.A_CRITICAL_LATENCY, "critical")]["expr"] == 'hermes:request_duration_p99:5m{job="agents"} > 99'
    assert by[(C.A_TOOL_ERROR_RATE, "warning")]["expr"] == (
        'hermes:tool_failure_ratio:5m{job="agents"} > 0.07\nand on (job, tool_name)\n'
        'hermes:tool_calls:rate5m{job="agents"} * 300 >= 11')
    assert by[(C.A_LLM_ERROR_RATE, "warning")]["expr"] == (
        'hermes:llm_error_ratio:5m{job="agents"} > 0.08\nand on (job, model)\n'
        'hermes:llm_requests:rate5m{job="agents"} * 300 >= 12')
    assert by[(C.A_COST_OVERRUN, "warning")]["expr"] == 'sum by (job) (hermes:cost_per_hour_usd{job="agents"}) > 77'
    assert by[(C.A_DAILY_COST_BUDGET, "warning")]["expr"] == 'hermes:cost_usd:increase24h{job="agents"} > 555'
    assert by[(C.A_DAILY_TOKEN_BUDGET, "warning")]["expr"] == 'hermes:tokens:increase24h{job="agents"} > 1234567'
    assert by[(C.A_TOKEN_SPIKE, "warning")]["expr"] == (
        'hermes:tokens:rate5m{job="agents"} > 3.5 * avg_over_time(hermes:tokens:rate5m{job="agents"}[1h])\n'
        'and on (job)\nhermes:tokens:rate5m{job="agents"} > 42')
    assert by[(C.A_TOKEN_SPIKE, "warning")]["for"] == "7m"
    assert by[(C.A_SESSIONS_NEAR_CAPACITY, "warning")]["expr"] == 'hermes:active_sessions:sum{job="agents"} / 16 > 0.7'
    assert by[(C.A_TASK_COMPLETION_LOW, "warning")]["expr"] == (
        'hermes:session_completion_ratio:1h{job="agents"} < 0.85\nand on (job)\n'
        'hermes:sessions:increase1h{job="agents"} >= 13')
    page = by[(C.A_TURN_ERROR_BUDGET_BURN, "critical")]
    assert page["for"] == "3m"
    assert "hermes:turn_errors:ratio_rate5m{job=\"agents\"} > (14.4 * (1 - 0.995))" in page["expr"]
    assert by[(C.A_INSTANCE_DOWN, "critical")]["expr"] == 'up{job="agents"} == 0'


def test_recording_rules_are_the_catalogues_and_keep_job():
    """Every recorded name is in the catalogue (the seed's three included) and every rule keeps `job`."""
    names = [r["record"] for g in recording_groups(DEFAULT) for r in g["rules"]]
    assert len(names) == len(set(names))
    expected = [r.name for r in C.RECORDING_RULES] + [
        C.slo_rule(sli, w).name for sli in C.SLIS for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")]
    assert names == expected
    assert slo_windows(DEFAULT) == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    for g in recording_groups(DEFAULT):
        for r in g["rules"]:
            assert f"by ({C.L_JOB}" in r["expr"], r["record"]


def test_promtool_check_rules_lint_fatal_passes():
    """The committed rule files pass `promtool check rules --lint-fatal`."""
    out = subprocess.run([require_tool("promtool"), "check", "rules", "--lint-fatal",
                          str(ROOT / "rules" / RECORDING_FILE), str(ROOT / "rules" / ALERTS_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 33 rules found" in out.stdout and "SUCCESS: 17 rules found" in out.stdout


# --- lint -----------------------------------------------------------------------------------------------

def test_hermes_dash_lint_passes_on_the_generated_files():
    """`hermes-dash lint` (what `make test` runs) exits 0 on rules/ and dashboards/."""
    r = cli("lint")
    assert (r.returncode, r.stderr) == (0, "")
    assert lint_paths([str(ROOT / "rules"), str(ROOT / "dashboards")]) == []


def _one_alert(**changes):
    rule = copy.deepcopy(next(r for r in all_alert_rules(DEFAULT) if r["alert"] == C.A_HIGH_LATENCY))
    for k, v in changes.items():
        section, _, key = k.partition("__")
        if key:
            if v is None:
                rule[section].pop(key)
            else:
                rule[section][key] = v
        elif v is None:
            rule.pop(section)
        else:
            rule[section] = v
    return {"groups": [{"name": "g", "rules": [rule]}]}


@pytest.mark.parametrize("changes, problem", [
    ({"alert": "hermes_high_latency"}, "alert name 'hermes_high_latency' is not CamelCase Hermes<Subject><Condition>"),
    ({"alert": "HighLatency"}, "alert name 'HighLatency' is not CamelCase Hermes<Subject><Condition>"),
    ({"labels__severity": "page"}, "labels.severity is 'page', not one of critical, warning, info"),
    ({"labels__team": None}, "labels.team is None, not one of platform, finance"),
    ({"labels__owner": "me"}, "label owner is not an alert label of the catalogue"),
    ({"for": None}, "no `for` duration"),
    ({"annotations__summary": "P95 is {{ $value }}"},
     "summary must be static (no template), got 'P95 is {{ $value }}'"),
    ({"annotations__description": "P95 is high"},
     "description should be templated ($labels / $value), got 'P95 is high'"),
    ({"annotations__runbook_url": None}, "no runbook_url annotation (an http(s) URL)"),
    ({"expr": "hermes_request_seconds > 30"}, "unknown metric hermes_request_seconds"),
    ({"expr": 'hermes:request_duration_p95:5m{endpoint="/run"} > 30'},
     "metric hermes:request_duration_p95:5m has no label endpoint"),
    ({"expr": "hermes:request_p95:5m > 30"}, "unknown metric hermes:request_p95:5m"),
    ({"expr": "sum(rate(hermes_tool_call_total[5m]) > 0"}, "does not parse"),
])
def test_lint_names_each_style_violation(changes, problem):
    """Each house-style rule and catalogue check produces its own message naming file, group and alert."""
    errors = lint_rule_groups(_one_alert(**changes), "x.yml")
    assert len(errors) == 1, errors
    assert errors[0].startswith("x.yml: group g: alert ")
    assert problem in errors[0]


def test_lint_rejects_a_recording_rule_outside_the_catalogue():
    """A recorded name the catalogue does not hold is reported."""
    data = {"groups": [{"name": "g", "rules": [{"record": "job:hermes_tools:rate5m",
                                                  "expr": "sum(rate(hermes_tool_call_total[5m]))"}]}]}
    assert lint_rule_groups(data, "x.yml") == [
        "x.yml: group g: record job:hermes_tools:rate5m: recording rule name is not in the catalogue"]


def test_lint_cli_fails_on_the_seed_rules(tmp_path):
    """`hermes-dash lint` on the seed chapter's alerts exits 1 and names what each one lacks."""
    r = cli("lint", str(SEED / "seed_alerts.yml"))
    assert r.returncode == 1
    for name in ("HermesHighLatency", "HermesCriticalLatency", "HermesToolErrorRate", "HermesInstanceDown",
                 "HermesCostOverrun", "HermesTokenSpike"):
        assert f"alert {name}: no runbook_url annotation" in r.stderr
    assert "alert HermesCriticalLatency: no description annotation" in r.stderr
    assert "alert HermesInstanceDown: labels.team is None" in r.stderr
    assert "alert HermesToolErrorRate: summary must be static" in r.stderr


# --- runbooks -------------------------------------------------------------------------------------------

def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_url_anchor_exists_in_runbook_md():
    """Each alert's runbook_url is the configured base plus an anchor of a RUNBOOK.md heading, and every
    alert heading has the four parts: means, causes, investigate, mitigate."""
    text = (ROOT / "RUNBOOK.md").read_text()
    sections = dict(re.findall(r"^## ([^\n]+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    anchors = {github_anchor(h): h for h in sections}
    for r in all_alert_rules(DEFAULT):
        url = r["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base == DEFAULT.alerting.runbook_url_base
        assert anchor in anchors, f"{r['alert']}: RUNBOOK.md has no heading for #{anchor}"
        body = sections[anchors[anchor]]
        for part in ("**Means:**", "**Likely causes:**", "**Investigate:**", "**Mitigate:**"):
            assert part in body, f"RUNBOOK.md ## {anchors[anchor]} lacks {part}"
    assert sorted(sections) == sorted(C.ALERT_NAMES)


def test_runbook_url_base_comes_from_the_config():
    """alerting.runbook_url_base changes every alert's runbook_url."""
    cfg = config_from_mapping({"alerting": {"runbook_url_base": "https://wiki.example.org/hermes"}})
    assert {r["annotations"]["runbook_url"] for r in all_alert_rules(cfg)} == {
        f"https://wiki.example.org/hermes#{n.lower()}" for n in C.ALERT_NAMES}


# --- promtool unit tests --------------------------------------------------------------------------------

def test_hand_written_promtool_tests_pass():
    """Every file in rule_tests/, seed_defects/ and regressions/ passes `promtool test rules`, in one call."""
    out = subprocess.run([require_tool("promtool"), "test", "rules", *map(str, HAND_WRITTEN)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(HAND_WRITTEN)


def _cases():
    for f in HAND_WRITTEN:
        data = yaml.safe_load(f.read_text())
        for t in data["tests"]:
            yield f, data, t


def test_rule_test_files_load_the_generated_rules_in_order():
    """Each hand-written file loads rules/ and evaluates recording groups before alert groups."""
    groups = [g["name"] for g in recording_groups(DEFAULT) + alert_groups(DEFAULT)]
    for f, data, _ in _cases():
        rel = os.path.relpath(ROOT / "rules", f.parent)
        assert data["rule_files"] == [f"{rel}/{RECORDING_FILE}", f"{rel}/{ALERTS_FILE}"], f
        assert data["group_eval_order"] == groups, f


def test_every_alert_has_a_firing_case_a_not_firing_case_and_a_for_boundary_pair():
    """For every alert: a case asserting all its labels and annotations, a case where it must not fire,
    and, within one test, an evaluation at `for` minus one interval with nothing firing followed by one
    with the alert firing."""
    firing, quiet, boundary = set(), set(), set()
    for f, data, t in _cases():
        step = duration_seconds(data["evaluation_interval"])
        by_alert = {}
        for a in t.get("alert_rule_test", []):
            by_alert.setdefault(a["alertname"], []).append(a)
            for exp in a["exp_alerts"]:
                assert {"severity", "team"} <= set(exp["exp_labels"]), (f, t["name"])
                assert set(exp["exp_annotations"]) == {"summary", "description", "runbook_url"}, (f, t["name"])
            if a["exp_alerts"]:
                firing.add(a["alertname"])
            elif "does not fire" in t["name"] and a["alertname"] in t["name"]:
                quiet.add(a["alertname"])
        for name, evals in by_alert.items():
            times = {duration_seconds(a["eval_time"]): a["exp_alerts"] for a in evals}
            for ts, exp in times.items():
                before = times.get(ts - step)
                if exp and before is not None and not [e for e in before
                                                       if e["exp_labels"] in [x["exp_labels"] for x in exp]]:
                    boundary.add(name)
    every = set(C.ALERT_NAMES)
    assert every - firing == set(), "no firing case"
    assert every - quiet == set(), "no not-firing case"
    assert every - boundary == set(), "no for: boundary pair"


def test_every_recording_rule_value_is_asserted():
    """Each recorded series (SLO windows included) appears in a promql_expr_test of the hand-written tests."""
    exprs = " ".join(p["expr"] for _, _, t in _cases() for p in t.get("promql_expr_test", []))
    names = [r["record"] for g in recording_groups(DEFAULT) for r in g["rules"]]
    missing = [n for n in names if not re.search(re.escape(n) + r"(?![\w:])", exprs)]
    assert missing == []


@pytest.mark.parametrize("path", SEED_DEFECTS, ids=lambda p: p.stem)
def test_seed_defect_case_fails_on_the_seeds_original_rules(tmp_path, path):
    """Each seed-defect case passes on rules/ (test_hand_written_promtool_tests_pass) and fails on the
    seed chapter's rules for the defect's reason: the alert that must fire does not, or the one that must
    stay quiet fires."""
    data = yaml.safe_load(path.read_text())
    data["rule_files"] = [str(SEED / "seed_recording_rules.yml"), str(SEED / "seed_alerts.yml")]
    del data["group_eval_order"]  # the seed's groups have other names
    on_seed = tmp_path / path.name
    on_seed.write_text(yaml.safe_dump(data))
    out = subprocess.run([require_tool("promtool"), "test", "rules", str(on_seed)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    must_fire = any(a["exp_alerts"] for t in data["tests"] for a in t["alert_rule_test"])
    report = re.sub(r"\s+", "", out.stderr)
    assert ("got:[]" in report) if must_fire else ("exp:[],got:[0:" in report), out.stderr


# --- deployment files -----------------------------------------------------------------------------------

def test_prometheus_config_passes_promtool_check_config():
    """deploy/prometheus/prometheus.yml is valid and loads both rule files."""
    out = subprocess.run([require_tool("promtool"), "check", "config", str(ROOT / "deploy" / PROMETHEUS_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 2 rule files found" in out.stdout
    data = yaml.safe_load((ROOT / "deploy" / PROMETHEUS_FILE).read_text())
    assert [s["job_name"] for s in data["scrape_configs"]] == [DEFAULT.selectors.job]


def test_alertmanager_config_passes_amtool_check_config():
    """deploy/alertmanager/alertmanager.yml is valid: 3 receivers, 4 inhibit rules."""
    out = subprocess.run([require_tool("amtool"), "check-config", str(ROOT / "deploy" / ALERTMANAGER_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " - 3 receivers" in out.stdout and " - 4 inhibit rules" in out.stdout


def _secret_values(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _secret_values(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _secret_values(v, f"{path}[{i}]")
    else:
        yield path, node


def test_alertmanager_reads_every_secret_from_a_file():
    """No secret field holds a value: Slack URLs and PagerDuty keys are *_file paths under secrets_dir."""
    data = yaml.safe_load((ROOT / "deploy" / ALERTMANAGER_FILE).read_text())
    leaves = dict(_secret_values(data))
    secret_keys = ("api_url", "slack_api_url", "routing_key", "service_key", "url", "http_config")
    assert [p for p in leaves if p.rsplit(".", 1)[-1] in secret_keys] == []
    files = {p: v for p, v in leaves.items() if p.endswith("_file")}
    assert sorted(files.values()) == ["/etc/alertmanager/secrets/pagerduty-routing-key",
                                      "/etc/alertmanager/secrets/slack-finance-webhook-url",
                                      "/etc/alertmanager/secrets/slack-platform-webhook-url"]


# what each severity/team pair must reach: written out here, not derived from deploy.py
ROUTES = {
    ("critical", "platform"): "pagerduty-critical,slack-platform",
    ("critical", "finance"): "pagerduty-critical,slack-finance",
    ("warning", "platform"): "slack-platform",
    ("warning", "finance"): "slack-finance",
    ("info", "platform"): "slack-platform",
    ("info", "finance"): "slack-finance",
}


def test_amtool_routes_every_alert_to_its_receivers():
    """`amtool config routes test --verify.receivers` passes for every generated alert with its labels."""
    amtool = require_tool("amtool")
    seen = set()
    for r in all_alert_rules(DEFAULT):
        labels = r["labels"]
        receivers = ROUTES[(labels["severity"], labels["team"])]
        args = [f"alertname={r['alert']}", f"job={DEFAULT.selectors.job}"] + [f"{k}={v}" for k, v in labels.items()]
        out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={AM_FILE}",
                              f"--verify.receivers={receivers}", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (r["alert"], labels, out.stdout + out.stderr)
        assert out.stdout.strip() == receivers
        seen.add(receivers)
    assert seen == {"pagerduty-critical,slack-platform", "slack-platform", "slack-finance"}


def test_amtool_catches_a_wrong_receiver():
    """The routing check can fail: a finance warning does not reach slack-platform."""
    out = subprocess.run([require_tool("amtool"), "config", "routes", "test",
                          f"--config.file={ROOT / 'deploy' / ALERTMANAGER_FILE}", "--verify.receivers=slack-platform",
                          "severity=warning", "team=finance"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines()[0] == "slack-finance"


def test_inhibition_on_a_live_alertmanager(tmp_path):
    """On a real Alertmanager: critical latency silences high latency, a page silences its ticket, a down
    instance silences that instance's alerts only, and no target at all silences per-instance down alerts."""
    from hermes_dash.servers import alertmanager
    cfg = config_from_mapping({"routing": {"secrets_dir": str(tmp_path)}})
    for name in ("pagerduty-routing-key", "slack-finance-webhook-url", "slack-platform-webhook-url"):
        (tmp_path / name).write_text("http://127.0.0.1:9/unused\n")
    am_cfg = alertmanager_config(cfg)
    am_cfg["global"]["pagerduty_url"] = "http://127.0.0.1:9/unused"  # never leave loopback
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(am_cfg))

    def alert(name, sev, team="platform", **labels):
        return {"labels": {"alertname": name, "severity": sev, "team": team, "job": "hermes-agent", **labels},
                "annotations": {"summary": name}}

    sent = {
        "crit-latency": alert(C.A_CRITICAL_LATENCY, "critical"),
        "high-latency": alert(C.A_HIGH_LATENCY, "warning"),
        "burn-page": alert(C.A_TURN_ERROR_BUDGET_BURN, "critical", slo="turn_errors"),
        "burn-ticket": alert(C.A_TURN_ERROR_BUDGET_BURN, "warning", slo="turn_errors"),
        "down-a": alert(C.A_INSTANCE_DOWN, "critical", instance="a:9464"),
        "capacity-a": alert(C.A_SESSIONS_NEAR_CAPACITY, "warning", instance="a:9464"),
        "capacity-b": alert(C.A_SESSIONS_NEAR_CAPACITY, "warning", instance="b:9464"),
        "tool-errors": alert(C.A_TOOL_ERROR_RATE, "warning", tool_name="web_search"),
        "cost": alert(C.A_COST_OVERRUN, "warning", team="finance"),
        "absent-other": alert(C.A_METRICS_ABSENT, "critical", job="other-agents"),
        "down-other": alert(C.A_INSTANCE_DOWN, "critical", job="other-agents", instance="c:9464"),
    }
    expected_inhibited = {"high-latency", "burn-ticket", "capacity-a", "down-other"}
    with alertmanager(str(path), str(tmp_path)) as am:
        assert am.post("/api/v2/alerts", list(sent.values())) == 200
        got = am.get("/api/v2/alerts")
    assert len(got) == len(sent)
    key = {tuple(sorted(a["labels"].items())): k for k, a in sent.items()}
    inhibited = {key[tuple(sorted(a["labels"].items()))] for a in got if a["status"]["inhibitedBy"]}
    assert inhibited == expected_inhibited
    states = {key[tuple(sorted(a["labels"].items()))]: a["status"]["state"] for a in got}
    assert {k for k, s in states.items() if s == "suppressed"} == expected_inhibited


def test_prometheus_rule_manifest_holds_the_same_groups():
    """The PrometheusRule manifest carries exactly the groups of the two rule files."""
    data = yaml.safe_load((ROOT / "deploy" / PROMETHEUS_RULE_FILE).read_text())
    assert (data["apiVersion"], data["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    files = [yaml.safe_load(t) for t in render_rule_files(DEFAULT).values()]
    assert data["spec"]["groups"] == [g for f in files for g in f["groups"]]
    assert data == prometheus_rule(DEFAULT)
