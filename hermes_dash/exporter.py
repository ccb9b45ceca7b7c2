"""Serve /metrics for the Hermes plugin, in one process or in prometheus_client multiprocess mode.

    from hermes_dash.exporter import serve
    server = serve(registry, "127.0.0.1:9464")      # a daemon thread; server.shutdown() stops it

Multiprocess mode reads a directory of prometheus_client multiprocess files: $PROMETHEUS_MULTIPROC_DIR
(set before prometheus_client is imported), or the directory `hermes-dash serve` owns (hermes_dash.daemon,
hermes_dash.store). `SafeMultiProcessCollector` reads it, with the archive of exited processes, exactly
and under the directory's lock, without letting one damaged file or one bad label value take /metrics
down; `MetricsServer` lets any worker take /metrics over when the one serving it dies. This module does
not define metrics.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from . import catalogue as C
from . import store
from .config import DEFAULT, parse_address

log = logging.getLogger("hermes_dash")

#: environment variable overriding the exporter address (HOST:PORT)
ADDR_ENV = "HERMES_DASH_METRICS_ADDR"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Optional[str]:
    return os.environ.get(MULTIPROC_ENV) or None


#: prepare PROMETHEUS_MULTIPROC_DIR for this process (the directory's rules live in hermes_dash.store)
prepare_multiprocess_dir = store.prepare


def exposition_registry(registry: Optional[CollectorRegistry],
                        before_collect: Optional[Callable[[], None]] = None,
                        max_label_length: int = DEFAULT.instrumentation.max_label_length,
                        directory: Optional[str] = None) -> CollectorRegistry:
    """The registry /metrics serves: `registry` itself, or a multiprocess collector over the directory
    (`directory`, else $PROMETHEUS_MULTIPROC_DIR).

    `before_collect` runs at every scrape, before any sample is read (the plugin finishes idle sessions).
    In multiprocess mode the files are read by `SafeMultiProcessCollector`: label values are sanitised to
    `max_label_length`, damaged files set aside.
    """
    out = CollectorRegistry()
    # memory and CPU of the process serving /metrics (the capacity dashboard reads them)
    ProcessCollector(registry=out)
    if before_collect is not None:
        out.register(_Hook(before_collect))
    path = directory or multiprocess_dir()
    if path:
        out.register(SafeMultiProcessCollector(path, max_label_length))
    elif registry is not None:
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
#: an empty file younger than this may be a worker between creating and sizing it: skipped, not set aside
EMPTY_FILE_GRACE_SECONDS = 10.0


class SafeMultiProcessCollector:
    """prometheus_client's MultiProcessCollector, made safe against what a shared directory collects
    over months, and reading the archive of exited processes (hermes_dash.store):
    - the directory is read under its shared lock, so a compaction is seen before or after, never half-way;
    - counters and histograms are exact sums (math.fsum over the archive's partials and every file), so
      a compaction changes no served value; an archive that cannot be read fails the scrape (HTTP 500)
      rather than serving totals without it (every counter would seem to reset);
    - a damaged file (empty, truncated, corrupt) is renamed to `*.damaged` with one log line and never read
      again, while the healthy files are still served; label values written by older versions (lone
      surrogates, megabyte names) are sanitised; live gauges of processes that died without
      `mark_process_dead` (SIGKILL) are removed, as `mark_process_dead` would."""

    def __init__(self, path: str, max_label_length: int = DEFAULT.instrumentation.max_label_length):
        self.path = path
        self.max_label_length = max_label_length

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.metrics_core import Metric
        from prometheus_client.multiprocess import MultiProcessCollector
        gauges: Dict[str, Any] = {}
        families: Dict[str, Tuple[str, str]] = {}              # metric -> (kind, help)
        terms: Dict[str, Dict[Tuple[str, tuple], List[float]]] = {}  # metric -> (sample, labels) -> terms
        with store.locked(self.path, shared=True):
            archive = store.read_archive(self.path)
            for kind, metric, sample, labels, help_text, partials in archive.entries():
                families.setdefault(metric, (kind, help_text))
                terms.setdefault(metric, {}).setdefault((sample, tuple(sorted(labels.items()))), []).extend(partials)
            for name, kind, mode, pid, _aside in store.sources(self.path, archive.generation):
                f = os.path.join(self.path, name)
                if mode is not None and mode.startswith("live") and not store.pid_alive(pid):
                    store._unlink(f)  # what mark_process_dead does: the dead process has no live sessions
                    continue
                try:
                    entries = store.read_multiprocess_file(f, self.max_label_length)
                except FileNotFoundError:  # removed since the listing (mark_process_dead)
                    continue
                except Exception as e:  # DamagedFile, an I/O error, or anything else: unreadable
                    if not _is_fresh_empty(f):
                        store.set_aside(f, e)
                    continue
                for metric_name, sample, labels, help_text, value, timestamp in entries:
                    key = tuple(sorted(labels.items()))
                    if kind == "gauge":
                        metric = gauges.get(metric_name)
                        if metric is None:
                            metric = gauges[metric_name] = Metric(metric_name, help_text, "gauge")
                        metric._multiprocess_mode = mode
                        metric.add_sample(sample, key + (("pid", str(pid)),), value, timestamp)
                    else:
                        families.setdefault(metric_name, (kind, help_text))
                        terms.setdefault(metric_name, {}).setdefault((sample, key), []).append(value)
        for spec in C.METRICS:  # no process running: its sessions and queue are 0, not unknown
            if spec.type == C.GAUGE and not spec.labels and spec.multiprocess_mode.startswith("live") \
                    and spec.name not in gauges:
                gauges[spec.name] = Metric(spec.name, spec.help, "gauge")
                gauges[spec.name]._multiprocess_mode = spec.multiprocess_mode
                gauges[spec.name].add_sample(spec.name, (), 0.0)
        out = list(MultiProcessCollector._accumulate_metrics(gauges, True))
        for metric_name, (kind, help_text) in families.items():
            out.append(_exact_family(metric_name, kind, help_text, terms.get(metric_name, {})))
        return out


def _fsum(xs: List[float]) -> float:
    try:
        return math.fsum(xs)
    except OverflowError:
        return math.inf


def _exact_family(name: str, kind: str, help_text: str, terms: Dict[Tuple[str, tuple], List[float]]):
    """One counter, summary or histogram family: each sample the correctly rounded sum of its terms;
    histogram buckets made cumulative, with `_count` the +Inf bucket (prometheus_client's layout)."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample
    from prometheus_client.utils import floatToGoString
    metric = Metric(name, help_text, kind)
    if kind != "histogram":
        metric.samples = [Sample(s, dict(labels), _fsum(xs)) for (s, labels), xs in terms.items()]
        return metric
    buckets: Dict[tuple, Dict[float, List[float]]] = {}
    plain: Dict[tuple, list] = {}
    for (s, labels), xs in terms.items():
        le = next((v for k, v in labels if k == "le"), None)
        if le is None:
            plain.setdefault(labels, []).append(Sample(s, dict(labels), _fsum(xs)))
        else:
            buckets.setdefault(tuple(kv for kv in labels if kv[0] != "le"), {}).setdefault(float(le), []).extend(xs)
    samples = []
    for labels in list(buckets) + [lab for lab in plain if lab not in buckets]:
        acc: List[float] = []
        for bound in sorted(buckets.get(labels, {})):
            acc.extend(buckets[labels][bound])
            samples.append(Sample(name + "_bucket", dict(labels + (("le", floatToGoString(bound)),)), _fsum(acc)))
        if labels in buckets:
            samples.append(Sample(name + "_count", dict(labels), _fsum(acc)))
        samples.extend(plain.get(labels, ()))  # each label set's samples together, as OpenMetrics requires
    metric.samples = samples
    return metric


def _is_fresh_empty(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True  # gone: nothing to set aside
    return st.st_size == 0 and time.time() - st.st_mtime < EMPTY_FILE_GRACE_SECONDS


# -- the /metrics server, and taking it over from a worker that died ----------------------------------
def serve(registry: Optional[CollectorRegistry], address: str,
          before_collect: Optional[Callable[[], None]] = None,
          max_label_length: int = DEFAULT.instrumentation.max_label_length, directory: Optional[str] = None):
    """Start the /metrics HTTP server on `address` in a daemon thread; returns (server, thread)."""
    host, port = parse_address(address)
    return start_http_server(port, addr=host,
                             registry=exposition_registry(registry, before_collect, max_label_length, directory))


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
