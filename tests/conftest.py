import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hermes_dash.build.rules import RECORDING_FILE
from hermes_dash.config import DEFAULT, Instrumentation, Price
from hermes_dash.harness.e2e import HISTORY_FLEET, HISTORY_PORTS, history_faults
from hermes_dash.harness.history import backfill_recording_rules, write_history
from hermes_dash.harness.servers import prometheus
from hermes_dash.harness.simulate import Fleet
from hermes_dash.instrumentation import HermesMetrics

#: the repository
ROOT = Path(__file__).resolve().parent.parent

# Hermes' home for every test and the processes they start: an empty one, so a `hermes-dash serve` marker in
# the real ~/.hermes never decides where a test's metrics go (tests that want a daemon make their own home).
import os as _os  # noqa: E402
import tempfile as _tempfile  # noqa: E402
_os.environ["HERMES_HOME"] = _tempfile.mkdtemp(prefix="hermes-home-")


def cli(*args, cwd=ROOT, timeout=120, env=None):
    """Run `hermes-dash ARGS` (python -m hermes_dash.cli) as a user would; the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "hermes_dash.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def sample_sum(registry, name, **labels):
    """The sum of every sample `name` whose labels include `labels` (a label left out is summed over, as
    PromQL's sum without it would), or None when no sample matches."""
    found = [s.value for m in registry.collect() for s in m.samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found) if found else None


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


#: the backfilled history's length: every dashboard's default range is now-6h
HISTORY_HOURS = 6


@pytest.fixture(scope="session")
def history(tmp_path_factory):
    """Six hours and ten minutes of a 3-agent fleet (a tool outage, LLM rate limiting, a cost surge and a
    crash along the way) backfilled into a TSDB with the recording rules, served by a real Prometheus."""
    require_tool("promtool")
    work = tmp_path_factory.mktemp("history")
    data = work / "data"
    end = time.time() // 60 * 60
    start = end - HISTORY_HOURS * 3600 - 600
    # the fleet and faults harness.e2e names, so the scale-out tests load the same history elsewhere
    fleet = Fleet(HISTORY_FLEET, ports=HISTORY_PORTS)
    write_history(fleet, start, end, 60, str(data), DEFAULT.selectors.job, faults_at=history_faults(end))
    cfg = work / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n")
    backfill_recording_rules(start, end, [str(ROOT / "rules" / RECORDING_FILE)], str(data), str(work))
    with prometheus(str(cfg), str(work), data_dir=str(data)) as prom:  # loads the rule blocks
        yield prom, end


def as_user(uid, fn, *args):
    """fn(*args) in a forked child running as `uid` (no exec: the interpreter may live where that user
    cannot read); the repr of its return value, or the text of the exception it raised."""
    import os
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            try:
                out = repr(fn(*args))
            except Exception as e:
                out = str(e)
            os.write(w, out.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return text
