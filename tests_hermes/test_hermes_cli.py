"""The real `hermes` command (hermes-agent 0.19.0) reporting to `hermes-dash serve`, scraped by a real
Prometheus: one-shot (`hermes -z`) and single-query (`hermes chat -q`) runs, one after another, five at
once, failing ones, and a daemon restart in between, counted exactly."""
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from hermes_dash import catalogue as C
from hermes_dash import daemon as D
from hermes_dash import store
from hermes_dash.harness.hermes import control, hermes_config, stub_llm
from hermes_dash.harness.servers import free_port, prometheus

HERMES = str(Path(sys.executable).parent / "hermes")
SEQUENTIAL, CONCURRENT, FAILING = 20, 5, 2
RUNS = SEQUENTIAL + CONCURRENT
#: the stub's serial script: three tools, one per answer, then the final answer
CALLS_PER_RUN, TOOLS_PER_RUN = 4, 3
# Hermes' own price of one stub call, by token type: 101 uncached prompt tokens at 1 µ$, 10 cache reads at
# 0.5 µ$, 22 completion tokens at 2 µ$
CALL_COST = {"prompt": 101e-6, "cache_read": 5e-6, "completion": 44e-6}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    with stub_llm(str(tmp_path_factory.mktemp("stub"))) as base:
        control(base, script="serial")
        yield from _with_stub(work, base)


def _with_stub(work, base):
    home = work / "hermes-home"
    home.mkdir()
    (home / "config.yaml").write_text(hermes_config(base))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_DASH_", "PROMETHEUS_MULTIPROC"))}
    env.update(HERMES_HOME=str(home), HERMES_DISABLE_LAZY_INSTALLS="1")
    port = free_port()
    prom_cfg = work / "prometheus.yml"
    prom_cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hermes-agent\n"
                        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    with prometheus(str(prom_cfg), str(work)) as prom:
        yield {"stub": base, "home": home, "env": env, "port": port, "prom": prom, "work": work}


def serve(s):
    """Start `hermes-dash serve` for the Hermes home; the process, once /metrics answers."""
    p = subprocess.Popen([sys.executable, "-m", "hermes_dash.cli", "serve", "--home", str(s["home"]), "--address",
                          f"127.0.0.1:{s['port']}", "--compact-interval", "1"], env=s["env"], cwd=s["work"],
                         stdout=subprocess.DEVNULL, stderr=open(s["work"] / "serve.log", "ab"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert p.poll() is None, (s["work"] / "serve.log").read_text()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{s['port']}/metrics", timeout=2).read()
            return p
        except OSError:
            time.sleep(0.05)
    raise AssertionError("hermes-dash serve did not start")


def hermes(s, how, i):
    argv = [HERMES, "-z", f"hello {i}"] if how == "z" else [HERMES, "chat", "-q", f"hello {i}"]
    return subprocess.Popen(argv, env=s["env"], cwd=s["work"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(p):
    out, _ = p.communicate(timeout=180)
    return p.returncode, out


def query(prom, expr):
    data = prom.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert data["status"] == "success", data
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in data["data"]["result"]}


def scalar(prom, expr):
    got = query(prom, expr)
    assert len(got) == 1, (expr, got)
    return next(iter(got.values()))


def test_every_run_is_counted_exactly_in_prometheus(setup):
    """20 runs one after another (`hermes -z` and `hermes chat -q` in turn; the daemon restarted after the
    tenth and down during the eleventh), 5 at once, and 2 whose LLM call fails: Prometheus, scraping
    `hermes-dash serve`, holds exactly every turn, step, token, dollar, tool call and session by outcome;
    no counter ever went backwards; the directory ends as the archive alone."""
    s = setup
    daemon = serve(s)
    try:
        for i in range(SEQUENTIAL):
            if i == 10:  # a restart: stopped, one run while it is down, started again
                daemon.send_signal(signal.SIGTERM)
                assert daemon.wait(30) == 0
            rc, out = finish(hermes(s, "z" if i % 2 == 0 else "q", i))
            assert rc == 0 and "All done" in out, out
            if i == 10:
                daemon = serve(s)
        procs = [hermes(s, "z" if i % 2 == 0 else "q", 100 + i) for i in range(CONCURRENT)]
        for p in procs:
            rc, out = finish(p)
            assert rc == 0 and "All done" in out, out
        control(s["stub"], mode="500")
        try:
            failed = [finish(hermes(s, how, 200 + i)) for i, how in enumerate(("z", "q"))]
        finally:
            control(s["stub"], mode="ok")
        assert all("HTTP 500" in out or "500" in out for _, out in failed), failed
        prom = s["prom"]
        deadline = time.monotonic() + 60
        while scalar(prom, f"sum({C.SESSIONS.name})") != RUNS + FAILING:
            assert time.monotonic() < deadline, query(prom, C.SESSIONS.name)
            time.sleep(0.5)
        time.sleep(2)  # two more scrapes: nothing arrives late
        sessions = {(json.loads(k)["outcome"], json.loads(k)["platform"]): v
                    for k, v in query(prom, C.SESSIONS.name).items()}
        assert sessions == {("completed", "cli"): RUNS, ("failed", "cli"): FAILING, ("interrupted", "cli"): 0,
                            ("abandoned", "cli"): 0}
        turns = query(prom, f"sum by (status) ({C.TURN_DURATION.name}_count)")
        assert {json.loads(k)["status"]: v for k, v in turns.items()} == {"success": RUNS, "error": FAILING,
                                                                          "interrupted": 0}
        steps = query(prom, f"sum by (step_type) ({C.STEP_DURATION.name}_count)")
        assert {json.loads(k)["step_type"]: v for k, v in steps.items()} == {
            "tool_use": RUNS * TOOLS_PER_RUN, "answer": RUNS, "error": FAILING}
        assert scalar(prom, f"sum({C.LLM_REQUESTS.name})") == RUNS * CALLS_PER_RUN + FAILING
        assert scalar(prom, f'sum({C.LLM_ERRORS.name}{{error_type="api_error"}})') == FAILING
        # usage {prompt_tokens: 111 with 10 cached, completion_tokens: 22} per call
        tokens = {json.loads(k)["token_type"]: v for k, v in query(prom, f"sum by (token_type) ({C.TOKENS.name})").items()}
        assert tokens == {"prompt": RUNS * CALLS_PER_RUN * 101, "cache_read": RUNS * CALLS_PER_RUN * 10,
                          "completion": RUNS * CALLS_PER_RUN * 22, "cache_write": 0, "reasoning": 0}
        turns = {json.loads(k)["platform"]: v for k, v in query(prom, f"sum by (platform) ({C.TURNS.name})").items()}
        assert turns == {"cli": RUNS + FAILING}
        for token_type, usd in CALL_COST.items():
            own = 0.0
            for _ in range(CALLS_PER_RUN):  # what each process's own counter holds
                own += usd
            assert scalar(prom, f'{C.COST.name}{{model="stub-model",provider="custom",token_type="{token_type}"}}') \
                == math.fsum([own] * RUNS), token_type
        tools = {(json.loads(k)["tool_name"], json.loads(k)["status"]): v
                 for k, v in query(prom, f"{C.TOOL_CALLS.name} > 0").items()}
        assert tools == {("todo", "success"): RUNS, ("read_file", "success"): RUNS, ("read_file", "error"): RUNS}
        # steps per session count answered LLM calls (post_api_request); a failed attempt is a step of its own
        assert scalar(prom, f"sum({C.SESSION_STEPS.name}_sum)") == RUNS * CALLS_PER_RUN
        assert scalar(prom, C.ACTIVE_SESSIONS.name) == 0
        assert scalar(prom, f"sum({C.HOOK_ERRORS.name})") == 0
        # never backwards: no counter or histogram series reset while the runs came and went
        for spec in C.METRICS:
            for name in (spec.sample_names if spec.type == C.HISTOGRAM else (spec.name,) if spec.type == C.COUNTER
                         else ()):
                assert query(prom, f"sum(resets({name}[10m])) > 0") == {}, name
        directory = D.default_directory(str(s["home"]))
        deadline = time.monotonic() + 30
        while sorted(os.listdir(directory)) != [store.DAEMON_LOCK, store.LOCK, store.ARCHIVE]:
            assert time.monotonic() < deadline, sorted(os.listdir(directory))
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
