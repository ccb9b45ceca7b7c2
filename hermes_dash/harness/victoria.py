"""VictoriaMetrics single-node, vmagent and vmalert (Debian's victoria-metrics package, 1.79) on 127.0.0.1
with free ports, stopped on exit: the scale-out topology's central store, scrapers and ruler.

    with victoria_metrics(workdir) as vm, \\
            vmagent("vmagent-a", "shard-a/scraper.yml", vm.url + "/api/v1/write", workdir), \\
            vmalert(rule_files, vm.url, am.url, workdir, evaluation_interval="1s") as ruler:
        instant(vm, 'up{job="hermes-agent"}')

Every VictoriaMetrics binary answers /-/ready ("for Prometheus compatibility"), so `servers._run` starts and
stops them like Prometheus. The flags below are the ones docs/deployment.md names, each for a reason
measured here:
- VictoriaMetrics `-search.latencyOffset=1s`: by default an instant query for "now" is evaluated 30 s in the
  past (unless it carries nocache=1), and vmalert does not send nocache, so every rule would see data 30 s
  late and an alert on a recorded series about 60 s late.
- vmalert `-disableAlertgroupLabel`: else vmalert adds `alertgroup="<group>"` to every alert and recorded
  series, and the alerts no longer carry the labels Prometheus gives them.
- vmagent `-promscrape.config.strictParse=false`: the generated scraper config carries `remote_write` for a
  Prometheus in agent mode; vmagent takes the URL from `-remoteWrite.url` and would refuse the unknown key.
- `-remoteWrite.flushInterval` (vmalert's default 5s) and vmagent's 1s keep the test's pipeline short.

Two quirks of 1.79 the callers must respect: a series is searchable about 1-5 s after it is written, and a
query that found nothing is cached (the tag-filter cache, reset every 10 s), so a series created after such
a query stays invisible to it for up to 10 s. Start vmalert once the targets' `up` is visible (else
`absent(up)` fires), and after a backfill flush (`force_flush`) before the first query.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import urllib.parse
import urllib.request
from typing import Dict, Iterator, List, Optional, Sequence

import yaml

from ..config import duration_seconds
from .history import rule_stages
from .servers import Server, _run, _wait_ready, find_binary, free_port

#: flags of the central store (besides where it listens and stores): see the module docstring
STORE_FLAGS = ("-search.latencyOffset=1s",)
#: flags of the ruler (besides its URLs, rule files and evaluation interval)
RULER_FLAGS = ("-disableAlertgroupLabel",)
#: flags of each scraper (besides its config, URL and queue directory)
SCRAPER_FLAGS = ("-promscrape.config.strictParse=false",)


def package_version() -> str:
    """The installed victoria-metrics package's version (the binaries are built without it: `-version`
    prints an empty line), or "" when dpkg does not know it."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


@contextlib.contextmanager
def victoria_metrics(workdir: str, port: Optional[int] = None, extra_args: Sequence[str] = (),
                     data_dir: Optional[str] = None, timeout: float = 30.0) -> Iterator[Server]:
    """VictoriaMetrics single-node on 127.0.0.1:`port` (free if None), data in `data_dir` (default
    workdir/vm-data), one day of retention (its minimum), STORE_FLAGS."""
    port = port or free_port()
    argv = [find_binary(("victoria-metrics",)), f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data_dir or os.path.join(workdir, 'vm-data')}", "-retentionPeriod=1d",
            "-loggerLevel=WARN", *STORE_FLAGS, *extra_args]
    with _run("victoria-metrics", argv, f"http://127.0.0.1:{port}", workdir, timeout) as s:
        yield s


@contextlib.contextmanager
def vmagent(name: str, scrape_config: str, remote_write_url: str, workdir: str, port: Optional[int] = None,
            extra_args: Sequence[str] = (), timeout: float = 30.0) -> Iterator[Server]:
    """A vmagent named `name` scraping what `scrape_config` says and remote-writing to `remote_write_url`;
    ready once its scrape configs are loaded (its own /ready, which /-/ready does not wait for)."""
    port = port or free_port()
    argv = [find_binary(("vmagent",)), f"-httpListenAddr=127.0.0.1:{port}",
            f"-promscrape.config={os.path.abspath(scrape_config)}", f"-remoteWrite.url={remote_write_url}",
            f"-remoteWrite.tmpDataPath={os.path.join(workdir, name + '-queue')}", "-remoteWrite.flushInterval=1s",
            "-promscrape.suppressScrapeErrors", "-loggerLevel=WARN", *SCRAPER_FLAGS, *extra_args]
    with _run(name, argv, f"http://127.0.0.1:{port}", workdir, timeout) as s:
        _wait_ready(s, timeout, path="/ready")
        yield s


@contextlib.contextmanager
def vmalert(rule_files: Sequence[str], store_url: str, notifier_urls: Sequence[str], workdir: str,
            evaluation_interval: str = "1m", port: Optional[int] = None, extra_args: Sequence[str] = (),
            timeout: float = 30.0) -> Iterator[Server]:
    """vmalert evaluating `rule_files` against the store at `store_url` (datasource, and where recorded
    series, ALERTS and ALERTS_FOR_STATE are written back and `for` state is restored from), notifying the
    Alertmanagers at `notifier_urls`."""
    port = port or free_port()
    argv = [find_binary(("vmalert",)), f"-httpListenAddr=127.0.0.1:{port}",
            *[f"-rule={os.path.abspath(r)}" for r in rule_files], f"-datasource.url={store_url}",
            f"-remoteWrite.url={store_url}", f"-remoteRead.url={store_url}",
            *[f"-notifier.url={u}" for u in notifier_urls], f"-evaluationInterval={evaluation_interval}",
            "-remoteWrite.flushInterval=1s", f"-external.url=http://127.0.0.1:{port}", "-loggerLevel=WARN",
            *RULER_FLAGS, *extra_args]
    with _run("vmalert", argv, f"http://127.0.0.1:{port}", workdir, timeout) as s:
        yield s


def _rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def replay_rules(rule_files: Sequence[str], store_url: str, start: float, end: float, step: int = 60,
                 timeout: float = 600) -> None:
    """Backfill recording rules over [start, end] with `vmalert -replay` (the counterpart of promtool's
    create-blocks-from rules): evaluated every `step` s, written to the store. `-datasource.queryStep` is
    given because it overrides the query's step (5m by default)."""
    out = subprocess.run([find_binary(("vmalert",)), *[f"-rule={os.path.abspath(r)}" for r in rule_files],
                          f"-datasource.url={store_url}", f"-remoteWrite.url={store_url}",
                          f"-evaluationInterval={step}s", f"-datasource.queryStep={step}s",
                          f"-replay.timeFrom={_rfc3339(start)}", f"-replay.timeTo={_rfc3339(end)}",
                          "-replay.disableProgressBar", "-replay.rulesDelay=0s", "-loggerLevel=WARN",
                          *RULER_FLAGS], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"vmalert -replay failed ({out.returncode}):\n{(out.stdout + out.stderr)[-2000:]}")


def replay_recording_rules(rule_files: Sequence[str], store: Server, start: float, end: float, workdir: str,
                           step: int = 60) -> int:
    """Backfill every recording rule of `rule_files` over [start, end] into the store at `store`: group by
    group (each at its own `interval`, else `step` s), in the stages `history.rule_stages` gives (a group
    that reads another's recorded series after it), flushing the store after each stage so the next one
    reads what it wrote. Returns the number of groups replayed."""
    n = 0
    for k, groups in enumerate(rule_stages(rule_files)):
        for g in groups:
            path = os.path.join(workdir, f"replay-{k}-{n}.yml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"groups": [g]}, f, sort_keys=False)
            replay_rules([path], store.url, start, end, step=int(duration_seconds(g.get("interval") or f"{step}s")))
            n += 1
        force_flush(store)
    return n


def dry_run(rule_files: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`vmalert -dryRun`: parse the rule files with MetricsQL's parser and check their templates; exits."""
    return subprocess.run([find_binary(("vmalert",)), *[f"-rule={os.path.abspath(r)}" for r in rule_files],
                           "-dryRun", "-loggerLevel=ERROR"], capture_output=True, text=True, timeout=timeout)


def import_openmetrics(server: Server, path: str, timeout: float = 300) -> None:
    """POST an OpenMetrics file (the simulator's backfill: seconds timestamps, kept) to the store's
    /api/v1/import/prometheus."""
    with open(path, "rb") as f:
        req = urllib.request.Request(server.url + "/api/v1/import/prometheus", data=f.read(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()


def force_flush(server: Server) -> None:
    """Make everything written so far searchable now (/internal/force_flush)."""
    with urllib.request.urlopen(server.url + "/internal/force_flush", timeout=60) as r:
        r.read()


def instant(server: Server, expr: str, t: Optional[float] = None, timeout: float = 60, **params) -> list:
    """/api/v1/query's result for `expr` (at `t`, else now); RuntimeError naming it when it fails. Extra
    params (nocache=1) are passed as given."""
    q: Dict[str, object] = {"query": expr, **params}
    if t is not None:
        q["time"] = t
    data = server.get("/api/v1/query?" + urllib.parse.urlencode(q), timeout=timeout)
    if data.get("status") != "success":
        raise RuntimeError(f"{expr}: {data}")
    return data["data"]["result"]


def metrics_text(server: Server) -> str:
    """The server's own /metrics."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
        return r.read().decode()


def metric_values(text: str, name: str) -> Dict[str, float]:
    """{label set as written: value} of every sample of `name` in an exposition text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            key, _, val = line.rpartition(" ")
            out[key[len(name):]] = float(val)
    return out


def rule_files_of(directory: str) -> List[str]:
    """The rule files (*.yml) under `directory`, sorted."""
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".yml"))
