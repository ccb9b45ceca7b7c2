"""`hermes-dash serve`: the one long-lived exporter of a host's Hermes processes, and how the plugin finds it.

    hermes-dash serve        # directory $HERMES_HOME/hermes-dash/metrics, /metrics on 127.0.0.1:9464

Every Hermes process of the host (cron'd `hermes -z`, several `hermes chat` at once, a gateway, kanban
workers) writes its metrics into one directory as prometheus_client multiprocess files; the daemon
serves their sum on /metrics and, every `exporter.compact_interval_seconds`, merges the files of
processes that have exited into the directory's archive (hermes_dash.store). So a run that lives two
seconds is still scraped, no count is lost when a process exits, counters never go backwards (the
archive outlives the daemon), and the directory stays bounded.

The daemon announces itself with a marker, `$HERMES_HOME/hermes-dash/daemon.json`, naming the directory.
The plugin decides at start-up where its metrics go (`plugin_mode`, in this order):
1. `PROMETHEUS_MULTIPROC_DIR` set: prometheus_client's own multiprocess mode over that directory (the
   whole process was switched when prometheus_client was imported); /metrics is served by this process
   unless a daemon serves that directory.
2. `HERMES_DASH_MODE=single`: this process alone, /metrics served in-process.
3. A marker whose daemon runs, or stopped less than `exporter.daemon_grace_seconds` ago (a restart):
   the daemon's directory; this process serves nothing. A marker or directory that is not safe (a
   symlink, writable by others, owned by another user, not writable) or a stale marker: step 4.
4. This process alone, /metrics served in-process (`exporter.address`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from . import store
from .config import DEFAULT, parse_address
from .exporter import ADDR_ENV, MULTIPROC_ENV

log = logging.getLogger("hermes_dash")

STATE_DIR = "hermes-dash"
MARKER = "daemon.json"
MARKER_VERSION = 1
MAX_MARKER_BYTES = 4096
#: `single` keeps a process's metrics to itself; `auto` (the default) follows the decision order above
MODE_ENV = "HERMES_DASH_MODE"
MODES = ("auto", "single")
#: how long a daemon starting waits for another holder of the daemon lock (a plugin probing it) to let go
START_LOCK_SECONDS = 2.0


class DaemonError(RuntimeError):
    """`hermes-dash serve` cannot start: the message names the file, directory or address; `code` is the
    exit status (2 bad input: an unsafe directory, a damaged archive; 1 refused: another daemon, a port
    taken)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def hermes_home(environ: Mapping[str, str] = os.environ) -> str:
    """Hermes' home as Hermes resolves it for a process: $HERMES_HOME (a profile sets it), else ~/.hermes."""
    return os.path.abspath(environ.get("HERMES_HOME") or os.path.join(os.path.expanduser("~"), ".hermes"))


def state_dir(home: str) -> str:
    return os.path.join(home, STATE_DIR)


def marker_path(home: str) -> str:
    return os.path.join(state_dir(home), MARKER)


def default_directory(home: str) -> str:
    return os.path.join(state_dir(home), "metrics")


@dataclass(frozen=True)
class Mode:
    """Where this process's metrics go: `single` (its own registry), `multiprocess` ($PROMETHEUS_MULTIPROC_DIR)
    or `daemon` (the directory of a `hermes-dash serve`); whether it serves /metrics; and why."""
    kind: str
    directory: Optional[str] = None
    serve: bool = True
    reason: str = ""


def daemon_alive(directory: str) -> bool:
    """Whether a `hermes-dash serve` holds the daemon lock of `directory` (exact: the kernel releases the
    lock when the daemon dies, however it dies)."""
    try:
        fd = os.open(os.path.join(directory, store.DAEMON_LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases a lock taken here
    return False


def read_marker(home: str) -> Optional[dict]:
    """The marker of `home` as a dict, None when there is none; ValueError naming it when it cannot be
    trusted (a symlink, not a file, writable by others, owned by another user, too large, not a marker)."""
    path = marker_path(home)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(f"{path}: is a symlink") from None
        raise ValueError(f"{path}: cannot read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: not a file")
        if st.st_uid not in (os.geteuid(), 0):
            raise ValueError(f"{path}: owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}) or root")
        if st.st_mode & 0o022:
            raise ValueError(f"{path}: writable by others (mode {stat.S_IMODE(st.st_mode):04o})")
        raw = f.read(MAX_MARKER_BYTES + 1)
    if len(raw) > MAX_MARKER_BYTES:
        raise ValueError(f"{path}: larger than {MAX_MARKER_BYTES} bytes: not a hermes-dash marker")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: not JSON: {e}") from None
    if not (isinstance(data, dict) and data.get("version") == MARKER_VERSION
            and isinstance(data.get("directory"), str) and os.path.isabs(data["directory"])
            and isinstance(data.get("address"), str) and type(data.get("pid")) is int):
        raise ValueError(f"{path}: not a hermes-dash daemon marker (version {MARKER_VERSION}: directory, address, pid)")
    data["mtime"] = st.st_mtime
    return data


def plugin_mode(environ: Mapping[str, str] = os.environ,
                grace_seconds: float = DEFAULT.exporter.daemon_grace_seconds,
                now: Optional[float] = None) -> Mode:
    """Where this process's metrics go (the decision order of the module docstring). Never raises:
    what cannot be trusted is logged as a warning naming it, and the process keeps its metrics to itself."""
    explicit = environ.get(MULTIPROC_ENV)
    if explicit:
        if daemon_alive(explicit):
            return Mode("multiprocess", explicit, False, f"{MULTIPROC_ENV}={explicit}, served by hermes-dash serve")
        return Mode("multiprocess", explicit, True, f"{MULTIPROC_ENV}={explicit}")
    wanted = environ.get(MODE_ENV, "auto") or "auto"
    if wanted not in MODES:
        log.warning("hermes-dash: %s=%r is not one of %s; using auto", MODE_ENV, wanted, ", ".join(MODES))
        wanted = "auto"
    if wanted == "single":
        return Mode("single", reason=f"{MODE_ENV}=single")
    home = hermes_home(environ)
    try:
        marker = read_marker(home)
    except ValueError as e:
        log.warning("hermes-dash: ignoring the daemon marker: %s; this process serves its own /metrics", e)
        return Mode("single", reason=f"untrusted marker: {e}")
    if marker is None:
        return Mode("single", reason=f"no daemon marker at {marker_path(home)}")
    directory = marker["directory"]
    try:
        store.check_directory(directory)
    except store.StoreError as e:
        log.warning("hermes-dash: the daemon marker %s names an unusable directory: %s; this process serves its "
                    "own /metrics", marker_path(home), e)
        return Mode("single", reason=f"unusable directory: {e}")
    if daemon_alive(directory):
        return Mode("daemon", directory, False, f"hermes-dash serve (pid {marker['pid']}) serves {directory}")
    age = (time.time() if now is None else now) - marker["mtime"]
    if age <= grace_seconds:
        log.warning("hermes-dash: hermes-dash serve (pid %s) is not running; its last sign of life was %.0f s ago, "
                    "so this process's metrics wait for it in %s", marker["pid"], age, directory)
        return Mode("daemon", directory, False, f"hermes-dash serve stopped {age:.0f} s ago: writing to {directory}")
    log.warning("hermes-dash: the daemon marker %s is stale (hermes-dash serve, pid %s, last seen %.0f s ago); this "
                "process serves its own /metrics", marker_path(home), marker["pid"], age)
    return Mode("single", reason=f"stale marker: last seen {age:.0f} s ago")


# -- the daemon --------------------------------------------------------------------------------------
class Daemon:
    """One `hermes-dash serve`: owns `directory`, serves it on `address`, compacts it, announces itself.

        d = Daemon(home, directory, "127.0.0.1:9464")
        d.start()                  # DaemonError before anything is written or served
        d.run(stop_event)          # compacts every compact_interval seconds until stop_event is set
        d.close()
    """

    def __init__(self, home: str, directory: Optional[str] = None, address: str = DEFAULT.exporter.address,
                 compact_interval: float = DEFAULT.exporter.compact_interval_seconds,
                 max_label_length: int = DEFAULT.instrumentation.max_label_length):
        self.home = os.path.abspath(home)
        self.directory = os.path.abspath(directory or default_directory(self.home))
        self.address = address
        self.compact_interval = compact_interval
        self.max_label_length = max_label_length
        self.server = None
        self._lock_fd: Optional[int] = None

    def start(self) -> None:
        try:
            parse_address(self.address)
        except ValueError as e:
            raise DaemonError(f"--address {self.address!r}: {e}", 2) from None
        try:
            store.check_directory(state_dir(self.home), create=True)
            store.check_directory(self.directory, create=True)
            store.read_archive(self.directory)  # read-only: refuse a damaged one before touching anything
        except store.DamagedArchive as e:
            raise DaemonError(f"{e}. Nothing was served or changed. To start again from zero (every counter "
                              f"restarts), move {store.archive_path(self.directory)} aside.", 2) from None
        except store.StoreError as e:
            raise DaemonError(str(e), 2) from None
        self._lock_fd = self._take_lock()
        try:
            self._check_marker()
            try:
                result = store.compact(self.directory, self.max_label_length)
            except store.DamagedArchive as e:
                raise DaemonError(f"{e}. Nothing was served. To start again from zero (every counter restarts), "
                                  f"move {store.archive_path(self.directory)} aside.", 2) from None
            from .exporter import serve
            try:
                self.server, _ = serve(None, self.address, max_label_length=self.max_label_length,
                                       directory=self.directory)
            except OSError as e:
                raise DaemonError(f"cannot serve /metrics on {self.address}: {e.strerror}") from None
            self._write_marker()
        except BaseException:
            self.close()
            raise
        log.info("hermes-dash serve: /metrics on http://%s/metrics, directory %s (archive generation %d, %d files "
                 "absorbed at start)", self.address, self.directory, result.generation, result.absorbed)

    def _take_lock(self) -> int:
        fd = store.open_lock_file(self.directory, store.DAEMON_LOCK)
        deadline = time.monotonic() + START_LOCK_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                    os.close(fd)
                    raise DaemonError(f"{self.directory}: already served by another hermes-dash serve (pid {holder})")
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _check_marker(self) -> None:
        try:
            marker = read_marker(self.home)
        except ValueError:
            return  # replaced below by ours
        if marker is not None and marker["directory"] != self.directory and daemon_alive(marker["directory"]):
            raise DaemonError(f"{marker_path(self.home)}: Hermes in {self.home} already reports to another "
                              f"hermes-dash serve (pid {marker['pid']}, directory {marker['directory']})")

    def _write_marker(self) -> None:
        path = marker_path(self.home)
        tmp = f"{path}.tmp-{os.getpid()}"
        data = {"version": MARKER_VERSION, "directory": self.directory, "address": self.address, "pid": os.getpid()}
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:  # a full disk, a signal: no half-written marker left beside the real one
            store._unlink(tmp)
            raise

    def heartbeat(self) -> None:
        """Touch the marker: a plugin follows a marker of a stopped daemon for `daemon_grace_seconds` after this."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(marker_path(self.home))

    def compact(self) -> Optional[store.Compaction]:
        try:
            result = store.compact(self.directory, self.max_label_length)
        except Exception as e:  # a damaged archive, a lock held too long: try again next time
            log.error("hermes-dash serve: compacting %s failed: %s", self.directory, e)
            return None
        if result.absorbed or result.damaged:
            log.info("hermes-dash serve: %d files of exited processes archived (%d damaged), generation %d",
                     result.absorbed, result.damaged, result.generation)
        return result

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.compact_interval):
            self.compact()
            self.heartbeat()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the daemon lock; the marker stays for the grace period
            self._lock_fd = None


def run_daemon(home: Optional[str] = None, directory: Optional[str] = None, address: Optional[str] = None,
               compact_interval: Optional[float] = None, config: Any = None) -> int:
    """`hermes-dash serve`: start, compact until SIGTERM or SIGINT, compact once more, stop. 0 when it
    stopped on a signal; DaemonError when it cannot start."""
    cfg = config if config is not None else DEFAULT
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    daemon = Daemon(home or hermes_home(), directory,
                    address or os.environ.get(ADDR_ENV) or cfg.exporter.address,
                    cfg.exporter.compact_interval_seconds if compact_interval is None else compact_interval,
                    cfg.instrumentation.max_label_length)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.start()
        daemon.run(stop)
        daemon.compact()
        daemon.heartbeat()
    finally:
        daemon.close()
        for s, h in previous.items():
            signal.signal(s, h)
    log.info("hermes-dash serve: stopped")
    return 0
