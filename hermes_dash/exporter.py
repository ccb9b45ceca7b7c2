"""Serve /metrics for the Hermes plugin, in one process or in prometheus_client multiprocess mode.

    from hermes_dash.exporter import serve
    server = serve(registry, "127.0.0.1:9464")      # a daemon thread; server.shutdown() stops it

Multiprocess mode is on when PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is imported (a
Hermes gateway with several worker processes). `prepare_multiprocess_dir` makes a directory left by an
earlier run safe to reuse. This module does not define metrics.
"""
from __future__ import annotations

import fcntl
import glob
import logging
import os
from typing import Callable, Optional

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from .config import parse_address

log = logging.getLogger("hermes_dash")

#: environment variable overriding the exporter address (HOST:PORT)
ADDR_ENV = "HERMES_DASH_METRICS_ADDR"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Optional[str]:
    return os.environ.get(MULTIPROC_ENV) or None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
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
                        before_collect: Optional[Callable[[], None]] = None) -> CollectorRegistry:
    """The registry /metrics serves: `registry` itself, or a multiprocess collector over the directory.

    `before_collect` runs at every scrape, before any sample is read (the plugin finishes idle sessions).
    """
    out = CollectorRegistry()
    # memory and CPU of the process serving /metrics (the capacity dashboard reads them)
    ProcessCollector(registry=out)
    if before_collect is not None:
        out.register(_Hook(before_collect))
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess
        multiprocess.MultiProcessCollector(out, path=path)
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


def serve(registry: CollectorRegistry, address: str,
          before_collect: Optional[Callable[[], None]] = None):
    """Start the /metrics HTTP server on `address` in a daemon thread; returns (server, thread)."""
    host, port = parse_address(address)
    return start_http_server(port, addr=host, registry=exposition_registry(registry, before_collect))
