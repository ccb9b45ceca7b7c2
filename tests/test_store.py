"""The shared metrics directory (hermes_dash.store): exited processes' files compacted into one archive,
exact sums, the lock a scrape and a compaction share, crashes half-way, damaged archives, unsafe directories."""
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading

import pytest
from hypothesis import given, settings, strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from hermes_dash import catalogue as C
from hermes_dash import store
from hermes_dash.exporter import SafeMultiProcessCollector

from conftest import ROOT, as_user

DEAD = 5_000_000  # above Linux's largest pid (4,194,304): never a live process
LIVE = 1          # init: always alive


def write(d, kind, pid, series, stale=""):
    """A prometheus_client multiprocess file of `kind` for `pid`: series is [(metric, sample, labels, value)].
    Written under another name and renamed into place: the file of a process that has already exited."""
    tmp = d / f".tmp-{kind}_{pid}"
    f = MmapedDict(str(tmp))
    for metric, sample, labels, value in series:
        f.write_value(mmap_key(metric, sample, list(labels), list(labels.values()), "help"), value, 0.0)
    f.close()
    os.replace(tmp, d / f"{kind}_{pid}{stale}.db")


def tool_calls(tool, value):
    return (C.TOOL_CALLS.base_name, C.TOOL_CALLS.name, {C.L_TOOL: tool, C.L_STATUS: "success"}, value)


def cost(value):
    return (C.COST.base_name, C.COST.name, {C.L_MODEL: "m", C.L_PROVIDER: "p"}, value)


def turn_bucket(le, value):
    return (C.TURN_DURATION.name, C.TURN_DURATION.name + "_bucket", {C.L_STATUS: "success", "le": le}, value)


def turn_sum(value):
    return (C.TURN_DURATION.name, C.TURN_DURATION.name + "_sum", {C.L_STATUS: "success"}, value)


def scrape(d):
    """Every sample served from directory `d`: {(name, labels): value}."""
    reg = CollectorRegistry()
    reg.register(SafeMultiProcessCollector(str(d)))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(generate_latest(reg).decode()) for s in f.samples}


def total(vals, name):
    return sum(v for (n, _), v in vals.items() if n == name)


def listing(d):
    return sorted(os.listdir(d))


def test_exited_processes_are_merged_into_one_archive(tmp_path):
    """The counter and histogram files of exited processes (and files set aside after a pid was reused)
    become one archive, their live gauges are deleted, a live process's files stay; what is served is
    the same before and after."""
    write(tmp_path, "counter", DEAD, [tool_calls("t", 3), cost(0.1)])
    write(tmp_path, "counter", DEAD + 1, [tool_calls("t", 4), cost(0.2)], stale="-stale0")
    write(tmp_path, "histogram", DEAD, [turn_bucket("1.0", 2), turn_bucket("+Inf", 1), turn_sum(3.5)])
    write(tmp_path, "gauge_livesum", DEAD, [(C.ACTIVE_SESSIONS.name, C.ACTIVE_SESSIONS.name, {}, 2)])
    write(tmp_path, "counter", LIVE, [tool_calls("t", 5)])
    write(tmp_path, "gauge_livesum", LIVE, [(C.ACTIVE_SESSIONS.name, C.ACTIVE_SESSIONS.name, {}, 1)])
    before = scrape(tmp_path)
    assert before[(C.TOOL_CALLS.name, (("status", "success"), ("tool_name", "t")))] == 12
    result = store.compact(str(tmp_path))
    assert (result.absorbed, result.damaged, result.generation) == (3, 0, 1)
    assert listing(tmp_path) == [".hermes-dash.lock", store.ARCHIVE, f"counter_{LIVE}.db", f"gauge_livesum_{LIVE}.db"]
    after = scrape(tmp_path)
    assert after == before
    assert after[(C.TURN_DURATION.name + "_count", (("status", "success"),))] == 3
    assert after[(C.TURN_DURATION.name + "_bucket", (("le", "1.0"), ("status", "success")))] == 2
    assert after[(C.COST.name, (("model", "m"), ("provider", "p")))] == math.fsum([0.1, 0.2])
    assert after[(C.ACTIVE_SESSIONS.name, ())] == 1
    assert store.compact(str(tmp_path)).absorbed == 0  # nothing more to do


finite = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
amounts = st.one_of(finite, st.sampled_from([0.1, 0.2, 0.3, 1e-9, 150e-6, 1e9 + 0.5, 2 ** 53 + 2.0]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.lists(amounts, min_size=1, max_size=3), st.booleans(), st.booleans()),
                min_size=1, max_size=8))
def test_compaction_never_changes_a_served_value(rounds):
    """Property: for any sequence of processes (each adding amounts to a cost counter and a histogram sum;
    some exit, one stays alive) with a compaction after any of them, every served value is bit for bit
    what it was before the compaction, and equals math.fsum of every process's own total."""
    from pathlib import Path
    d = tempfile.mkdtemp(prefix="store-prop-")
    try:
        p = Path(d)
        live, dead = 0.0, []
        for i, (xs, alive, compact_now) in enumerate(rounds):
            own = live if alive else 0.0
            for x in xs:  # a process's own running total, as prometheus_client keeps it
                own += x
            if alive:
                live = own
            else:
                dead.append(own)
            pid = LIVE if alive else DEAD + i
            write(p, "counter", pid, [cost(own)])
            write(p, "histogram", pid, [turn_sum(own)])
            if compact_now:
                before = scrape(p)
                store.compact(d)
                after = scrape(p)
                assert {k: v.hex() for k, v in after.items()} == {k: v.hex() for k, v in before.items()}
        vals = scrape(p)
        assert vals[(C.COST.name, (("model", "m"), ("provider", "p")))] == math.fsum(dead + [live])
        assert vals[(C.TURN_DURATION.name + "_sum", (("status", "success"),))] == math.fsum(dead + [live])
    finally:
        shutil.rmtree(d)


def test_a_scrape_racing_compactions_never_sees_a_total_fall_or_a_count_twice(tmp_path):
    """Processes exit (their files appear) while one thread compacts without pause and another scrapes
    without pause: every scrape's total is one of the true running totals (never a count twice, never
    one missing once seen), scrapes never go down, and the last one is exact."""
    added, started = [0], [0]  # files in place; files being put in place
    stop = threading.Event()
    seen, errors = [], []

    def compactor():
        while not stop.is_set():
            try:
                store.compact(str(tmp_path))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
            stop.wait(0.002)

    def scraper():
        while not stop.is_set():
            try:
                written_before = added[0]
                served = total(scrape(tmp_path), C.TOOL_CALLS.name)
                seen.append((written_before, served, started[0]))
            except Exception as e:  # pragma: no cover
                errors.append(e)
    threads = [threading.Thread(target=compactor), threading.Thread(target=scraper)]
    for t in threads:
        t.start()
    try:
        for i in range(300):
            started[0] = i + 1
            write(tmp_path, "counter", DEAD + i, [tool_calls("t", 1)])
            added[0] = i + 1
            stop.wait(0.001)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    assert len(seen) > 20
    totals = [s for _, s, _ in seen]
    assert totals == sorted(totals)                           # never backwards
    assert all(lo <= s <= hi for lo, s, hi in seen)           # nothing missing, nothing counted twice
    assert store.compact(str(tmp_path)).generation >= 2   # compactions did run during the scrapes
    assert total(scrape(tmp_path), C.TOOL_CALLS.name) == 300
    assert listing(tmp_path) == [".hermes-dash.lock", store.ARCHIVE]


@pytest.mark.parametrize("fault", ["renamed", "written"])
def test_a_compaction_stopped_half_way_loses_and_doubles_nothing(tmp_path, fault):
    """A compaction that stops after renaming the files, or after writing the archive but before deleting
    them (a crash), leaves every served value as it was; the next compaction finishes the job."""
    write(tmp_path, "counter", DEAD, [tool_calls("t", 3), cost(0.1)])
    store.compact(str(tmp_path))
    write(tmp_path, "counter", DEAD + 1, [tool_calls("t", 4), cost(0.2)])
    write(tmp_path, "counter", DEAD + 2, [tool_calls("t", 5), cost(0.3)])
    before = scrape(tmp_path)
    with pytest.raises(RuntimeError, match="fault injected"):
        store.compact(str(tmp_path), _fault=fault)
    left = {"renamed": [f"counter_{DEAD + 1}.db.absorbing-2", f"counter_{DEAD + 2}.db.absorbing-2"],
            "written": [f"counter_{DEAD + 1}.db.absorbing-2", f"counter_{DEAD + 2}.db.absorbing-2"]}[fault]
    assert listing(tmp_path) == [".hermes-dash.lock", store.ARCHIVE] + left
    assert scrape(tmp_path) == before
    assert store.read_archive(str(tmp_path)).generation == {"renamed": 1, "written": 2}[fault]
    result = store.compact(str(tmp_path))
    assert (result.absorbed, result.generation) == ({"renamed": 2, "written": 0}[fault], {"renamed": 3, "written": 2}[fault])
    assert listing(tmp_path) == [".hermes-dash.lock", store.ARCHIVE]
    assert scrape(tmp_path) == before


@pytest.mark.parametrize("damage", ["truncated", "a digit changed", "empty", "not an archive"])
def test_a_damaged_archive_fails_the_scrape_and_is_never_compacted(tmp_path, damage):
    """An archive cut short or changed fails every scrape (DamagedArchive naming the file) instead of
    serving totals without it, and a compaction refuses to touch the directory."""
    write(tmp_path, "counter", DEAD, [tool_calls("t", 3)])
    store.compact(str(tmp_path))
    write(tmp_path, "counter", DEAD + 1, [tool_calls("t", 4)])
    path = tmp_path / store.ARCHIVE
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:-5], "a digit changed": data.replace(b"3.0", b"4.0"), "empty": b"",
                      "not an archive": b"hello\n[]"}[damage])
    with pytest.raises(store.DamagedArchive, match=str(path)):
        scrape(tmp_path)
    with pytest.raises(store.DamagedArchive, match=str(path)):
        store.compact(str(tmp_path))
    assert listing(tmp_path) == [".hermes-dash.lock", store.ARCHIVE, f"counter_{DEAD + 1}.db"]


def test_a_damaged_file_of_an_exited_process_is_set_aside_and_an_empty_one_dropped(tmp_path):
    """At compaction, an exited process's unreadable file is renamed *.damaged (its counts leave the sums,
    as at a scrape) and an empty one (a process killed before it sized the file) is deleted."""
    write(tmp_path, "counter", DEAD, [tool_calls("t", 3)])
    (tmp_path / f"counter_{DEAD + 1}.db").write_bytes(b"\x40\x00\x00\x00" + b"\xff" * 60)
    (tmp_path / f"histogram_{DEAD + 2}.db").write_bytes(b"")
    result = store.compact(str(tmp_path))
    assert (result.absorbed, result.damaged) == (2, 1)
    assert listing(tmp_path) == [".hermes-dash.lock", store.ARCHIVE, f"counter_{DEAD + 1}.db.absorbing-1.damaged"]
    assert total(scrape(tmp_path), C.TOOL_CALLS.name) == 3


def test_exact_partials_sum_exactly():
    """exact_partials keeps the exact sum: fsum of the partials of a list, extended, equals fsum of the
    whole list, where a naive running sum does not."""
    xs = [0.1] * 10 + [1e16, 1.0, -1e16]
    assert math.fsum(store.exact_partials(xs[:5]) + xs[5:]) == math.fsum(xs)
    assert sum(xs) != math.fsum(xs)


ROUTED = textwrap.dedent("""
    import json, os, sys
    from prometheus_client import CollectorRegistry, Counter, generate_latest
    from hermes_dash import catalogue as C, store
    from hermes_dash.instrumentation import HermesMetrics
    d = sys.argv[1]
    store.route_metrics(d, [m.base_name for m in C.METRICS])
    other = Counter("someone_elses", "not ours", registry=CollectorRegistry())
    m = HermesMetrics(registry=CollectorRegistry())
    m.record_tool_call("terminal", "success", 0.1)
    other.inc(7)
    pid = os.fork()
    if pid == 0:
        m.record_tool_call("terminal", "success", 0.1)
        os._exit(0)
    os.waitpid(pid, 0)
    print(json.dumps({"env": os.environ.get("PROMETHEUS_MULTIPROC_DIR"), "other": other._value.get(),
                      "multiprocess": type(other._value).__name__, "child": pid}))
""")


def test_routed_metrics_are_prometheus_client_files_and_nothing_else_changes(tmp_path):
    """A process whose hermes metrics are routed to a directory writes prometheus_client's own files
    there (read by prometheus_client's MultiProcessCollector), a forked child writes files of its own,
    and no other metric of the process, nor its environment, is switched to multiprocess mode."""
    import json
    out = subprocess.run([sys.executable, "-c", ROUTED, str(tmp_path)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert (got["env"], got["other"], got["multiprocess"]) == (None, 7.0, "MutexValue")
    assert f"counter_{got['child']}.db" in listing(tmp_path)
    from prometheus_client.multiprocess import MultiProcessCollector
    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(tmp_path))
    vals = {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(generate_latest(reg).decode()) for s in f.samples}
    assert vals[(C.TOOL_CALLS.name, (("status", "success"), ("tool_name", "terminal")))] == 2
    assert not any(n.startswith("someone_elses") for n, _ in vals)


def test_safe_directories_pass_and_unsafe_ones_are_refused_with_the_reason(tmp_path):
    """check_directory accepts a private directory of this user (creating it when asked) and refuses a
    relative path, a symlink, a file, a group- or world-writable directory, each naming the path."""
    ok = tmp_path / "ok"
    assert store.check_directory(str(ok), create=True) == str(ok)
    assert oct(os.stat(ok).st_mode & 0o777) == "0o700"
    (tmp_path / "link").symlink_to(ok)
    (tmp_path / "file").write_text("")
    (tmp_path / "world").mkdir(mode=0o777)
    os.chmod(tmp_path / "world", 0o777)
    (tmp_path / "group").mkdir()
    os.chmod(tmp_path / "group", 0o770)
    cases = {
        "relative": ("metrics", "'metrics': the metrics directory must be an absolute path"),
        "link": (str(tmp_path / "link"), f"{tmp_path / 'link'}: is a symlink; name the real directory ({ok}) instead"),
        "file": (str(tmp_path / "file"), f"{tmp_path / 'file'}: not a directory"),
        "world": (str(tmp_path / "world"), f"{tmp_path / 'world'}: writable by others (mode 0777); run `chmod go-w "
                  f"{tmp_path / 'world'}`"),
        "group": (str(tmp_path / "group"), f"{tmp_path / 'group'}: writable by its group (mode 0770); run `chmod go-w "
                  f"{tmp_path / 'group'}`"),
    }
    for name, (path, message) in cases.items():
        with pytest.raises(store.StoreError) as e:
            store.check_directory(path)
        assert str(e.value) == message, name


def test_a_directory_of_another_user_or_not_writable_is_refused():
    """A directory owned by someone else, and one of this user without write permission, are refused
    (checked as an unprivileged user: root may write anywhere)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create directories of other users")
    base = tempfile.mkdtemp(prefix="store-perm-")
    try:
        os.chmod(base, 0o755)
        mine, theirs = os.path.join(base, "mine"), os.path.join(base, "theirs")
        os.mkdir(mine, 0o555)
        os.mkdir(theirs, 0o755)
        os.chown(mine, 65534, 65534)
        os.chown(theirs, 1234, 1234)
        assert as_user(65534, store.check_directory, mine) == f"{mine}: not writable by this user (uid 65534)"
        assert as_user(65534, store.check_directory, theirs) == \
            f"{theirs}: owned by uid 1234, not by this user (uid 65534) or root"
        os.chmod(mine, 0o755)
        assert as_user(65534, store.check_directory, mine) == repr(mine)
    finally:
        shutil.rmtree(base)


def test_a_value_beyond_float_range_sums_sets_its_file_aside_and_compaction_goes_on(tmp_path):
    """Two exited processes' files holding 1e308 (a version before the 1e15 input bound could write one)
    would overflow the archive's exact sum and stop every later compaction: both are set aside as damaged
    at the first compaction, the healthy file is archived, and the next exited process is compacted."""
    write(tmp_path, "counter", DEAD, [tool_calls("t", 3)])
    write(tmp_path, "counter", DEAD + 1, [cost(1e308)])
    write(tmp_path, "counter", DEAD + 2, [cost(1e308)])
    result = store.compact(str(tmp_path))
    assert (result.absorbed, result.damaged) == (1, 2)
    assert total(scrape(tmp_path), C.TOOL_CALLS.name) == 3
    write(tmp_path, "counter", DEAD + 3, [tool_calls("t", 4)])
    assert store.compact(str(tmp_path)).absorbed == 1
    assert total(scrape(tmp_path), C.TOOL_CALLS.name) == 7
    assert [n for n in listing(tmp_path) if n.endswith(".damaged")] == [
        f"counter_{DEAD + 1}.db.absorbing-1.damaged", f"counter_{DEAD + 2}.db.absorbing-1.damaged"]
