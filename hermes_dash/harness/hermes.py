"""Running the plugin as Hermes runs it, for the tests and benchmarks: the real `hermes` against the stub
LLM (its config, the stub server), or the plugin alone in a plain process doing one turn of a one-shot run.

    with stub_llm(workdir) as base:               # stub_llm.py on 127.0.0.1: an OpenAI-compatible stub
        control(base, script="serial")            # its script, failures, usage (see stub_llm.py)
        (home / "config.yaml").write_text(hermes_config(base))
    hooks = register_plugin()                     # as Hermes' plugin loader does
    one_turn(hooks, "s1")                         # one turn: one LLM call, one tool call

Needs nothing beyond the runtime (the `hermes` extra's venv runs it); never imports Hermes.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterable, Iterator, Optional

#: the stub LLM, run as a script (stdlib only)
STUB_LLM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub_llm.py")
#: the usage one_turn reports, and the tokens it is counted as
ONE_TURN_USAGE = {"prompt_tokens": 10, "output_tokens": 2}


@contextlib.contextmanager
def stub_llm(directory: str) -> Iterator[str]:
    """stub_llm.py on 127.0.0.1 (it writes its port into `directory`/port); yields its base URL and stops it
    afterwards."""
    pf = os.path.join(directory, "port")
    proc = subprocess.Popen([sys.executable, STUB_LLM, pf])
    try:
        for _ in range(200):
            if os.path.exists(pf):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"stub_llm.py exited with {proc.returncode}")
            time.sleep(0.05)
        else:
            raise RuntimeError("stub_llm.py did not start within 10 s")
        with open(pf, encoding="utf-8") as f:
            yield f"http://127.0.0.1:{f.read()}"
    finally:
        proc.terminate()
        proc.wait(10)


def control(base: str, **kw: Any) -> None:
    """POST /_control to the stub: mode, fail_count, delay, usage, script."""
    urllib.request.urlopen(urllib.request.Request(f"{base}/_control", json.dumps(kw).encode()), timeout=10).read()


def hermes_config(base_url: Optional[str] = None, plugins: Iterable[str] = ("hermes_dash",)) -> str:
    """$HERMES_HOME/config.yaml for the real Hermes, offline: the stub's model (at `base_url`, when the
    Hermes command should reach it; Python API callers pass their own), one attempt per LLM call, no lazy
    installs or downloads, and `plugins` enabled."""
    endpoint = f"""\
  provider: custom
  base_url: {base_url}/v1
  api_key: dummy
""" if base_url else ""
    return f"""\
model:
  default: stub-model
{endpoint}  context_length: 128000      # skip context-length probes
agent:
  api_max_retries: 1          # a single attempt: no jittered backoff
security:
  allow_lazy_installs: false  # else Hermes pip-installs extras into the venv
  tirith_enabled: false       # else a background download is attempted
plugins:
  enabled: [{", ".join(plugins)}]      # entry-point plugins are opt-in
"""


def register_plugin() -> Any:
    """Load the plugin as Hermes' plugin loader does (its entry point, with a context that takes the
    hooks) and return its hooks."""
    from .. import plugin

    class _Context:
        def register_hook(self, name: str, fn: Any) -> None:
            pass
    plugin.register(_Context())
    return plugin._STATE["hooks"]


def one_turn(hooks: Any, session_id: str) -> None:
    """One turn as Hermes 0.19's hooks report it: the session starts (platform cli), one LLM call of model
    `m` from provider `p` answering with ONE_TURN_USAGE, one `terminal` tool call, the turn ends."""
    hooks.on_session_start(session_id=session_id, model="m", platform="cli")
    hooks.pre_llm_call(session_id=session_id, model="m", platform="cli")
    hooks.pre_api_request(session_id=session_id, api_request_id="a", model="m", provider="p")
    hooks.post_api_request(session_id=session_id, api_request_id="a", model="m", provider="p",
                           finish_reason="stop", usage=dict(ONE_TURN_USAGE))
    hooks.post_tool_call(tool_name="terminal", duration_ms=5, status="ok")
    hooks.on_session_end(session_id=session_id, completed=True, interrupted=False)
