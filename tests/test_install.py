"""`pip install hermes-dash` without extras gives a working plugin: a wheel built from the source, installed
into a fresh virtualenv, registers its hooks, records a turn and serves it on /metrics, importing nothing of
the generators or the test harness; it exports the dashboards, rules and deploy files it carries; a
command that needs an extra says which."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

# Run inside the fresh venv: the plugin as Hermes loads it (entry point), with a stand-in for Hermes' ctx.
PROBE = textwrap.dedent("""
    import importlib.metadata, json, socket, sys, urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    import os; os.environ["HERMES_DASH_METRICS_ADDR"] = f"127.0.0.1:{port}"
    ep, = [e for e in importlib.metadata.entry_points(group="hermes_agent.plugins") if e.name == "hermes_dash"]
    plugin = ep.load()
    hooks = {}
    class Ctx:
        def register_hook(self, name, fn): hooks[name] = fn
    plugin.register(Ctx())
    hooks["pre_llm_call"](session_id="s1")
    hooks["on_session_end"](session_id="s1", completed=True, interrupted=False)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    line = [l for l in body.splitlines() if l.startswith('hermes_request_duration_seconds_count{status="success"}')]
    missing = []
    for mod in ("grafanalib", "promql_parser", "jsonschema", "hypothesis"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    print(json.dumps({"hooks": sorted(hooks), "line": line, "missing": missing,
                      "loaded": sorted(m for m in sys.modules if m.startswith("hermes_dash"))}))
""")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtualenv with hermes-dash installed from a wheel built from a copy of the source (the
    package's links to dashboards/, rules/ and deploy/ followed), no extras."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "hermes_dash", src / "hermes_dash", ignore=shutil.ignore_patterns("__pycache__"))
    quiet = ["--quiet", "--disable-pip-version-check"]
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", "-w", str(tmp / "dist"),
                          str(src)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    wheel, = (tmp / "dist").glob("hermes_dash-*.whl")
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    out = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", *quiet, str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return env_dir


def test_the_plugin_runs_without_extras(venv):
    """The entry point loads, registers every hook, serves a recorded turn, and imports only the runtime."""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE], capture_output=True, text=True,
                         timeout=60, cwd=venv)
    assert out.returncode == 0, out.stderr
    import json
    got = json.loads(out.stdout)
    assert got["hooks"] == sorted(["on_session_start", "pre_llm_call", "pre_api_request", "post_api_request",
                                   "api_request_error", "post_tool_call", "on_session_end",
                                   "on_session_finalize", "on_session_reset"])
    assert got["line"] == ['hermes_request_duration_seconds_count{status="success"} 1.0']
    assert got["missing"] == ["grafanalib", "promql_parser", "jsonschema", "hypothesis"]
    assert got["loaded"] == ["hermes_dash", "hermes_dash.catalogue", "hermes_dash.config", "hermes_dash.daemon",
                             "hermes_dash.exporter", "hermes_dash.instrumentation", "hermes_dash.plugin",
                             "hermes_dash.store"]


def test_a_command_that_needs_an_extra_names_it(venv, tmp_path):
    """`hermes-dash build` without the build extra exits 2 with the pip line to run, and writes nothing."""
    out = subprocess.run([str(venv / "bin" / "hermes-dash"), "build", "--root", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "HERMES_DASH_CONFIG": ""})
    assert out.returncode == 2
    assert out.stderr.strip() == ("hermes-dash build: needs the `build` extra (missing module grafanalib): "
                                  "pip install 'hermes-dash[build]'")
    assert list(tmp_path.iterdir()) == []


def test_the_wheel_exports_the_dashboards_rules_and_deploy_files(venv, tmp_path):
    """`hermes-dash export DIR` from the wheel, no extras, writes exactly the repository's generated files
    (the default config) and deploy/'s hand-written examples (systemd unit, container), byte for byte."""
    out = subprocess.run([str(venv / "bin" / "hermes-dash"), "export", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    written = {p.relative_to(tmp_path / "x").as_posix(): p.read_text() for p in (tmp_path / "x").rglob("*")
               if p.is_file()}
    committed = {p.relative_to(ROOT).as_posix(): p.read_text() for d in ("dashboards", "rules", "deploy")
                 for p in (ROOT / d).rglob("*")
                 if p.is_file() and (p.suffix in (".json", ".yml", ".service") or p.name == "Containerfile")}
    assert written == committed
    assert {"deploy/systemd/hermes-dash.service", "deploy/container/Containerfile",
            "deploy/container/compose.yml"} <= set(written)
    assert len([p for p in written if p.startswith("dashboards/")]) == len(list((ROOT / "dashboards").glob("*.json")))

