"""prometheus_client multiprocess mode: several worker processes, one /metrics, stale directories."""
import os
import subprocess
import sys
import textwrap

from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C
from hermes_dash.exporter import prepare_multiprocess_dir

WORKER = textwrap.dedent("""
    import sys
    from prometheus_client import CollectorRegistry
    from hermes_dash.exporter import prepare_multiprocess_dir
    from hermes_dash.instrumentation import HermesMetrics
    import os
    prepare_multiprocess_dir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    m = HermesMetrics(registry=CollectorRegistry())
    n, active = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(n):
        m.record_tool_call("terminal", "success", 0.1)
    for _ in range(active):
        m.session_started()
    if sys.argv[3] == "wait":
        sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
""")

COLLECT = textwrap.dedent("""
    import os
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    r = CollectorRegistry(); MultiProcessCollector(r, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    print(generate_latest(r).decode())
""")


def run(code, d, *args, **kw):
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(d))
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kw)


def scrape(d):
    out = run(COLLECT, d).communicate(timeout=30)[0]
    vals = {}
    for f in text_string_to_metric_families(out):
        for s in f.samples:
            vals[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return vals


def tool_success(vals):
    return vals.get((C.TOOL_CALLS.name, (("status", "success"), ("tool_name", "terminal"))))


def test_workers_sum_and_dead_workers_leave_the_gauge(tmp_path):
    """Counters sum over worker processes; the active gauge (livesum) counts live workers only."""
    a = run(WORKER, tmp_path, 3, 2, "wait")
    b = run(WORKER, tmp_path, 4, 1, "wait")
    assert a.stdout.readline() == b.stdout.readline() == "ready\n"
    vals = scrape(tmp_path)
    assert tool_success(vals) == 7
    assert vals[(C.ACTIVE_SESSIONS.name, ())] == 3
    b.communicate("\n", timeout=30)
    # what a gateway does when a worker exits (prometheus_client's documented child_exit hook)
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(b.pid, str(tmp_path))
    vals = scrape(tmp_path)
    assert tool_success(vals) == 7           # the dead worker's counts stay: no counter goes back
    assert vals[(C.ACTIVE_SESSIONS.name, ())] == 2
    a.communicate("\n", timeout=30)


def test_stale_directory_from_a_previous_run(tmp_path):
    """A directory left by a crashed run whose pid is reused does not leak its gauge into the new run,
    and its counters are kept aside, so the summed counter never decreases."""
    old = run(WORKER, tmp_path, 5, 4, "exit")
    old.communicate(timeout=30)
    assert scrape(tmp_path)[(C.ACTIVE_SESSIONS.name, ())] == 4  # a crash: no mark_process_dead
    # simulate pid reuse: this test process takes the old pid's files as its own
    for f in os.listdir(tmp_path):
        if f.endswith(f"_{old.pid}.db"):
            os.rename(tmp_path / f, tmp_path / f.replace(f"_{old.pid}.db", f"_{os.getpid()}.db"))
    prepare_multiprocess_dir(str(tmp_path))
    vals = scrape(tmp_path)
    assert (C.ACTIVE_SESSIONS.name, ()) not in vals  # no live process reports a gauge
    assert tool_success(vals) == 5
    assert sorted(os.listdir(tmp_path)) == [".hermes-dash.lock", f"counter_{os.getpid()}-stale0.db",
                                            f"histogram_{os.getpid()}-stale0.db"]
    new = run(WORKER, tmp_path, 2, 1, "exit")
    new.communicate(timeout=30)
    assert tool_success(scrape(tmp_path)) == 7
