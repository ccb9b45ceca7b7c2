# Isolate Hermes for the whole test process, before anything imports it, and never undo it: Hermes'
# atexit handlers call get_hermes_home() at interpreter exit. Settings keep Hermes off the network.
import os
import tempfile
from pathlib import Path

import pytest

from hermes_dash.harness.hermes import hermes_config, stub_llm
from hermes_dash.harness.servers import free_port

_home = Path(tempfile.mkdtemp(prefix="hermes-home-"))
(_home / "config.yaml").write_text(hermes_config())
(_home / "hermes-dash.yml").write_text("""\
instrumentation:
  session_idle_timeout_seconds: 0   # the Python API never finalizes: one conversation, one session
""")
METRICS_PORT = free_port()
os.environ.update(HERMES_HOME=str(_home), HERMES_DISABLE_LAZY_INSTALLS="1",
                  HERMES_DASH_CONFIG=str(_home / "hermes-dash.yml"),
                  HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{METRICS_PORT}")


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    """A stub LLM of this test module's own (its script and failures are module state): its base URL."""
    with stub_llm(str(tmp_path_factory.mktemp("stub"))) as base:
        yield base
