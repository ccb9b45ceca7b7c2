"""Start the real Prometheus and Alertmanager on 127.0.0.1 with free ports, and stop them.

    with alertmanager("deploy/alertmanager/alertmanager.yml", workdir) as am:
        am.post("/api/v2/alerts", [{"labels": {"alertname": "X"}}])
        am.get("/api/v2/alerts")

Used by the tests and the demo. Servers bind loopback only (Alertmanager's cluster listener is turned
off), log to a file in `workdir`, and are stopped (then killed after a grace period) on exit; a server
that does not become ready in time raises with the tail of its log.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional

#: where Debian's prometheus-alertmanager package puts the binary
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
PROMETHEUS_BINARIES = ("prometheus",)


def free_port(preferred: int = 0) -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago: `preferred` when it is free (stable URLs for
    people), else any."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> List[int]:
    """`n` distinct TCP ports on 127.0.0.1 that were free a moment ago (all held at once while chosen, so
    none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def find_binary(names) -> str:
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    raise FileNotFoundError(f"none of {', '.join(names)} found: run `make system-deps`")


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    log_path: str

    def get(self, path: str, timeout: float = 10.0):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()

    def post(self, path: str, payload, timeout: float = 10.0):
        req = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status

    def query_range(self, expr: str, start: float, end: float, step: float, timeout: float = 300.0) -> list:
        """Prometheus' /api/v1/query_range result for `expr`; RuntimeError naming it when it fails."""
        q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        data = self.get(f"/api/v1/query_range?{q}", timeout=timeout)
        if data.get("status") != "success":
            raise RuntimeError(f"{expr}: {data}")
        return data["data"]["result"]

    def log_tail(self, n: int = 30) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])


def _wait_ready(server: Server, timeout: float, ours: Optional[Callable[[Server], bool]] = None,
                path: str = "/-/ready") -> None:
    """Wait until the server answers `path` with 200; fail at once when its process exits. A port picked
    free a moment ago may have been taken by another process since (tests run side by side): `ours`
    checks the answer comes from our process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=1) as r:
                if r.status == 200:
                    if ours is None or ours(server):
                        return
                    raise RuntimeError(f"{server.url} answers, but not as the {server.name} started here (the "
                                       f"port was taken by another process):\n{server.log_tail()}")
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name}: {path} not 200 after {timeout:g}s:\n{server.log_tail()}")


@contextlib.contextmanager
def _run(name: str, argv: List[str], url: str, workdir: str, timeout: float,
         ours: Optional[Callable[[Server], bool]] = None) -> Iterator[Server]:
    log_path = os.path.join(workdir, f"{name}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL)
    server = Server(name, url, proc, log_path)
    try:
        _wait_ready(server, timeout, ours)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def alertmanager(config_file: str, workdir: str, port: Optional[int] = None,
                 timeout: float = 20.0) -> Iterator[Server]:
    """A real Alertmanager on 127.0.0.1:`port` (free if None), clustering off, data under `workdir`."""
    port = port or free_port()
    argv = [find_binary(ALERTMANAGER_BINARIES), f"--config.file={os.path.abspath(config_file)}",
            f"--storage.path={os.path.join(workdir, 'alertmanager-data')}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    with _run("alertmanager", argv, f"http://127.0.0.1:{port}", workdir, timeout) as s:
        yield s


@contextlib.contextmanager
def prometheus(config_file: str, workdir: str, port: Optional[int] = None, data_dir: Optional[str] = None,
               extra_args: tuple = (), timeout: float = 30.0) -> Iterator[Server]:
    """A real Prometheus on 127.0.0.1:`port` (free if None) with its TSDB in `data_dir`."""
    port = port or free_port()
    data = os.path.abspath(data_dir or os.path.join(workdir, "prometheus-data"))
    argv = [find_binary(PROMETHEUS_BINARIES), f"--config.file={os.path.abspath(config_file)}",
            f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
            *extra_args]

    def ours(server: Server) -> bool:
        flags = server.get("/api/v1/status/flags", timeout=5).get("data", {})
        return os.path.abspath(flags.get("storage.tsdb.path", "")) == data
    with _run("prometheus", argv, f"http://127.0.0.1:{port}", workdir, timeout, ours) as s:
        yield s


@contextlib.contextmanager
def prometheus_agent(config_file: str, workdir: str, name: str = "prometheus-agent", port: Optional[int] = None,
                     timeout: float = 30.0) -> Iterator[Server]:
    """A real Prometheus in agent mode (--enable-feature=agent: scrapes and remote-writes, no local
    queries or rules) on 127.0.0.1:`port` (free if None), its WAL under `workdir`."""
    port = port or free_port()
    argv = [find_binary(PROMETHEUS_BINARIES), f"--config.file={os.path.abspath(config_file)}",
            "--enable-feature=agent", f"--storage.agent.path={os.path.join(workdir, name + '-wal')}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with _run(name, argv, f"http://127.0.0.1:{port}", workdir, timeout) as s:
        yield s


class WebhookReceiver:
    """An Alertmanager webhook receiver on 127.0.0.1 (a free port): calls `on_post(receiver, payload)` for
    every notification, the receiver being the URL's path. Pair with
    `deploy.alertmanager_config(cfg, webhook_url=receiver.url)`; `close()` stops it."""

    def __init__(self, on_post: Callable[[str, dict], None]):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                on_post(self.path.strip("/"), json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
