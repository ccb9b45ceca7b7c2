"""`hermes-dash serve` and the plugin's choice of mode: one-shot runs counted exactly by one long-lived
exporter, a daemon restart, two daemons, stale markers, unsafe directories, a damaged archive."""
import contextlib
import fcntl
import json
import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C
from hermes_dash import daemon as D
from hermes_dash import store
from hermes_dash.harness.hermes import ONE_TURN_USAGE
from hermes_dash.harness.servers import free_port

from conftest import ROOT, as_user

PRICE = {"prompt": 1e-6, "completion": 2e-6}
#: what one run (harness.hermes.one_turn: 10 prompt tokens, 2 completion tokens) costs, by token type
RUN_COST = {"prompt": ONE_TURN_USAGE["prompt_tokens"] * PRICE["prompt"],
            "completion": ONE_TURN_USAGE["output_tokens"] * PRICE["completion"]}

# One `hermes -z` run as the plugin sees it: registered, one turn (one LLM call, one tool call), then
# os._exit right after on_session_end, as Hermes' one-shot path exits. Prints the plugin's mode first.
RUN = textwrap.dedent("""
    import json, os, sys, urllib.request
    sys.argv = ["hermes"] + sys.argv[1:]
    from hermes_dash import plugin
    from hermes_dash.harness.hermes import one_turn, register_plugin
    one_turn(register_plugin(), f"s{os.getpid()}")
    mode = plugin._STATE["mode"]
    own = None
    server = plugin._STATE.get("server")
    if server is not None and server.serving:
        own = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10).read().decode()
    print(json.dumps({"kind": mode.kind, "serve": mode.serve, "own": own}), flush=True)
    os._exit(0)
""")


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "hermes-home"
    h.mkdir()
    cfg = tmp_path / "hermes-dash.yml"
    cfg.write_text("instrumentation:\n  prices:\n    m: {prompt: %.6f, completion: %.6f}\n"
                   "exporter:\n  daemon_grace_seconds: 60\n" % (PRICE["prompt"], PRICE["completion"]))
    return h


def env_for(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_DASH_", "PROMETHEUS_MULTIPROC"))}
    env.update(HERMES_HOME=str(home), HERMES_DASH_CONFIG=str(home.parent / "hermes-dash.yml"), **extra)
    return env


def run(home, *argv, **extra):
    """One one-shot run of the plugin in its own process; what it printed (its mode, its own /metrics)."""
    out = subprocess.run([sys.executable, "-c", RUN, "-z", "hi", *argv], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env=env_for(home, HERMES_DASH_METRICS_ADDR=f"127.0.0.1:{free_port()}",
                                                           **extra))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


class Served:
    def __init__(self, proc, port, home):
        self.proc, self.port, self.home = proc, port, home
        self.url = f"http://127.0.0.1:{port}/metrics"

    def scrape(self):
        status, text = get(self.url)
        assert status == 200, text
        return samples(text)


def start(home, port=None, *extra):
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hermes_dash.cli", "serve", "--home", str(home), "--address",
                             f"127.0.0.1:{port}", "--compact-interval", "0.2", *extra], cwd=ROOT, env=env_for(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, None
        try:
            if os.path.exists(D.marker_path(str(home))) and get(f"http://127.0.0.1:{port}/metrics")[0] == 200:
                return proc, Served(proc, port, home)
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("hermes-dash serve did not start:\n" + proc.communicate()[1])


@contextlib.contextmanager
def serving(home, *extra):
    proc, served = start(home, None, *extra)
    assert served is not None, proc.communicate()[1]
    try:
        yield served
    finally:
        stop(proc)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def value(vals, metric, **labels):
    return vals.get((metric, tuple(sorted(labels.items()))))


def wait_compacted(directory, seconds=20):
    """Until only the archive and the lock files are left in `directory` (the daemon compacts every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while sorted(os.listdir(directory)) != [store.DAEMON_LOCK, store.LOCK, store.ARCHIVE]:
        assert time.monotonic() < deadline, sorted(os.listdir(directory))
        time.sleep(0.05)


def test_one_shot_runs_are_counted_exactly_by_the_daemon(home):
    """Twelve one-shot runs (three at a time), each gone by os._exit right after its turn, are all served
    by the daemon: turns, steps, tokens, cost (to the bit), tool calls and sessions; no run binds a port;
    the directory is compacted down to the archive."""
    with serving(home) as d:
        procs = []
        for i in range(12):
            procs.append(subprocess.Popen([sys.executable, "-c", RUN, "-z", "hi"], cwd=ROOT, env=env_for(home),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            if len(procs) % 3 == 0:
                for p in procs[-3:]:
                    out, err = p.communicate(timeout=60)
                    assert p.returncode == 0, err
                    assert json.loads(out) == {"kind": "daemon", "serve": False, "own": None}
        directory = D.default_directory(str(home))
        wait_compacted(directory)
        v = d.scrape()
        assert value(v, C.TURN_DURATION.name + "_count", status="success") == 12
        assert value(v, C.STEP_DURATION.name + "_count", model="m", step_type="answer") == 12
        assert value(v, C.TOKENS.name, model="m", token_type="prompt") == 120
        assert value(v, C.TOKENS.name, model="m", token_type="completion") == 24
        for token_type, usd in RUN_COST.items():
            assert value(v, C.COST.name, model="m", provider="p", token_type=token_type) == math.fsum([usd] * 12)
        assert value(v, C.TOOL_CALLS.name, tool_name="terminal", status="success") == 12
        assert value(v, C.SESSIONS.name, outcome="completed", platform="cli") == 12
        assert value(v, C.SESSION_STEPS.name + "_sum") == 12
        assert value(v, C.ACTIVE_SESSIONS.name) == 0
        assert sum(value(v, C.HOOK_ERRORS.name, hook=h) for h in C.HERMES_HOOKS) == 0


def test_counters_survive_a_daemon_restart_and_runs_while_it_is_down(home):
    """Runs before a restart, while the daemon is down (its marker younger than the grace period: the
    runs write into its directory) and after it are all counted; no counter goes backwards across it."""
    with serving(home) as d:
        for _ in range(3):
            assert run(home)["kind"] == "daemon"
        wait_compacted(D.default_directory(str(home)))
        first = value(d.scrape(), C.TOOL_CALLS.name, tool_name="terminal", status="success")
    assert first == 3
    assert d.proc.returncode == 0
    for _ in range(2):
        assert run(home) == {"kind": "daemon", "serve": False, "own": None}
    with serving(home) as d2:
        assert value(d2.scrape(), C.TOOL_CALLS.name, tool_name="terminal", status="success") == 5
        assert run(home)["kind"] == "daemon"
        wait_compacted(D.default_directory(str(home)))
        v = d2.scrape()
        assert value(v, C.TOOL_CALLS.name, tool_name="terminal", status="success") == 6
        assert value(v, C.SESSIONS.name, outcome="completed", platform="cli") == 6


def test_a_stale_marker_is_ignored(home):
    """The marker of a daemon that stopped longer ago than the grace period is stale: a run keeps its
    metrics to itself, serves them on its own /metrics, and writes nothing into the old directory."""
    with serving(home):
        pass
    directory = D.default_directory(str(home))
    old = time.time() - 61
    os.utime(D.marker_path(str(home)), (old, old))
    before = sorted(os.listdir(directory))
    got = run(home)
    assert (got["kind"], got["serve"]) == ("single", True)
    assert value(samples(got["own"]), C.SESSIONS.name, outcome="completed", platform="cli") == 1
    assert sorted(os.listdir(directory)) == before


def test_a_second_daemon_is_refused(home, tmp_path):
    """A second `hermes-dash serve` on the same directory, or for the same Hermes home with another
    directory, exits 1 naming the first; the first keeps serving and counting."""
    with serving(home) as d:
        directory = D.default_directory(str(home))
        proc, served = start(home)
        assert served is None
        assert (proc.returncode, proc.stderr.read().strip()) == (
            1, f"hermes-dash serve: {directory}: already served by another hermes-dash serve (pid {d.proc.pid})")
        other = tmp_path / "other"
        proc, served = start(home, None, "--dir", str(other))
        assert served is None
        assert (proc.returncode, proc.stderr.read().strip()) == (
            1, f"hermes-dash serve: {D.marker_path(str(home))}: Hermes in {home} already reports to another "
               f"hermes-dash serve (pid {d.proc.pid}, directory {directory})")
        run(home)
        wait_compacted(directory)
        assert value(d.scrape(), C.SESSIONS.name, outcome="completed", platform="cli") == 1


@pytest.mark.parametrize("unsafe", ["world-writable", "symlink", "a file"])
def test_the_daemon_refuses_an_unsafe_directory(home, tmp_path, unsafe):
    """A world-writable directory, a symlink and a file are refused with exit 2 naming the path; no
    marker is written and the path is left as it was."""
    target = tmp_path / "metrics"
    if unsafe == "world-writable":
        target.mkdir()
        os.chmod(target, 0o777)
        message = f"{target}: writable by others (mode 0777); run `chmod go-w {target}`"
    elif unsafe == "symlink":
        real = tmp_path / "real"
        real.mkdir(mode=0o700)
        target.symlink_to(real)
        message = f"{target}: is a symlink; name the real directory ({real}) instead"
    else:
        target.write_text("")
        message = f"{target}: not a directory"
    before = sorted(os.listdir(tmp_path))
    proc, served = start(home, None, "--dir", str(target))
    assert served is None
    assert (proc.returncode, proc.stderr.read().strip()) == (2, f"hermes-dash serve: {message}")
    assert not os.path.exists(D.marker_path(str(home)))
    assert sorted(os.listdir(tmp_path)) == before
    if unsafe != "a file":
        assert os.listdir(target) == []


def test_a_damaged_archive_stops_the_daemon_from_starting(home):
    """A truncated archive: `hermes-dash serve` exits 2 naming it and saying how to start from zero; it
    serves nothing, writes no marker and changes no file of the directory."""
    with serving(home):
        run(home)
        wait_compacted(D.default_directory(str(home)))
    os.unlink(D.marker_path(str(home)))
    directory = D.default_directory(str(home))
    archive = os.path.join(directory, store.ARCHIVE)
    with open(archive, "rb+") as f:
        f.truncate(os.path.getsize(archive) - 10)
    snapshot = {n: open(os.path.join(directory, n), "rb").read() for n in os.listdir(directory)}
    proc, served = start(home)
    assert served is None
    err = proc.stderr.read().strip()
    assert proc.returncode == 2
    assert err.startswith(f"hermes-dash serve: {archive}: checksum mismatch")
    assert err.endswith(f"Nothing was served or changed. To start again from zero (every counter restarts), move "
                        f"{archive} aside.")
    assert not os.path.exists(D.marker_path(str(home)))
    assert {n: open(os.path.join(directory, n), "rb").read() for n in os.listdir(directory)} == snapshot


def test_a_damaged_archive_fails_scrapes_of_a_running_daemon(home):
    """When the archive of a running daemon is damaged, /metrics answers 500 rather than totals without
    it (every counter would seem to reset); restored, it serves the same totals again."""
    with serving(home) as d:
        run(home)
        wait_compacted(D.default_directory(str(home)))
        archive = os.path.join(D.default_directory(str(home)), store.ARCHIVE)
        good = open(archive, "rb").read()
        before = d.scrape()
        with open(archive, "wb") as f:
            f.write(good[:-3])
        assert get(d.url)[0] == 500
        with open(archive, "wb") as f:
            f.write(good)
        done = dict(outcome="completed", platform="cli")
        assert value(d.scrape(), C.SESSIONS.name, **done) == value(before, C.SESSIONS.name, **done) == 1


def test_a_bad_address_is_refused(home):
    """`hermes-dash serve --address` that is not HOST:PORT exits 2 naming it; nothing is created."""
    out = subprocess.run([sys.executable, "-m", "hermes_dash.cli", "serve", "--home", str(home), "--address", "nope"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=env_for(home))
    assert out.returncode == 2
    assert out.stderr.startswith("hermes-dash serve: --address 'nope': ")
    assert os.listdir(home) == []


# -- the plugin's decision order (in this process: plugin_mode only reads) -----------------------------
def write_marker(home, directory, mtime=None, mode=0o644):
    os.makedirs(D.state_dir(str(home)), exist_ok=True)
    path = D.marker_path(str(home))
    with open(path, "w") as f:
        json.dump({"version": 1, "directory": str(directory), "address": "127.0.0.1:1", "pid": 4_999_999}, f)
    os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@contextlib.contextmanager
def daemon_lock_held(directory):
    fd = store.open_lock_file(str(directory), store.DAEMON_LOCK)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def test_the_decision_order(tmp_path, caplog):
    """PROMETHEUS_MULTIPROC_DIR first (serving unless a daemon serves that directory), then
    HERMES_DASH_MODE=single, then a trusted marker of a running or recently stopped daemon; anything
    else (no marker, a stale or untrusted one, an unsafe directory) keeps the metrics in the process."""
    home = tmp_path / "home"
    good = tmp_path / "good"
    good.mkdir(mode=0o700)
    env = {"HERMES_HOME": str(home)}
    now = time.time()
    mode = lambda **kw: D.plugin_mode({**env, **kw}, grace_seconds=60, now=now)  # noqa: E731
    assert mode() == D.Mode("single", reason=f"no daemon marker at {D.marker_path(str(home))}")
    assert mode(PROMETHEUS_MULTIPROC_DIR=str(good)) == D.Mode("multiprocess", str(good), True,
                                                              f"PROMETHEUS_MULTIPROC_DIR={good}")
    write_marker(home, good, mtime=now)
    with daemon_lock_held(good):
        assert mode().kind == "daemon" and mode().serve is False
        assert mode(PROMETHEUS_MULTIPROC_DIR=str(good)).serve is False
        assert mode(HERMES_DASH_MODE="single") == D.Mode("single", reason="HERMES_DASH_MODE=single")
        with caplog.at_level(logging.WARNING, logger="hermes_dash"):
            assert mode(HERMES_DASH_MODE="bogus").kind == "daemon"
        assert "HERMES_DASH_MODE='bogus' is not one of auto, single; using auto" in caplog.text
    assert mode() == D.Mode("daemon", str(good), False, f"hermes-dash serve stopped 0 s ago: writing to {good}")
    write_marker(home, good, mtime=now - 61)
    assert mode() == D.Mode("single", reason="stale marker: last seen 61 s ago")
    link = tmp_path / "link"
    link.symlink_to(good)
    world = tmp_path / "world"
    world.mkdir()
    os.chmod(world, 0o777)
    for directory, why in ((link, f"{link}: is a symlink; name the real directory ({good}) instead"),
                           (world, f"{world}: writable by others (mode 0777); run `chmod go-w {world}`"),
                           ("relative", "'relative': the metrics directory must be an absolute path")):
        write_marker(home, directory, mtime=now)
        assert mode().kind == "single", directory
    os.chmod(D.marker_path(str(home)), 0o666)
    assert mode() == D.Mode("single", reason=f"untrusted marker: {D.marker_path(str(home))}: writable by others "
                                             "(mode 0666)")
    os.unlink(D.marker_path(str(home)))
    os.symlink(tmp_path / "elsewhere.json", D.marker_path(str(home)))
    assert mode() == D.Mode("single", reason=f"untrusted marker: {D.marker_path(str(home))}: is a symlink")
    os.unlink(D.marker_path(str(home)))
    with open(D.marker_path(str(home)), "w") as f:
        f.write('{"version": 1}')
    assert mode().reason == (f"untrusted marker: {D.marker_path(str(home))}: not a hermes-dash daemon marker "
                             "(version 1: directory, address, pid)")


def test_a_marker_naming_a_directory_this_user_cannot_write_is_not_followed(tmp_path):
    """Checked as an unprivileged user (root may write anywhere): a marker naming a directory of that
    user without write permission keeps the metrics in the process."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run as another user")
    import tempfile
    base = tempfile.mkdtemp(prefix="daemon-perm-")
    try:
        os.chmod(base, 0o755)
        home, directory = os.path.join(base, "home"), os.path.join(base, "metrics")
        os.mkdir(directory, 0o555)
        os.chown(directory, 65534, 65534)
        from pathlib import Path
        write_marker(Path(home), directory, mtime=time.time())
        for p in (home, D.state_dir(home), D.marker_path(home)):
            os.chown(p, 65534, 65534)
        got = as_user(65534, lambda: D.plugin_mode({"HERMES_HOME": home}, grace_seconds=60))
        assert got == repr(D.Mode("single", reason=f"unusable directory: {directory}: not writable by this user "
                                                   "(uid 65534)"))
    finally:
        import shutil
        shutil.rmtree(base)


def test_one_shot_is_recognised_as_hermes_recognises_it():
    """`-z`, `--oneshot` and `--oneshot=...` make a run one-shot; `chat -q` and a prompt that merely
    contains -z do not."""
    from hermes_dash.plugin import is_one_shot
    assert [is_one_shot(a) for a in (["hermes", "-z", "hi"], ["hermes", "--oneshot", "hi"], ["hermes", "--oneshot=hi"],
                                     ["hermes", "chat", "-q", "hi"], ["hermes", "chat", "-q", "x -z y"], ["hermes"])] == \
        [True, True, True, False, False, False]
