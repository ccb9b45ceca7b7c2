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
