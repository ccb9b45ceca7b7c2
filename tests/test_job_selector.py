"""selectors.job end to end: the rules select exactly the jobs that deploy/prometheus/prometheus.yml scrapes,
whatever characters the names hold, as promtool evaluates them."""
import json

import pytest
import yaml

from hermes_dash.build import generated_files, write_all
from hermes_dash.build.deploy import PROMETHEUS_FILE
from hermes_dash.build.rules import ALERTS_FILE, RECORDING_FILE
from hermes_dash.config import config_from_mapping

from conftest import require_tool


def series(metric, job, **labels):
    """A promtool series selector; json.dumps quotes the values (PromQL strings share its escapes)."""
    body = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in {"job": job, **labels}.items())
    return f"{metric}{{{body}}}"


def run_promtool(tmp_path, job_setting, present_jobs, expected_jobs):
    """Build for `job_setting`, give promtool token and `up` series for every job in `present_jobs` (named as
    prometheus.yml names the first job), and expect the job's recorded token rate and HermesInstanceDown
    for exactly `expected_jobs`."""
    import subprocess
    cfg = config_from_mapping({"selectors": {"job": job_setting}})
    files = generated_files(cfg, ("rules", "deploy"))
    write_all(str(tmp_path), files)
    scraped = yaml.safe_load(files[f"deploy/{PROMETHEUS_FILE}"])["scrape_configs"][0]["job_name"]
    assert scraped == cfg.selectors.jobs[0]
    jobs = [scraped] + [j for j in present_jobs if j != scraped]
    test = {
        "rule_files": [str(tmp_path / "rules" / RECORDING_FILE), str(tmp_path / "rules" / ALERTS_FILE)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [s for j in jobs for s in (
                {"series": series("hermes_tokens_total", j, instance="i:1", model="m", token_type="input"),
                 "values": "0+60x10"},
                {"series": series("up", j, instance="i:1"), "values": "0x10"})],
            "promql_expr_test": [
                {"expr": "hermes:tokens:rate5m", "eval_time": "10m",
                 "exp_samples": [{"labels": series("hermes:tokens:rate5m", j), "value": 1} for j in expected_jobs]},
                {"expr": 'count by (job) (ALERTS{alertname="HermesInstanceDown", alertstate="firing"})',
                 "eval_time": "10m",
                 "exp_samples": [{"labels": "{job=%s}" % json.dumps(j, ensure_ascii=False), "value": 1}
                                 for j in expected_jobs]},
            ]}]}
    path = tmp_path / "job_test.yml"
    path.write_text(yaml.safe_dump(test, allow_unicode=True))
    r = subprocess.run([require_tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True,
                       timeout=60)
    return r


@pytest.mark.parametrize("job", ["x\\\\", "x\\", "hermes-agent", "a.b+c", "é-agent"])
def test_rules_select_the_job_prometheus_scrapes(tmp_path, job):
    """For job names with backslashes (two, one trailing), regex characters or non-ASCII letters, the rules
    select the job label Prometheus gives the scraped series, and only it (a neighbour differing by one
    backslash stays out)."""
    neighbour = job + "\\" if not job.endswith("\\\\") else job[:-1]
    r = run_promtool(tmp_path, job, [job, neighbour], [job])
    assert r.returncode == 0, r.stdout + r.stderr


def test_several_jobs_select_exactly_those_names(tmp_path):
    """`a.b|c+d|x\\` selects those three names literally: aXb, cd, ccd and x\\\\ are left out."""
    r = run_promtool(tmp_path, "a.b|c+d|x\\", ["a.b", "aXb", "c+d", "cd", "ccd", "x\\", "x\\\\"], ["a.b", "c+d", "x\\"])
    assert r.returncode == 0, r.stdout + r.stderr
