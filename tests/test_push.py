"""`hermes-dash push` against a local HTTP server on 127.0.0.1 that enforces Grafana's request shape."""
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "glsa_test-secret-token-1234"


class FakeGrafana(BaseHTTPRequestHandler):
    """Checks what Grafana's dashboard API documents: POST /api/dashboards/db, a Bearer token, JSON with
    `dashboard` (uid set, id null), `overwrite`, optional `folderUid`. `mode` scripts the answer."""
    mode = "ok"
    received = []
    log_message = lambda *a: None  # noqa: E731

    def _answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/api/dashboards/db":
            return self._answer(404, {"message": "Not found"})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" or self.mode == "401":
            return self._answer(401, {"message": "Invalid API key"})
        if self.headers.get("Content-Type") != "application/json":
            return self._answer(415, {"message": "bad content type"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        d = body.get("dashboard") or {}
        if not d.get("uid") or d.get("id") is not None or body.get("overwrite") is not True:
            return self._answer(400, {"message": "bad request shape"})
        if self.mode == "412":
            return self._answer(412, {"message": "The dashboard has been changed by someone else",
                                      "status": "version-mismatch"})
        FakeGrafana.received.append(body)
        self._answer(200, {"id": len(self.received), "uid": d["uid"], "status": "success", "version": 1,
                           "url": f"/d/{d['uid']}/x"})


@pytest.fixture
def grafana():
    FakeGrafana.received = []
    FakeGrafana.mode = "ok"
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def run(url, *extra, token=TOKEN):
    env = {"PATH": "/usr/bin:/bin", "GRAFANA_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "hermes_dash.cli", "push", "--url", url,
                           "--dir", str(ROOT / "dashboards"), *extra],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_push_uploads_every_dashboard(grafana):
    """All six dashboards are POSTed with the token, overwrite=true, the folder uid and id null."""
    r = run(grafana, "--folder-uid", "hermes")
    assert r.returncode == 0, r.stderr
    assert sorted(b["dashboard"]["uid"] for b in FakeGrafana.received) == sorted(
        f"hermes-{n}" for n in ("overview", "latency", "reliability", "cost", "capacity", "business"))
    assert {b["folderUid"] for b in FakeGrafana.received} == {"hermes"}
    assert TOKEN not in r.stdout + r.stderr


def test_push_401_is_a_clear_error_without_the_token(grafana):
    """A rejected token exits 1 with a message naming the file and 401, never the token itself."""
    FakeGrafana.mode = "401"
    r = run(grafana)
    assert r.returncode == 1
    assert r.stderr.startswith("hermes-dash push: business.json: Grafana at ")
    assert "rejected the token (401 Unauthorized): Invalid API key" in r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_push_412_version_mismatch_is_explained(grafana):
    """Grafana's 412 answer becomes an error naming the file, 412 and Grafana's message."""
    FakeGrafana.mode = "412"
    r = run(grafana)
    assert r.returncode == 1
    assert ("business.json: Grafana refused the dashboard (412 Precondition Failed): "
            "The dashboard has been changed by someone else") in r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_push_without_token_fails_before_sending(grafana):
    """No token: exit 1 naming the variable, nothing sent."""
    r = run(grafana, token="")
    assert r.returncode == 1
    assert "no Grafana token: set GRAFANA_TOKEN" in r.stderr
    assert FakeGrafana.received == []
