"""The generated recording and alert rules: every contract alert, every number from the config,
recording rules from the catalogue, and promtool's own lint."""
import re
import subprocess

from hermes_dash import catalogue as C
from hermes_dash.build.rules import ALERTS_FILE, RECORDING_FILE, Recording, all_alert_rules, recording_groups
from hermes_dash.build.rules.slo import slo_windows
from hermes_dash.config import DEFAULT, config_from_mapping

from conftest import ROOT, cli, require_tool


def promtool_test(path, test: dict) -> None:
    """Write one `promtool test rules` file and run it: every case passes."""
    import yaml
    path.write_text(yaml.safe_dump(test))
    out = subprocess.run([require_tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_contract_alert_is_generated_with_its_severity_and_team():
    """Each alert of the catalogue is generated, with the severity and team that route it as designed."""
    expected = {
        C.A_HIGH_LATENCY: {("warning", "platform")}, C.A_CRITICAL_LATENCY: {("critical", "platform")},
        C.A_STEP_LATENCY: {("warning", "platform")},
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
        got.setdefault(r.name, set()).add((r.severity, r.team))
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
    by = {(r.name, r.severity): r for r in all_alert_rules(cfg)}
    assert by[(C.A_CRITICAL_LATENCY, "critical")].expr == 'hermes:request_duration_p99:5m{job="agents"} > 99'
    assert by[(C.A_TOOL_ERROR_RATE, "warning")].expr == (
        'hermes:tool_failure_ratio:5m{job="agents"} > 0.07\nand on (job, tool_name)\n'
        'hermes:tool_calls:rate5m{job="agents"} * 300 >= 11')
    assert by[(C.A_LLM_ERROR_RATE, "warning")].expr == (
        'hermes:llm_error_ratio:5m{job="agents"} > 0.08\nand on (job, model)\n'
        'hermes:llm_requests:rate5m{job="agents"} * 300 >= 12')
    assert by[(C.A_COST_OVERRUN, "warning")].expr == 'sum by (job) (hermes:cost_per_hour_usd{job="agents"}) > 77'
    assert by[(C.A_DAILY_COST_BUDGET, "warning")].expr == 'hermes:cost_usd:increase24h{job="agents"} > 555'
    assert by[(C.A_DAILY_TOKEN_BUDGET, "warning")].expr == 'hermes:tokens:increase24h{job="agents"} > 1234567'
    assert by[(C.A_TOKEN_SPIKE, "warning")].expr == (
        'hermes:tokens:rate5m{job="agents"} > 3.5 * avg_over_time(hermes:tokens:rate5m{job="agents"}[1h])\n'
        'and on (job)\nhermes:tokens:rate5m{job="agents"} > 42')
    assert by[(C.A_TOKEN_SPIKE, "warning")].for_ == "7m"
    assert by[(C.A_SESSIONS_NEAR_CAPACITY, "warning")].expr == 'hermes:active_sessions:sum{job="agents"} / 16 > 0.7'
    assert by[(C.A_TASK_COMPLETION_LOW, "warning")].expr == (
        'hermes:session_completion_ratio:1h{job="agents"} < 0.85\nand on (job)\n'
        'hermes:sessions:increase1h{job="agents"} >= 13')
    page = by[(C.A_TURN_ERROR_BUDGET_BURN, "critical")]
    assert page.for_ == "3m"
    assert "hermes:turn_errors:ratio_rate5m{job=\"agents\"} > (14.4 * (1 - 0.995))" in page.expr
    assert by[(C.A_INSTANCE_DOWN, "critical")].expr == 'up{job="agents"} == 0'


def test_recording_rules_are_the_catalogues_and_keep_job():
    """Every recorded name is in the catalogue (the seed's three included) and every rule keeps `job`."""
    names = [r.rule.name for g in recording_groups(DEFAULT) for r in g.rules]
    assert len(names) == len(set(names))
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    expected = [r.name for r in C.RECORDING_RULES] + [
        C.slo_rule(sli, w).name for sli in C.SLIS for w in windows] + [
        C.slo_component_rate(k).name for k in C.SLO_COMPONENTS] + [
        C.slo_component_increase(k, w).name for k in C.SLO_COMPONENTS for w in windows + ("30d",)]
    assert names == expected
    assert slo_windows(DEFAULT) == windows
    for g in recording_groups(DEFAULT):
        for r in g.rules:
            assert isinstance(r, Recording)
            # an aggregation keeps job; a sum over time of a recorded series keeps that series' labels
            inner = re.fullmatch(r"sum_over_time\(([\w:]+)\{.*", r.expr)
            assert f"by ({C.L_JOB}" in r.expr or C.L_JOB in C.recording_rule(inner.group(1)).labels, r.rule.name
            assert C.L_JOB in r.rule.labels


def test_promtool_check_rules_lint_fatal_passes():
    """The committed rule files pass `promtool check rules --lint-fatal`."""
    out = subprocess.run([require_tool("promtool"), "check", "rules", "--lint-fatal",
                          str(ROOT / "rules" / RECORDING_FILE), str(ROOT / "rules" / ALERTS_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 76 rules found" in out.stdout and "SUCCESS: 18 rules found" in out.stdout


def test_several_jobs_are_alerted_on_separately(tmp_path):
    """selectors.job naming two jobs (production and staging): the rules select both and keep `job`, so a
    tool failing in production fires for production only, and staging having no target at all fires
    HermesMetricsAbsent for staging only (promtool, on the rules generated from that config)."""
    from hermes_dash.build import generated_files, write_all
    cfg = config_from_mapping({"selectors": {"job": "hermes-production|hermes-staging"}})
    write_all(str(tmp_path), generated_files(cfg, ("rules",)))
    calls = 'hermes_tool_call_total{{job="{job}", instance="a:9464", tool_name="web_search", status="{status}"}}'
    series = [(calls.format(job="hermes-production", status="success"), "0+5x20"),
              (calls.format(job="hermes-production", status="error"), "0+5x20"),
              (calls.format(job="hermes-other", status="error"), "0+5x20"),  # not selected
              ('up{job="hermes-production", instance="a:9464"}', "1x20")]
    test = {"rule_files": [str(tmp_path / "rules" / RECORDING_FILE), str(tmp_path / "rules" / ALERTS_FILE)],
            "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
                       "alert_rule_test": [
                           {"eval_time": "15m", "alertname": C.A_TOOL_ERROR_RATE, "exp_alerts": [{
                               "exp_labels": {"severity": "warning", "team": "platform", "job": "hermes-production",
                                              "tool_name": "web_search"},
                               "exp_annotations": {
                                   "summary": "A Hermes tool fails more than 5% of its calls",
                                   "description": "50% of calls to tool web_search (job hermes-production) did not "
                                                  "succeed over the last 5m: errors, timeouts, cancellations and "
                                                  "blocks (threshold 5%).",
                                   "runbook_url": f"{cfg.alerting.runbook_url_base}#hermestoolerrorrate"}}]},
                           {"eval_time": "15m", "alertname": C.A_METRICS_ABSENT, "exp_alerts": [{
                               "exp_labels": {"severity": "critical", "team": "platform", "job": "hermes-staging"},
                               "exp_annotations": {
                                   "summary": "No Hermes agent is being scraped",
                                   "description": "No target of job hermes-staging has been scraped successfully for "
                                                  "5m: every agent is down, or service discovery finds none. Every "
                                                  "other Hermes alert is blind until this is fixed.",
                                   "runbook_url": f"{cfg.alerting.runbook_url_base}#hermesmetricsabsent"}}]}]}]}
    promtool_test(tmp_path / "two_jobs.yml", test)


def test_the_cluster_label_is_kept_and_each_cluster_is_alerted_on_separately(tmp_path):
    """selectors.cluster_label: cluster makes every aggregation keep `cluster` (promtool: a tool failing in
    one cluster fires for that cluster only; a cluster whose agents are all down fires HermesMetricsAbsent
    for it only), and `hermes-dash lint --config` accepts the generated files."""
    from hermes_dash.build import generated_files, write_all
    cfg_file = tmp_path / "hermes-dash.yml"
    cfg_file.write_text("selectors:\n  cluster_label: cluster\n")
    cfg = config_from_mapping({"selectors": {"cluster_label": "cluster"}})
    write_all(str(tmp_path), generated_files(cfg))
    for g in recording_groups(cfg):
        for r in g.rules:
            assert "by (cluster, job" in r.expr or r.expr.startswith("sum_over_time("), r.rule.name
    calls = 'hermes_tool_call_total{{cluster="{c}", job="hermes-agent", instance="a:9464", tool_name="web_search", ' \
            'status="{s}"}}'
    series = [(calls.format(c="eu", s="success"), "0+5x20"), (calls.format(c="eu", s="error"), "0+5x20"),
              (calls.format(c="us", s="success"), "0+10x20"), (calls.format(c="us", s="error"), "0x20"),
              ('up{cluster="eu", job="hermes-agent", instance="a:9464"}', "1x20"),
              ('up{cluster="us", job="hermes-agent", instance="a:9464"}', "0x20")]
    labels = {"severity": "warning", "team": "platform", "job": "hermes-agent"}
    test = {"rule_files": [str(tmp_path / "rules" / RECORDING_FILE), str(tmp_path / "rules" / ALERTS_FILE)],
            "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
                       "promql_expr_test": [{"expr": "hermes:tool_failure_ratio:5m", "eval_time": "15m",
                                             "exp_samples": [
                                                 {"labels": 'hermes:tool_failure_ratio:5m{cluster="eu", '
                                                            'job="hermes-agent", tool_name="web_search"}',
                                                  "value": 0.5},
                                                 {"labels": 'hermes:tool_failure_ratio:5m{cluster="us", '
                                                            'job="hermes-agent", tool_name="web_search"}',
                                                  "value": 0}]}],
                       "alert_rule_test": [
                           {"eval_time": "15m", "alertname": C.A_TOOL_ERROR_RATE, "exp_alerts": [{
                               "exp_labels": {**labels, "cluster": "eu", "tool_name": "web_search"},
                               "exp_annotations": {
                                   "summary": "A Hermes tool fails more than 5% of its calls",
                                   "description": "50% of calls to tool web_search (job hermes-agent) did not "
                                                  "succeed over the last 5m: errors, timeouts, cancellations and "
                                                  "blocks (threshold 5%).",
                                   "runbook_url": f"{cfg.alerting.runbook_url_base}#hermestoolerrorrate"}}]},
                           {"eval_time": "15m", "alertname": C.A_METRICS_ABSENT, "exp_alerts": [{
                               "exp_labels": {**labels, "severity": "critical", "cluster": "us"},
                               "exp_annotations": {
                                   "summary": "No Hermes agent is being scraped",
                                   "description": "No target of job hermes-agent has been scraped successfully for "
                                                  "5m: every agent is down, or service discovery finds none. Every "
                                                  "other Hermes alert is blind until this is fixed.",
                                   "runbook_url": f"{cfg.alerting.runbook_url_base}#hermesmetricsabsent"}}]}]}]}
    promtool_test(tmp_path / "clusters.yml", test)
    r = cli("lint", "--config", str(cfg_file), str(tmp_path / "rules"), str(tmp_path / "dashboards"))
    assert (r.returncode, r.stderr) == (0, "")


def test_slo_windows_of_any_length_are_written_as_compound_durations(tmp_path):
    """Each window rule sums the 5m rates over the window less 1 ms, written largest unit first (a 1y
    period as 364d23h59m59s999ms: raw milliseconds beyond 2**32 overflow the lint's PromQL parser), and
    promtool accepts the file."""
    import promql_parser
    import yaml
    from hermes_dash.build import generated_files
    from hermes_dash.build.promql import duration
    assert [duration(ms) for ms in (1, 1000, 299_999, 2_591_999_999, 31_535_999_999, 86_400_000)] == \
        ["1ms", "1s", "4m59s999ms", "29d23h59m59s999ms", "364d23h59m59s999ms", "1d"]
    cfg = config_from_mapping({"slo": {"period": "1y"}})
    text = generated_files(cfg)[f"rules/{RECORDING_FILE}"]
    windows = {r["record"]: r["expr"] for g in yaml.safe_load(text)["groups"] for r in g["rules"]
               if ":increase" in r["record"]}
    assert windows["hermes_instance:slo_turns:increase1y"] == \
        'sum_over_time(hermes_instance:slo_turns:rate5m{job="hermes-agent"}[364d23h59m59s999ms:5m]) * 300'
    for expr in windows.values():
        promql_parser.parse(expr)
    path = tmp_path / RECORDING_FILE
    path.write_text(text)
    out = subprocess.run([require_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
