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


# -- faults: damaged files, poisonous label values on disk, dead workers, takeover ------------------------
import json
import logging
import signal
import struct
import time
import urllib.request

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from hermes_dash.exporter import MULTIPROC_ENV, serve
from hermes_dash.harness.servers import free_port

from conftest import require_tool

HELP = C.TOOL_CALLS.help


def write_counter_file(path, tool, value, status="success"):
    """A counter file as prometheus_client writes it (the key JSON-escapes a lone surrogate)."""
    d = MmapedDict(str(path))
    d.write_value(mmap_key(C.TOOL_CALLS.base_name, C.TOOL_CALLS.name, [C.L_TOOL, C.L_STATUS], [tool, status], HELP),
                  value, 0.0)
    d.close()


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def scrape_served(monkeypatch, d):
    """GET /metrics of a real exporter (127.0.0.1, free port) in multiprocess mode over `d`."""
    monkeypatch.setenv(MULTIPROC_ENV, str(d))
    server, _ = serve(CollectorRegistry(), "127.0.0.1:0")
    try:
        return get(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def tool_value(vals, tool, status="success"):
    return vals.get((C.TOOL_CALLS.name, (("status", status), ("tool_name", tool))))


def test_surrogate_on_disk_from_an_older_version_is_served_sanitised(tmp_path, monkeypatch):
    """A counter file holding a tool name with a lone surrogate (written before label values were
    sanitised) no longer takes /metrics down: the value is served as U+FFFD, promtool accepts it, the
    healthy file's counts are served too, and nothing is set aside."""
    write_counter_file(tmp_path / "counter_1000001.db", json.loads('"web\\ud83d"'), 3)
    write_counter_file(tmp_path / "counter_1000002.db", "terminal", 5)
    status, text = scrape_served(monkeypatch, tmp_path)
    assert status == 200
    vals = samples(text)
    assert (tool_value(vals, "web\ufffd"), tool_value(vals, "terminal")) == (3, 5)
    out = subprocess.run([require_tool("promtool"), "check", "metrics"], input=text.encode(), capture_output=True,
                         timeout=30)
    assert (out.returncode, out.stdout + out.stderr) == (0, b"")
    assert sorted(os.listdir(tmp_path)) == [".hermes-dash.lock", "counter_1000001.db", "counter_1000002.db"]


SURROGATE_WORKER = textwrap.dedent("""
    import json, os
    from prometheus_client import CollectorRegistry
    from hermes_dash.instrumentation import HermesMetrics
    m = HermesMetrics(registry=CollectorRegistry())
    m.record_tool_call(json.loads('"web\\\\ud83d"'), "success", 0.1)
""")


def test_surrogate_tool_name_in_a_worker_never_reaches_disk(tmp_path):
    """A worker given a tool name with a lone surrogate writes the sanitised name to its counter file, so
    even prometheus_client's own collector (no hermes-dash at the reading end) exposes it after a restart."""
    assert run(SURROGATE_WORKER, tmp_path).wait(timeout=30) == 0
    vals = scrape(tmp_path)  # prometheus_client's MultiProcessCollector, generate_latest
    assert tool_value(vals, "web\ufffd") == 1


def test_huge_label_value_on_disk_is_served_truncated(tmp_path, monkeypatch):
    """A 1 MiB tool name in an old counter file is served at the length bound, not as a 1 MiB line."""
    write_counter_file(tmp_path / "counter_1000001.db", "t" * (1 << 20), 2)
    status, text = scrape_served(monkeypatch, tmp_path)
    assert status == 200
    [(key, value)] = [(k, val) for k, val in samples(text).items() if k[0] == C.TOOL_CALLS.name]
    assert (len(dict(key[1])[C.L_TOOL]), value) == (128, 2)


def test_damaged_files_are_set_aside_and_healthy_ones_served(tmp_path, monkeypatch, caplog):
    """An empty file, a truncated file, a file of garbage and one whose key is not JSON are each renamed
    to *.db.damaged with one log line; /metrics answers 200 with the healthy file's counts, and a second
    scrape logs nothing more."""
    write_counter_file(tmp_path / "counter_1000001.db", "terminal", 5)
    (tmp_path / "counter_1000002.db").write_bytes(b"")
    old = time.time() - 3600
    os.utime(tmp_path / "counter_1000002.db", (old, old))
    write_counter_file(tmp_path / "histogram_1000003.db", "web", 1)
    full = (tmp_path / "histogram_1000003.db").read_bytes()
    used = struct.unpack_from("i", full)[0]
    (tmp_path / "histogram_1000003.db").write_bytes(full[: used // 2])
    (tmp_path / "counter_1000004.db").write_bytes(struct.pack("i", 64) + b"\xff" * 60)
    key = b"[not json"
    (tmp_path / "counter_1000005.db").write_bytes(
        struct.pack("ii", 8 + 4 + 12 + 16, 0) + struct.pack("i", len(key)) + key.ljust(12) + struct.pack("dd", 1, 0))
    with caplog.at_level(logging.WARNING, logger="hermes_dash"):
        status, text = scrape_served(monkeypatch, tmp_path)
        assert status == 200
        assert tool_value(samples(text), "terminal") == 5
        assert sorted(os.listdir(tmp_path)) == [".hermes-dash.lock", "counter_1000001.db", "counter_1000002.db.damaged",
                                                "counter_1000004.db.damaged", "counter_1000005.db.damaged",
                                                "histogram_1000003.db.damaged"]
        assert len([r for r in caplog.records if "damaged" in r.getMessage()]) == 4
        status, text = scrape_served(monkeypatch, tmp_path)
        assert (status, tool_value(samples(text), "terminal")) == (200, 5)
        assert len([r for r in caplog.records if "damaged" in r.getMessage()]) == 4


def test_a_key_of_deeply_nested_json_is_set_aside(tmp_path, monkeypatch):
    """A key of 100,000 nested brackets (json.loads raises RecursionError, not ValueError) sets its file
    aside instead of failing the scrape."""
    write_counter_file(tmp_path / "counter_1000001.db", "terminal", 5)
    key = b"[" * 100_000
    pad = 8 - (len(key) + 4) % 8
    (tmp_path / "counter_1000002.db").write_bytes(
        struct.pack("ii", 8 + 4 + len(key) + pad + 16, 0) + struct.pack("i", len(key)) + key + b" " * pad
        + struct.pack("dd", 1, 0))
    status, text = scrape_served(monkeypatch, tmp_path)
    assert (status, tool_value(samples(text), "terminal")) == (200, 5)
    assert sorted(os.listdir(tmp_path)) == [".hermes-dash.lock", "counter_1000001.db", "counter_1000002.db.damaged"]


def test_a_file_being_created_is_not_set_aside(tmp_path, monkeypatch):
    """An empty file modified a moment ago (a worker between creating and sizing it) is skipped, not
    renamed: it becomes a healthy file a moment later."""
    write_counter_file(tmp_path / "counter_1000001.db", "terminal", 5)
    (tmp_path / "counter_1000002.db").write_bytes(b"")
    status, text = scrape_served(monkeypatch, tmp_path)
    assert (status, tool_value(samples(text), "terminal")) == (200, 5)
    assert sorted(os.listdir(tmp_path)) == [".hermes-dash.lock", "counter_1000001.db", "counter_1000002.db"]


def test_killed_worker_leaves_the_active_gauge(tmp_path, monkeypatch):
    """A worker killed with SIGKILL (no mark_process_dead) stops counting in hermes_active_sessions at the
    next scrape; its counters stay."""
    a = run(WORKER, tmp_path, 3, 2, "wait")
    b = run(WORKER, tmp_path, 4, 1, "wait")
    assert a.stdout.readline() == b.stdout.readline() == "ready\n"
    a.kill()
    a.wait(timeout=30)
    status, text = scrape_served(monkeypatch, tmp_path)
    vals = samples(text)
    assert (status, vals[(C.ACTIVE_SESSIONS.name, ())], tool_success(vals)) == (200, 1, 7)
    b.communicate("\n", timeout=30)


PLUGIN_WORKER = textwrap.dedent("""
    import sys
    from hermes_dash import plugin
    class Ctx:
        def register_hook(self, name, fn):
            pass
    plugin.register(Ctx())
    hooks = plugin._STATE["hooks"]
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "tools":
            for _ in range(int(arg)):
                hooks.post_tool_call(tool_name="terminal", duration_ms=5, status="ok")
        elif cmd == "turn":
            hooks.pre_llm_call(session_id=arg, model="m", platform="cli")
            hooks.on_session_end(session_id=arg, completed=True, interrupted=False)
        elif cmd == "open":
            hooks.pre_llm_call(session_id=arg, model="m", platform="cli")
        print("ok", flush=True)
""")


def plugin_worker(d, port, cfg):
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(d), HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{port}",
               HERMES_DASH_CONFIG=str(cfg))
    return subprocess.Popen([sys.executable, "-c", PLUGIN_WORKER], env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def ask(p, line):
    p.stdin.write(line + "\n")
    p.stdin.flush()
    return p.stdout.readline().strip()


def poll(url, ok, seconds):
    """Scrape `url` until ok(samples) holds or `seconds` pass; the last (status, samples)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, text = get(url, timeout=2)
            last = (status, samples(text) if status == 200 else {})
        except OSError:
            last = (None, {})
        if last[0] == 200 and ok(last[1]) or time.monotonic() > deadline:
            return last
        time.sleep(0.1)


def config_file(tmp_path, **inst):
    p = tmp_path / "hermes-dash.yml"
    lines = ["exporter:", "  bind_retry_seconds: 0.2", "instrumentation:"] + \
        [f"  {k}: {v}" for k, v in inst.items()]
    p.write_text("\n".join(lines) + "\n")
    return p


def test_another_worker_takes_over_metrics_when_the_server_dies(tmp_path):
    """Two plugin workers share one port: the second retries binding; after the serving one is killed,
    /metrics answers again within 10 s, served by the survivor, with both workers' counters."""
    d, cfg, port = tmp_path / "mp", config_file(tmp_path, sweep_interval_seconds=0.2), free_port()
    d.mkdir()
    url = f"http://127.0.0.1:{port}/metrics"
    a = plugin_worker(d, port, cfg)
    b = None
    try:
        assert ask(a, "tools 3") == "ok"
        assert tool_success(poll(url, lambda v: tool_success(v) == 3, 10)[1]) == 3  # a serves
        b = plugin_worker(d, port, cfg)
        assert ask(b, "tools 4") == "ok"
        assert tool_success(poll(url, lambda v: tool_success(v) == 7, 10)[1]) == 7
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        started = time.monotonic()
        status, vals = poll(url, lambda v: tool_success(v) == 7, 10)
        assert (status, tool_success(vals)) == (200, 7)  # only b is left to serve
        assert time.monotonic() - started < 10
        assert ask(b, "tools 1") == "ok"
        assert tool_success(poll(url, lambda v: tool_success(v) == 8, 10)[1]) == 8
    finally:
        for p in (a, b):
            if p is not None:
                p.kill()
                p.wait(timeout=30)


def test_every_worker_sweeps_its_own_idle_sessions(tmp_path):
    """A worker that does not serve /metrics still finishes its idle sessions and expires its lost turns
    on its own timer: the serving worker's scrape shows them within 10 s."""
    d = tmp_path / "mp"
    d.mkdir()
    cfg = config_file(tmp_path, sweep_interval_seconds=0.2, session_idle_timeout_seconds=0.5,
                      turn_max_age_seconds=0.5)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    a = plugin_worker(d, port, cfg)
    b = None
    try:
        assert ask(a, "tools 1") == "ok"
        assert tool_success(poll(url, lambda v: tool_success(v) == 1, 10)[1]) == 1  # a serves
        b = plugin_worker(d, port, cfg)
        assert ask(b, "turn s1") == "ok"
        assert ask(b, "open s2") == "ok"
        done = (C.SESSIONS.name, (("outcome", "completed"), ("platform", "cli")))
        lost = (C.SESSIONS.name, (("outcome", "abandoned"), ("platform", "cli")))
        status, vals = poll(url, lambda v: v.get(done) == 1 and v.get(lost) == 1 and v.get((C.ACTIVE_SESSIONS.name, ())) == 0,
                            10)
        assert (status, vals.get(done), vals.get(lost), vals.get((C.ACTIVE_SESSIONS.name, ()))) == (200, 1, 1, 0)
    finally:
        for p in (a, b):
            if p is not None:
                p.kill()
                p.wait(timeout=30)
