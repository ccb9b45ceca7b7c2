"""The metrics directory a host's Hermes processes share: prometheus_client's multiprocess files, and one
archive that holds the counts of every process that has exited.

    from hermes_dash import store
    store.route_metrics(path, names)        # this process writes those metrics as files in `path`
    with store.locked(path, shared=True):   # what a scrape holds while it reads the directory
        ...
    store.compact(path)                     # merge exited processes' files into the archive

The files (prometheus_client 0.26's multiprocess format, one file per kind of metric per process):

    counter_<pid>.db  histogram_<pid>.db  gauge_livesum_<pid>.db   written by a process while it runs
    <file>-stale<n>.db           a dead process's file whose pid a new process got (set aside at its start)
    <file>.absorbing-<g>         being merged into the archive of generation <g>
    <file>.damaged[<n>]          unreadable: never read again
    archive.hermes-dash          the exited processes' counters and histograms, summed exactly
    .hermes-dash.lock            exclusive while a process starts or a compaction runs; shared while a scrape reads
    .hermes-dash-daemon.lock     held by the `hermes-dash serve` daemon that serves and compacts the directory

Compaction moves the counts of exited processes into the archive under the exclusive lock, in an order
that survives a crash at any step: files are first renamed `<file>.absorbing-<g+1>` (still counted, since
the archive says generation g), then the archive of generation g+1 replaces the old one atomically (from
then on those files are skipped), then they are deleted. A reader holds the shared lock, so it sees the
directory before or after a compaction, never half-way.

Sums are exact: a served counter or histogram value is the correctly rounded sum of all its terms
(`math.fsum`), and the archive keeps each total as exact partials (floats whose exact sum is the total).
So moving terms from files into the archive never changes a served value, not even in the last bit — a
decrease of one ulp would read as a counter reset to `rate()`.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import stat
import struct
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from prometheus_client import values as _values
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from .instrumentation import label_value_is_clean, sanitise_label_value

log = logging.getLogger("hermes_dash")

ARCHIVE = "archive.hermes-dash"
LOCK = ".hermes-dash.lock"
DAEMON_LOCK = ".hermes-dash-daemon.lock"
ARCHIVE_FORMAT = "hermes-dash-archive 1"
#: kinds of file whose values only add up (counters, histogram buckets and sums): these are archived
ADDITIVE = ("counter", "histogram", "summary")
LIVE_GAUGE_MODES = ("livesum", "liveall", "livemax", "livemin", "livemostrecent")
#: how long a process starting up waits for the directory lock before it goes on without it
PREPARE_LOCK_SECONDS = 2.0
#: how long a scrape or a compaction waits for the directory lock before it gives up
LOCK_SECONDS = 10.0

FILE = re.compile(r"(counter|histogram|summary|gauge_([a-z]+))_(\d+)(-stale\d+)?\.db")
ABSORBING = re.compile(r"((counter|histogram|summary)_\d+(?:-stale\d+)?\.db)\.absorbing-(\d+)")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HELP_MAX = 1024
#: the largest value a file may hold (far above any real total: the plugin records samples up to 1e15)
MAX_FILE_VALUE = 1e300


class StoreError(RuntimeError):
    """A metrics directory that cannot be used as it is; the message names it and says why."""


class DamagedArchive(StoreError):
    """The archive cannot be read. Serving without it would lower every total, so nothing is served."""


class DamagedFile(ValueError):
    """A multiprocess file that cannot be read: empty, truncated, or not what prometheus_client writes."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process; a number no pid can be
        return False
    except PermissionError:
        return True
    return True


# -- the directory and its lock ----------------------------------------------------------------------
def check_directory(path: str, create: bool = False) -> str:
    """`path` as an absolute path when it is safe to keep metrics in; else StoreError saying why.

    Safe: a real directory (not a symlink), owned by this user or root, writable by no one else (group
    and others could plant counts, or symlinks for a compaction to follow), and writable by this user.
    `create`: make it (mode 0700, parents as needed) when it does not exist.
    """
    if not isinstance(path, str) or not os.path.isabs(path):
        raise StoreError(f"{path!r}: the metrics directory must be an absolute path")
    if create and not os.path.lexists(path):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{path}: cannot create the metrics directory: {e.strerror}") from None
    try:
        st = os.lstat(path)
    except OSError as e:
        raise StoreError(f"{path}: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{path}: is a symlink; name the real directory ({os.path.realpath(path)}) instead")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path}: not a directory")
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        raise StoreError(f"{path}: owned by uid {st.st_uid}, not by this user (uid {me}) or root")
    if st.st_mode & 0o022:
        raise StoreError(f"{path}: writable by {'others' if st.st_mode & 0o002 else 'its group'} "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}); run `chmod go-w {path}`")
    if not _writable(path):
        raise StoreError(f"{path}: not writable by this user (uid {me})")
    return path


def _writable(path: str) -> bool:
    """Whether a file can be created in `path` (tried, not guessed from the mode bits)."""
    probe = os.path.join(path, f".hermes-dash-probe-{os.getpid()}-{threading.get_ident()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def open_lock_file(path: str, name: str = LOCK) -> int:
    """A descriptor of the lock file `name` in `path`, created when missing; never follows a symlink and
    never truncates (a lock file is only ever locked). Read-only when the directory is."""
    target = os.path.join(path, name)
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(target, os.O_RDWR | os.O_CREAT | flags, 0o600)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise
        return os.open(target, os.O_RDONLY | flags)


class LockTimeout(StoreError):
    pass


@contextlib.contextmanager
def locked(path: str, shared: bool = False, timeout: float = LOCK_SECONDS) -> Iterator[None]:
    """Hold the directory lock: shared (a scrape reading) or exclusive (a process starting, a compaction).
    LockTimeout after `timeout` seconds."""
    try:
        fd = open_lock_file(path)
    except FileNotFoundError:
        if not shared:
            raise
        yield  # a read-only directory without a lock file: no one can compact it
        return
    try:
        op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, op)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{os.path.join(path, LOCK)}: still locked after {timeout:g} s") from None
                time.sleep(0.001)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare(path: str, pid: Optional[int] = None, timeout: float = PREPARE_LOCK_SECONDS) -> None:
    """Make `path` safe for this process before it writes its first sample.

    prometheus_client keys its files by pid, so a file left by an earlier process whose pid this process
    now has would be continued as if it were ours (a stale active-sessions gauge, for one). Under the
    exclusive lock (or without it after `timeout` seconds: a process must not hang at start-up):
    - live gauges (livesum/liveall/...) of dead processes and of this pid are deleted: their sessions
      ended with them;
    - counter and histogram files of this pid are renamed aside (`-stale<n>`), not deleted: their counts
      stay in the sum (and are archived by the next compaction), so no counter ever goes backwards.
    Files of other live processes are untouched.
    """
    pid = os.getpid() if pid is None else pid
    os.makedirs(path, exist_ok=True)
    try:
        with locked(path, timeout=timeout):
            _prepare(path, pid)
    except LockTimeout:
        log.warning("hermes-dash: %s is locked for more than %g s; starting without the lock", path, timeout)
        _prepare(path, pid)


def _prepare(path: str, pid: int) -> None:
    for name in os.listdir(path):
        m = FILE.fullmatch(name)
        if m is None or m.group(4):
            continue  # not a process's file, or already set aside
        owner = int(m.group(3))
        f = os.path.join(path, name)
        if m.group(2) in LIVE_GAUGE_MODES:
            if owner == pid or not pid_alive(owner):
                _unlink(f)
        elif owner == pid:
            base, n = name[:-3], 0
            while os.path.exists(os.path.join(path, f"{base}-stale{n}.db")):
                n += 1
            with contextlib.suppress(FileNotFoundError):
                os.replace(f, os.path.join(path, f"{base}-stale{n}.db"))


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# -- reading one process's file ----------------------------------------------------------------------
Entry = Tuple[str, str, Dict[str, str], str, float, float]  # metric, sample name, labels, help, value, timestamp


def read_multiprocess_file(path: str, max_label_length: int) -> List[Entry]:
    """The samples of one prometheus_client multiprocess file: [(metric, sample name, labels, help,
    value, timestamp)], label values sanitised to `max_label_length`, non-finite values left out.
    A value beyond MAX_FILE_VALUE (only a hand-made file, or a version that recorded unbounded numbers,
    holds one: the plugin records no sample above 1e15) makes the file damaged: summed with another it
    would overflow, and stop every compaction.

    Raises DamagedFile when the file is not a well-formed file of prometheus_client 0.26 (the layout of
    prometheus_client.mmap_dict: a used-bytes header, then length-prefixed JSON keys padded to 8 bytes,
    each followed by two doubles). Reads the file once; never mmaps it.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise DamagedFile(f"{len(data)} bytes: shorter than the 8-byte header")
    used = struct.unpack_from("i", data, 0)[0]
    if used == 0:  # created and sized, nothing written yet
        return []
    if not 8 <= used <= len(data):
        raise DamagedFile(f"header says {used} bytes are used, the file has {len(data)}")
    out = []
    pos = 8
    while pos < used:
        if pos + 4 > used:
            raise DamagedFile(f"entry at byte {pos} is cut short")
        n = struct.unpack_from("i", data, pos)[0]
        start = pos + 4
        end = start + n + (8 - (n + 4) % 8)
        if n <= 0 or end + 16 > used:
            raise DamagedFile(f"entry at byte {pos} runs past the used bytes")
        try:
            metric, name, labels, help_text = json.loads(data[start:start + n].decode("utf-8"))
        except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as e:
            raise DamagedFile(f"key at byte {pos} is not a JSON [metric, name, labels, help]: {e}") from None
        if not (isinstance(metric, str) and _NAME.fullmatch(metric) and isinstance(name, str)
                and _NAME.fullmatch(name) and isinstance(labels, dict) and isinstance(help_text, str)
                and all(isinstance(k, str) and _LABEL.fullmatch(k) and isinstance(v, str)
                        for k, v in labels.items())):
            raise DamagedFile(f"key at byte {pos} does not name a metric, a sample and string labels")
        if "le" in labels:
            try:
                float(labels["le"])
            except ValueError:
                raise DamagedFile(f"bucket bound {labels['le'][:32]!r} at byte {pos} is not a number") from None
        value, timestamp = struct.unpack_from("dd", data, end)
        pos = end + 16
        if not math.isfinite(value):
            continue
        if abs(value) > MAX_FILE_VALUE:
            raise DamagedFile(f"value {value!r} at byte {pos - 16} is beyond {MAX_FILE_VALUE:g}: summed with "
                              "another it would leave float range")
        clean = {k: v if k == "le" or label_value_is_clean(v, max_label_length)
                 else sanitise_label_value(v, max_label_length) for k, v in labels.items()}
        if not label_value_is_clean(help_text, _HELP_MAX):
            help_text = sanitise_label_value(help_text, _HELP_MAX)
        out.append((metric, name, clean, help_text, value, timestamp))
    return out


# -- exact sums --------------------------------------------------------------------------------------
def exact_partials(values: Iterable[float]) -> List[float]:
    """Non-overlapping floats whose exact sum is the exact sum of `values` (Shewchuk's algorithm, as
    behind math.fsum); math.fsum(partials) is that sum correctly rounded. OverflowError past float range.

        exact_partials([0.1, 0.2, 0.3])    # [-2.7755575615628914e-17, 0.6000000000000001]
    """
    partials: List[float] = []
    for x in values:
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        if not math.isfinite(x):
            raise OverflowError("a sum beyond float range")
        partials[i:] = [x]
    return partials or [0.0]


# -- the archive -------------------------------------------------------------------------------------
SeriesKey = Tuple[str, str, str, Tuple[Tuple[str, str], ...]]  # kind, metric, sample name, sorted labels


class Archive:
    """The summed counts of exited processes: series key -> (help, exact partials), and its generation
    (files named `*.absorbing-<g>` with g at most the generation are already in it)."""

    def __init__(self, generation: int = 0, series: Optional[Dict[SeriesKey, Tuple[str, List[float]]]] = None):
        self.generation = generation
        self.series = series if series is not None else {}

    def entries(self) -> Iterator[Tuple[str, str, str, Dict[str, str], str, List[float]]]:
        for (kind, metric, name, labels), (help_text, partials) in self.series.items():
            yield kind, metric, name, dict(labels), help_text, partials

    def to_bytes(self) -> bytes:
        body = json.dumps([[k, m, n, dict(lab), h, p] for (k, m, n, lab), (h, p) in sorted(self.series.items())],
                          separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()
        return f"{ARCHIVE_FORMAT} {self.generation} {hashlib.sha256(body).hexdigest()}\n".encode() + body

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> "Archive":
        """Parse an archive; DamagedArchive naming `where` and what is wrong."""
        head, nl, body = data.partition(b"\n")
        parts = head.decode("ascii", "replace").split(" ")
        if not nl or len(parts) != 4 or " ".join(parts[:2]) != ARCHIVE_FORMAT or not parts[2].isdigit():
            raise DamagedArchive(f"{where}: not a hermes-dash archive (first line {head[:80]!r})")
        if hashlib.sha256(body).hexdigest() != parts[3]:
            raise DamagedArchive(f"{where}: checksum mismatch ({len(body)} bytes after the header): truncated "
                                 "or changed since it was written")
        try:
            rows = json.loads(body)
        except ValueError as e:
            raise DamagedArchive(f"{where}: not JSON: {e}") from None
        series: Dict[SeriesKey, Tuple[str, List[float]]] = {}
        for i, row in enumerate(rows if isinstance(rows, list) else [None]):
            if not (isinstance(row, list) and len(row) == 6 and row[0] in ADDITIVE
                    and all(isinstance(x, str) and _NAME.fullmatch(x) for x in row[1:3])
                    and isinstance(row[3], dict) and isinstance(row[4], str) and isinstance(row[5], list)
                    and all(isinstance(k, str) and _LABEL.fullmatch(k) and isinstance(v, str)
                            for k, v in row[3].items())
                    and row[5] and all(type(p) is float and math.isfinite(p) for p in row[5])):
                raise DamagedArchive(f"{where}: series {i} is not [kind, metric, sample, labels, help, partials]")
            series[(row[0], row[1], row[2], tuple(sorted(row[3].items())))] = (row[4], row[5])
        return cls(int(parts[2]), series)


def archive_path(path: str) -> str:
    return os.path.join(path, ARCHIVE)


def read_archive(path: str) -> Archive:
    """The archive of directory `path` (empty, generation 0, when there is none); DamagedArchive when it
    cannot be read."""
    where = archive_path(path)
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return Archive()
    except OSError as e:
        raise DamagedArchive(f"{where}: cannot read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        return Archive.from_bytes(f.read(), where)


def write_archive(path: str, archive: Archive) -> None:
    """Replace the archive atomically and durably (a temporary file, fsync, rename, fsync the directory)."""
    tmp = os.path.join(path, f".{ARCHIVE}.tmp-{os.getpid()}")
    _unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(archive.to_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, archive_path(path))
    except BaseException:
        _unlink(tmp)
        raise
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# -- what a directory holds, for a reader or a compaction --------------------------------------------
def sources(path: str, generation: int) -> List[Tuple[str, str, Optional[str], Optional[int], bool]]:
    """The files of `path` whose counts are not in the archive of `generation`, sorted by name:
    (name, kind, gauge mode or None, pid or None, set aside or being absorbed)."""
    out = []
    for name in sorted(os.listdir(path)):
        m = FILE.fullmatch(name)
        if m is not None:
            kind = "gauge" if m.group(2) else m.group(1)
            out.append((name, kind, m.group(2), int(m.group(3)), bool(m.group(4))))
            continue
        a = ABSORBING.fullmatch(name)
        if a is not None and int(a.group(3)) > generation:
            out.append((name, a.group(2), None, None, True))
    return out


def set_aside(path: str, why: Exception) -> None:
    dest, n = path + ".damaged", 0
    while os.path.exists(dest):
        n += 1
        dest = f"{path}.damaged{n}"
    try:
        os.replace(path, dest)
    except FileNotFoundError:  # another scrape thread set it aside first
        return
    log.warning("hermes-dash: multiprocess file %s is damaged (%s); moved aside to %s, its counts are no "
                "longer served", path, why, os.path.basename(dest))


class Compaction:
    """What one compaction did: files absorbed, files set aside as damaged, the archive's generation."""

    def __init__(self, absorbed: int = 0, damaged: int = 0, generation: int = 0):
        self.absorbed, self.damaged, self.generation = absorbed, damaged, generation

    def __repr__(self) -> str:
        return f"Compaction(absorbed={self.absorbed}, damaged={self.damaged}, generation={self.generation})"


def compact(path: str, max_label_length: int = 128, _fault: Optional[str] = None) -> Compaction:
    """Merge the counter and histogram files of processes that have exited into the archive, delete the
    live gauges of dead processes, and finish what a compaction interrupted by a crash left; under the
    exclusive lock. Every served value is the same before and after, bit for bit.

    DamagedArchive when the archive cannot be read: nothing is changed then. `_fault` (tests only) stops
    the compaction with RuntimeError after the step it names ("renamed", "written"), as a crash would.
    """
    with locked(path):
        archive = read_archive(path)
        generation = archive.generation
        for name in os.listdir(path):  # finish an interrupted compaction; remove its temporary file
            a = ABSORBING.fullmatch(name)
            if (a is not None and int(a.group(3)) <= generation) or name.startswith(f".{ARCHIVE}.tmp-"):
                _unlink(os.path.join(path, name))
        pending, dead = [], []
        for name, kind, mode, pid, aside in sources(path, generation):
            if ".absorbing-" in name:
                pending.append(name)
            elif kind in ADDITIVE and (aside or not pid_alive(pid)):
                dead.append(name)
            elif mode in LIVE_GAUGE_MODES and not pid_alive(pid):
                _unlink(os.path.join(path, name))
        if not pending and not dead:
            return Compaction(generation=generation)
        new = max([generation] + [int(ABSORBING.fullmatch(n).group(3)) for n in pending]) + 1
        absorbing = list(pending)
        for name in dead:
            try:
                os.replace(os.path.join(path, name), os.path.join(path, f"{name}.absorbing-{new}"))
            except FileNotFoundError:
                continue
            absorbing.append(f"{name}.absorbing-{new}")
        if _fault == "renamed":
            raise RuntimeError("fault injected after renaming")
        terms: Dict[SeriesKey, Tuple[str, List[float]]] = {k: (h, list(p)) for k, (h, p) in archive.series.items()}
        done, damaged = [], 0
        for name in sorted(absorbing):
            f = os.path.join(path, name)
            kind = ABSORBING.fullmatch(name).group(2)
            try:
                entries = read_multiprocess_file(f, max_label_length)
            except FileNotFoundError:
                continue
            except Exception as e:  # damaged: set aside under its own name, so no later compaction retries it
                if os.path.getsize(f) == 0:
                    done.append(f)  # a process that died before sizing its file: nothing to keep
                else:
                    damaged += 1
                    set_aside(f, e)
                continue
            for metric, sample, labels, help_text, value, _ in entries:
                key = (kind, metric, sample, tuple(sorted(labels.items())))
                slot = terms.get(key)
                if slot is None:
                    terms[key] = (help_text, [value])
                else:
                    slot[1].append(value)
            done.append(f)
        series = {k: (h, exact_partials(p)) for k, (h, p) in terms.items()}
        write_archive(path, Archive(new, series))
        if _fault == "written":
            raise RuntimeError("fault injected after writing the archive")
        for f in done:
            _unlink(f)
        return Compaction(len(done), damaged, new)


# -- this process's metrics as files in a directory --------------------------------------------------
def directory_value_class(path: str) -> type:
    """A prometheus_client value class that keeps each value in prometheus_client's multiprocess file
    format in `path` (`<kind>_<pid>.db`), as prometheus_client's MmapedValue does for
    $PROMETHEUS_MULTIPROC_DIR, without that variable: nothing else in this process, and no child
    process, is switched to multiprocess mode. One file per kind per process; a fork gets files of its
    own. Exemplars are not kept (as in prometheus_client's multiprocess mode)."""
    files: Dict[str, MmapedDict] = {}
    made: List[Any] = []
    pid = {"value": os.getpid()}
    lock = threading.Lock()

    class DirectoryValue:
        _multiprocess = True

        def __init__(self, typ, metric_name, name, labelnames, labelvalues, help_text, multiprocess_mode="",
                     **_kw):
            self._params = typ, metric_name, name, labelnames, labelvalues, help_text, multiprocess_mode
            with lock:
                self._check_pid()
                self._reset()
                made.append(self)

        def _reset(self):
            typ, metric_name, name, labelnames, labelvalues, help_text, mode = self._params
            prefix = f"{typ}_{mode}" if typ == "gauge" else typ
            f = files.get(prefix)
            if f is None:
                f = files[prefix] = MmapedDict(os.path.join(path, f"{prefix}_{pid['value']}.db"))
            self._file = f
            self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
            self._value, self._timestamp = f.read_value(self._key)

        def _check_pid(self):
            now = os.getpid()
            if pid["value"] != now:  # forked: the child writes files of its own, from zero
                pid["value"] = now
                for f in files.values():
                    f.close()
                files.clear()
                for v in made:
                    v._reset()

        def inc(self, amount):
            with lock:
                self._check_pid()
                self._value += amount
                self._timestamp = 0.0
                self._file.write_value(self._key, self._value, self._timestamp)

        def set(self, value, timestamp=None):
            with lock:
                self._check_pid()
                self._value = value
                self._timestamp = timestamp or 0.0
                self._file.write_value(self._key, self._value, self._timestamp)

        def set_exemplar(self, exemplar):
            return None

        def get(self):
            with lock:
                self._check_pid()
                return self._value

        def get_exemplar(self):
            return None

    DirectoryValue.path = path
    return DirectoryValue


class _Router:
    """prometheus_client's `values.ValueClass` while some metrics are kept in a directory: a value of one
    of those metrics (by name) is a DirectoryValue, any other metric's value is what it was before."""

    def __init__(self, fallback: Any):
        self.fallback = fallback
        self.routes: Dict[str, Any] = {}
        self._multiprocess = getattr(fallback, "_multiprocess", False)

    def __call__(self, typ, metric_name, *args, **kw):
        return self.routes.get(metric_name, self.fallback)(typ, metric_name, *args, **kw)


def route_metrics(path: str, names: Iterable[str]) -> None:
    """Metrics named in `names` (prometheus_client's metric names: counters without `_total`) created by
    this process from now on keep their values as multiprocess files in `path`. Call before creating
    them; other metrics are unchanged. Idempotent for the same path."""
    router = _values.ValueClass
    if not isinstance(router, _Router):
        router = _values.ValueClass = _Router(router)
    cls = directory_value_class(path)
    for n in names:
        current = router.routes.get(n)
        if current is None or getattr(current, "path", None) != path:
            router.routes[n] = cls


def unroute(names: Iterable[str]) -> None:
    """Undo route_metrics for `names` (tests)."""
    router = _values.ValueClass
    if isinstance(router, _Router):
        for n in names:
            router.routes.pop(n, None)
