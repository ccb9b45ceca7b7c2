import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hermes_dash.config import Instrumentation, Price
from hermes_dash.instrumentation import HermesMetrics

#: the repository
ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT, timeout=120, env=None):
    """Run `hermes-dash ARGS` (python -m hermes_dash.cli) as a user would; the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "hermes_dash.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def metrics(registry):
    cfg = Instrumentation(max_label_values=8,
                          prices={"hermes-3-8b": Price(prompt=2e-7, completion=2e-7),
                                  "hermes-3-70b": Price(prompt=9e-7, completion=9e-7)})
    return HermesMetrics(registry=registry, config=cfg)


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `make system-deps` (Debian package prometheus / "
                    f"prometheus-alertmanager)")
    return path
