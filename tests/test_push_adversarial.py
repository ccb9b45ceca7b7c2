"""Adversarial Grafana, a standing suite: a raw TCP server on 127.0.0.1 answers push's POST with whatever
hypothesis writes — any status (redirects with Locations to other origins, with credentials), wrong or
missing Content-Length, chunked bodies, HTML, bytes that are not JSON, JSON echoing the token with terminal
escapes, more than 1 MiB, bytes that are not HTTP, nothing at all, or too late. Property: push() either
returns Grafana's answer — exactly when the answer is a well-formed 200 carrying Grafana's JSON — or raises
PushError of one printable line naming the file and the URL, never containing the token, within the
timeout; one request per dashboard, never a second one (no redirect followed)."""
import json
import socketserver
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hermes_dash.build.push import PushError, push

TOKEN = "glsa_adversarial-token-5678"
TIMEOUT = 0.25


class Script:
    """What the server sends next, and what it saw."""
    answer = b""
    delay = 0.0
    requests = []


class RawGrafana(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(2)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            Script.requests.append(head.split(b"\r\n")[0])
            if Script.delay:
                time.sleep(Script.delay)
            sock.sendall(Script.answer)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server():
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RawGrafana)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    p = tmp_path_factory.mktemp("dash") / "small.json"
    p.write_text(json.dumps({"uid": "hermes-small", "title": "small", "panels": []}))
    return str(p)


SUCCESS = {"id": 1, "uid": "hermes-small", "url": "/d/hermes-small/small", "status": "success", "version": 1}
text = st.text(st.characters(codec="utf-8"), max_size=30)
bodies = st.one_of(
    st.just(json.dumps(SUCCESS).encode()),
    st.builds(lambda m: json.dumps({"message": m}).encode(), st.one_of(text, st.sampled_from([
        f"token Bearer {TOKEN}", f"\x1b[31m{TOKEN}\x1b[0m\nline two", "x" * 500]))),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.sampled_from(["status", "uid", "message"]),
                                                                st.one_of(text, st.integers(), st.none()))),
    st.sampled_from([b"", b"<!doctype html><html>Grafana</html>", b"[1, 2]", b"null", b'"success"',
                     b"{" * 100000 + b"}" * 100000, b"{" + b" " * (1 << 20) + b"}"]),
    st.binary(max_size=64),
)
statuses = st.one_of(st.sampled_from([200, 200, 200, 201, 204, 301, 302, 303, 307, 308, 400, 401, 403, 404, 412,
                                      500, 502]), st.integers(100, 999))
locations = st.sampled_from([None, "https://evil.example/api/dashboards/db", "http://admin:hunter2@127.0.0.1:1/x",
                             "/grafana/api/dashboards/db", "\x1b[2J", f"https://{TOKEN}.example/"])
framings = st.sampled_from(["length", "length", "short-length", "long-length", "chunked", "bad-chunked", "close"])


@st.composite
def answers(draw):
    """(bytes the server sends, whether that is a well-formed HTTP/1.1 200 with Grafana's JSON)."""
    kind = draw(st.sampled_from(["http"] * 8 + ["garbage", "nothing"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200)), False
    if kind == "nothing":
        return b"", False
    code, body, framing = draw(statuses), draw(bodies), draw(framings)
    reason = draw(st.sampled_from(["OK", "Found", "", "Whatever", "\xe9t\xe9"]))
    headers = [f"Content-Type: {draw(st.sampled_from(['application/json', 'text/html', 'text/plain', 'x']))}"]
    location = draw(locations)
    if location is not None:
        headers.append(f"Location: {location}")
    if framing == "length":
        headers.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing in ("short-length", "long-length"):
        headers.append(f"Content-Length: {max(0, len(body) + (-1 if framing == 'short-length' else 7))}")
        payload = body
    elif framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif framing == "bad-chunked":
        headers.append("Transfer-Encoding: chunked")
        payload = b"zz\r\n" + body
    else:  # no length: the body ends when the connection closes
        headers.append("Connection: close")
        payload = body
    head = f"HTTP/1.1 {code} {reason}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    well_formed = framing in ("length", "chunked", "close") and code == 200 and \
        isinstance(answer, dict) and answer.get("status") == "success" and len(body) <= (1 << 20)
    return head.encode("latin-1") + payload, well_formed


@settings(max_examples=250, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(answer=answers(), late=st.sampled_from([False] * 24 + [True]))
def test_any_answer_ends_in_success_or_one_clean_line(server, dashboard, answer, late):
    """Whatever the server sends (or withholds), push succeeds exactly for a well-formed 200 carrying Grafana's
    JSON in time, and otherwise raises one printable line naming the file and the URL, without the token,
    within the timeout; each push sends exactly one request."""
    Script.answer, well_formed = answer
    Script.delay = TIMEOUT + 0.15 if late else 0.0
    Script.requests = []
    t = time.monotonic()
    try:
        result = push([dashboard], server, TOKEN, timeout=TIMEOUT, connect_timeout=1.0)
    except PushError as e:
        message = str(e)
        assert not (well_formed and not late), message
        assert message.startswith("small.json: ") and server in message, message
        assert message.isprintable() and TOKEN not in message and "hunter2" not in message, message
        assert len(message) < 700, message
    else:
        assert well_formed and not late, (Script.answer[:200], result)
        assert result[0]["status"] == "success"
    assert time.monotonic() - t < TIMEOUT + 1.5
    deadline = time.monotonic() + 1
    while not Script.requests and time.monotonic() < deadline:  # the handler records after reading
        time.sleep(0.005)
    assert Script.requests == [b"POST /api/dashboards/db HTTP/1.1"]


def test_suite_server_sees_the_token_only_in_the_header(server, dashboard):
    """The fake server is reached with the token in the Authorization header (the suite tests the real path)."""
    seen = []

    class Tap(RawGrafana):
        def handle(self):
            seen.append(self.request.recv(65536))
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tap)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with pytest.raises(PushError):
            push([dashboard], f"http://127.0.0.1:{srv.server_address[1]}", TOKEN, timeout=TIMEOUT)
    finally:
        srv.shutdown()
        srv.server_close()
    head = seen[0].split(b"\r\n\r\n")[0].decode()
    assert f"Authorization: Bearer {TOKEN}" in head.split("\r\n")
    assert head.split("\r\n")[0] == "POST /api/dashboards/db HTTP/1.1"
