"""Serve /metrics for the Hermes plugin, in one process or in prometheus_client multiprocess mode.

    from hermes_dash.exporter import serve
    server = serve(registry, "127.0.0.1:9464")      # a daemon thread; server.shutdown() stops it

Multiprocess mode is on when PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is imported (a
Hermes gateway with several worker processes). `prepare_multiprocess_dir` makes a directory left by an
earlier run safe to reuse; `SafeMultiProcessCollector` reads it without letting one damaged file or one
bad label value take /metrics down; `MetricsServer` lets any worker take /metrics over when the one
serving it dies. This module does not define metrics.
"""
from __future__ import annotations

import fcntl
import glob
import json
import logging
import math
import os
import re
import struct
import threading
import time
from typing import Any, Callable, Dict, Optional

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from .config import DEFAULT, parse_address
from .instrumentation import label_value_is_clean, sanitise_label_value

log = logging.getLogger("hermes_dash")

#: environment variable overriding the exporter address (HOST:PORT)
ADDR_ENV = "HERMES_DASH_METRICS_ADDR"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Optional[str]:
    return os.environ.get(MULTIPROC_ENV) or None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process; a number no pid can be
        return False
    except PermissionError:
        return True
    return True


def prepare_multiprocess_dir(path: str, pid: Optional[int] = None) -> None:
    """Make `path` safe for this process before it writes its first sample.

    prometheus_client keys its files by pid, so a file left by an earlier run whose pid this process
    now has would be continued as if it were ours (a stale active-sessions gauge, for one). Under an
    exclusive lock on `path/.hermes-dash.lock`:
    - live gauges (livesum/liveall/...) of dead processes and of this pid are deleted: their sessions
      ended with them;
    - counter and histogram files of this pid are renamed aside, not deleted: their counts stay in the
      sum, so no counter ever goes backwards (which rate() would read as a reset and a huge increase).
    Files of other live processes are untouched.
    """
    pid = os.getpid() if pid is None else pid
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, ".hermes-dash.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for f in glob.glob(os.path.join(path, "*.db")):
            base = os.path.basename(f)[:-3]
            parts = base.split("_")
            try:
                owner = int(parts[-1])
            except ValueError:
                continue  # already renamed aside
            if parts[0] == "gauge" and parts[1] in ("livesum", "liveall", "livemax", "livemin",
                                                    "livemostrecent"):
                if owner == pid or not _pid_alive(owner):
                    os.unlink(f)
            elif owner == pid:
                n = 0
                while os.path.exists(os.path.join(path, f"{base}-stale{n}.db")):
                    n += 1
                os.replace(f, os.path.join(path, f"{base}-stale{n}.db"))


def exposition_registry(registry: CollectorRegistry,
                        before_collect: Optional[Callable[[], None]] = None,
                        max_label_length: int = DEFAULT.instrumentation.max_label_length) -> CollectorRegistry:
    """The registry /metrics serves: `registry` itself, or a multiprocess collector over the directory.

    `before_collect` runs at every scrape, before any sample is read (the plugin finishes idle sessions).
    In multiprocess mode the files are read by `SafeMultiProcessCollector`: label values are sanitised to
    `max_label_length`, damaged files set aside.
    """
    out = CollectorRegistry()
    # memory and CPU of the process serving /metrics (the capacity dashboard reads them)
    ProcessCollector(registry=out)
    if before_collect is not None:
        out.register(_Hook(before_collect))
    path = multiprocess_dir()
    if path:
        out.register(SafeMultiProcessCollector(path, max_label_length))
    else:
        out.register(_Forward(registry))
    return out


class _Hook:
    def __init__(self, fn: Callable[[], None]):
        self._fn = fn

    def describe(self):
        return []

    def collect(self):
        try:
            self._fn()
        except Exception:  # a scrape must never fail because of housekeeping
            log.exception("hermes-dash: scrape housekeeping failed")
        return []


class _Forward:
    def __init__(self, registry: CollectorRegistry):
        self._registry = registry

    def describe(self):
        return []

    def collect(self):
        return self._registry.collect()


# -- multiprocess files, read defensively ------------------------------------------------------------
_FILE = re.compile(r"(counter|histogram|summary|gauge_([a-z]+))_(\d+)(?:-stale\d+)?\.db")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: an empty file younger than this may be a worker between creating and sizing it: skipped, not set aside
EMPTY_FILE_GRACE_SECONDS = 10.0
_HELP_MAX = 1024


class DamagedFile(ValueError):
    """A multiprocess file that cannot be read: empty, truncated, or not what prometheus_client writes."""


def read_multiprocess_file(path: str, max_label_length: int):
    """The samples of one prometheus_client multiprocess file: [(metric, sample name, labels, help,
    value, timestamp)], label values sanitised to `max_label_length`, non-finite values left out.

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
        except (UnicodeDecodeError, ValueError, TypeError) as e:
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
        clean = {k: v if k == "le" or label_value_is_clean(v, max_label_length)
                 else sanitise_label_value(v, max_label_length) for k, v in labels.items()}
        if not label_value_is_clean(help_text, _HELP_MAX):
            help_text = sanitise_label_value(help_text, _HELP_MAX)
        out.append((metric, name, clean, help_text, value, timestamp))
    return out


class SafeMultiProcessCollector:
    """prometheus_client's MultiProcessCollector, made safe against what a shared directory collects
    over months: a damaged file (empty, truncated, corrupt) is renamed to `*.db.damaged` with one log
    line and never read again, while the healthy files are still served; label values written by older
    versions (lone surrogates, megabyte names) are sanitised; live gauges of processes that died
    without `mark_process_dead` (SIGKILL) are removed, as `mark_process_dead` would. The files are merged
    by prometheus_client itself (`MultiProcessCollector._accumulate_metrics`)."""

    def __init__(self, path: str, max_label_length: int = DEFAULT.instrumentation.max_label_length):
        self.path = path
        self.max_label_length = max_label_length

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.metrics_core import Metric
        from prometheus_client.multiprocess import MultiProcessCollector
        metrics: Dict[str, Any] = {}
        for f in sorted(glob.glob(os.path.join(self.path, "*.db"))):
            m = _FILE.fullmatch(os.path.basename(f))
            if m is None:
                continue  # not a prometheus_client file
            typ, mode, pid = ("gauge", m.group(2), m.group(3)) if m.group(2) else (m.group(1), None, m.group(3))
            if mode is not None and mode.startswith("live") and not _pid_alive(int(pid)):
                _unlink(f)  # what mark_process_dead does: the dead process has no live sessions
                continue
            try:
                entries = read_multiprocess_file(f, self.max_label_length)
            except FileNotFoundError:  # removed since the glob (mark_process_dead)
                continue
            except Exception as e:  # DamagedFile, an I/O error, or anything else: unreadable
                if not _is_fresh_empty(f):
                    _set_aside(f, e)
                continue
            for metric_name, name, labels, help_text, value, timestamp in entries:
                metric = metrics.get(metric_name)
                if metric is None:
                    metric = metrics[metric_name] = Metric(metric_name, help_text, typ)
                key = tuple(sorted(labels.items()))
                if typ == "gauge":
                    metric._multiprocess_mode = mode
                    metric.add_sample(name, key + (("pid", pid),), value, timestamp)
                else:
                    metric.add_sample(name, key, value)
        return MultiProcessCollector._accumulate_metrics(metrics, True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _is_fresh_empty(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True  # gone: nothing to set aside
    return st.st_size == 0 and time.time() - st.st_mtime < EMPTY_FILE_GRACE_SECONDS


def _set_aside(path: str, why: Exception) -> None:
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


# -- the /metrics server, and taking it over from a worker that died ----------------------------------
def serve(registry: CollectorRegistry, address: str,
          before_collect: Optional[Callable[[], None]] = None,
          max_label_length: int = DEFAULT.instrumentation.max_label_length):
    """Start the /metrics HTTP server on `address` in a daemon thread; returns (server, thread)."""
    host, port = parse_address(address)
    return start_http_server(port, addr=host,
                             registry=exposition_registry(registry, before_collect, max_label_length))


class MetricsServer:
    """/metrics on `address`, now or as soon as the address is free.

    When the address is taken (another worker of the same gateway serves the shared multiprocess
    directory), a daemon thread retries every `retry_seconds`; when the serving worker dies its port is
    free again and the first worker to retry takes it over. Any worker's server serves every worker's
    counters (multiprocess mode reads the shared directory).

        server = MetricsServer(registry, "127.0.0.1:9464", retry_seconds=5.0)
        server.serving        # True once this process serves /metrics
        server.close()
    """

    def __init__(self, registry: CollectorRegistry, address: str,
                 before_collect: Optional[Callable[[], None]] = None, retry_seconds: float = 5.0,
                 max_label_length: int = DEFAULT.instrumentation.max_label_length):
        self.address = address
        self.retry_seconds = retry_seconds
        self._args = (registry, address, before_collect, max_label_length)
        self._server = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        parse_address(address)  # ValueError for a bad address, at once
        try:
            self._bind()
        except OSError as e:
            log.warning("hermes-dash: cannot serve /metrics on %s (%s); metrics are still recorded%s",
                        address, e.strerror, f", retrying every {retry_seconds:g} s" if retry_seconds > 0 else "")
            if retry_seconds > 0:
                threading.Thread(target=self._retry, name="hermes-dash-bind", daemon=True).start()

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> Optional[int]:
        return self._server.server_port if self._server is not None else None

    def _bind(self) -> None:
        server, _thread = serve(*self._args)
        with self._lock:
            if self._stop.is_set():  # closed while binding
                server.shutdown()
                server.server_close()
                return
            self._server = server

    def _retry(self) -> None:
        while not self._stop.wait(self.retry_seconds):
            try:
                self._bind()
            except OSError:
                continue
            except Exception:
                log.exception("hermes-dash: serving /metrics on %s failed; not retrying", self.address)
                return
            if self._server is not None:
                log.info("hermes-dash: took over /metrics on http://%s/metrics", self.address)
            return

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
