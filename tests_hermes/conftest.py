# Isolate Hermes for the whole test process, before anything imports it, and never undo it: Hermes'
# atexit handlers call get_hermes_home() at interpreter exit. Settings keep Hermes off the network.
import os
import socket
import tempfile
from pathlib import Path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_home = Path(tempfile.mkdtemp(prefix="hermes-home-"))
(_home / "config.yaml").write_text("""\
model:
  default: stub-model
  context_length: 128000      # skip context-length probes
agent:
  api_max_retries: 1          # a single attempt: no jittered backoff
security:
  allow_lazy_installs: false  # else Hermes pip-installs extras into the venv
  tirith_enabled: false       # else a background download is attempted
plugins:
  enabled: [hermes_dash]      # entry-point plugins are opt-in
""")
(_home / "hermes-dash.yml").write_text("""\
instrumentation:
  session_idle_timeout_seconds: 0   # the Python API never finalizes: one conversation, one session
""")
METRICS_PORT = _free_port()
os.environ.update(HERMES_HOME=str(_home), HERMES_DISABLE_LAZY_INSTALLS="1",
                  HERMES_DASH_CONFIG=str(_home / "hermes-dash.yml"),
                  HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{METRICS_PORT}")


# -- the scripted LLM stub (stub_llm.py), shared by the test modules ----------------------------------
import contextlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import pytest  # noqa: E402

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def stub_llm(directory):
    """stub_llm.py on 127.0.0.1 (it writes its port into `directory`/port); yields its base URL and
    stops it afterwards."""
    pf = Path(directory) / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "stub_llm.py"), str(pf)])
    try:
        for _ in range(200):
            if pf.exists():
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("stub_llm.py did not start within 10 s")
        yield f"http://127.0.0.1:{pf.read_text()}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    """A stub LLM of this test module's own (its script and failures are module state)."""
    with stub_llm(tmp_path_factory.mktemp("stub")) as base:
        yield base


def control(base, **kw):
    """POST /_control to the stub: mode, fail_count, delay, usage, script."""
    urllib.request.urlopen(urllib.request.Request(f"{base}/_control", json.dumps(kw).encode()), timeout=10).read()
