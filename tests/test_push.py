"""`hermes-dash push` against local HTTP servers on 127.0.0.1: one that enforces Grafana's request shape, and
the same server misbehaving (redirects, garbage, HTML, silence, slowness); the token never leaves for another
origin and is never printed."""
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "glsa_test-secret-token-1234"
DASHBOARDS = [p.stem for p in sorted((ROOT / "dashboards").glob("*.json"))]


class FakeGrafana(BaseHTTPRequestHandler):
    """Checks what Grafana's dashboard API documents: POST /api/dashboards/db, a Bearer token, JSON with
    `dashboard` (uid set, id null), `overwrite`, optional `folderUid`. `mode` scripts the answer; `seen`
    records (method, path, Authorization) of every request, whatever the mode."""
    mode = "ok"
    received = []
    seen = []
    location = ""
    redirect_code = 302
    stop = threading.Event()
    log_message = lambda *a: None  # noqa: E731

    def _answer(self, code, obj, ctype="application/json"):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        FakeGrafana.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self._answer(200, {"status": "success"})

    def do_POST(self):
        FakeGrafana.seen.append((self.command, self.path, self.headers.get("Authorization")))
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = self.mode
        if mode == "redirect":
            self.send_response(self.redirect_code)
            self.send_header("Location", self.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "hang":  # never answer (until the test ends)
            FakeGrafana.stop.wait(10)
            return
        if mode == "dribble":  # a status line one byte every 50 ms: each read is quick, the answer never ends
            for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200:
                if FakeGrafana.stop.wait(0.05):
                    return
                self.wfile.write(bytes([b]))
                self.wfile.flush()
            return
        if mode == "close":
            self.close_connection = True
            return
        if mode == "html":
            return self._answer(200, b"<!doctype html><html><body>Grafana login</body></html>", "text/html")
        if mode == "garbage":
            return self._answer(200, b"\x00\xff\x1b[31mnot json", "application/json")
        if mode == "not-success":
            return self._answer(200, {"message": "sure"})
        if mode == "huge":
            return self._answer(200, b"{" + b" " * (2 << 20) + b"}")
        if mode == "echo":  # a hostile server sends the token back, with terminal escapes and a newline
            return self._answer(400, {"message": f"bad \x1b[2J token {self.headers.get('Authorization')}\nsecond line"})
        if mode == "500":
            return self._answer(500, b"<html>Internal Server Error</html>", "text/html")
        if self.path != "/api/dashboards/db":
            return self._answer(404, {"message": "Not found"})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" or mode == "401":
            return self._answer(401, {"message": "Invalid API key"})
        if self.headers.get("Content-Type") != "application/json":
            return self._answer(415, {"message": "bad content type"})
        body = json.loads(raw)
        d = body.get("dashboard") or {}
        if not d.get("uid") or d.get("id") is not None or body.get("overwrite") is not True:
            return self._answer(400, {"message": "bad request shape"})
        if mode == "412":
            return self._answer(412, {"message": "The dashboard has been changed by someone else",
                                      "status": "version-mismatch"})
        FakeGrafana.received.append(body)
        self._answer(200, {"id": len(self.received), "uid": d["uid"], "status": "success", "version": 1,
                           "url": f"/d/{d['uid']}/x"})


class Other(FakeGrafana):
    """Another origin (another port): records what reaches it and accepts everything."""
    seen = []

    def do_POST(self):
        Other.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self._answer(200, {"status": "success", "uid": "x", "url": "/d/x"})

    do_GET = do_POST


def serve(handler):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv


@pytest.fixture
def grafana():
    FakeGrafana.received, FakeGrafana.seen, Other.seen = [], [], []
    FakeGrafana.mode, FakeGrafana.redirect_code = "ok", 302
    FakeGrafana.stop = threading.Event()
    srv = serve(FakeGrafana)
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    FakeGrafana.stop.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def other():
    srv = serve(Other)
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def run(url, *extra, token=TOKEN, env=None, timeout=60):
    env = {"PATH": "/usr/bin:/bin", "GRAFANA_TOKEN": token, **(env or {})}
    return subprocess.run([sys.executable, "-m", "hermes_dash.cli", "push", "--url", url,
                           "--dir", str(ROOT / "dashboards"), *extra],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def one_line_failure(r, token=TOKEN):
    """Exit 1, nothing on stdout, one line on stderr without the token; that line."""
    assert (r.returncode, r.stdout) == (1, ""), r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n"), r.stderr
    assert token not in r.stderr and "Traceback" not in r.stderr
    return r.stderr.rstrip("\n")


def test_push_uploads_every_dashboard(grafana):
    """Every dashboard is POSTed with the token, overwrite=true, the folder uid and id null."""
    r = run(grafana, "--folder-uid", "hermes")
    assert r.returncode == 0, r.stderr
    assert sorted(b["dashboard"]["uid"] for b in FakeGrafana.received) == sorted(f"hermes-{n}" for n in DASHBOARDS)
    assert {b["folderUid"] for b in FakeGrafana.received} == {"hermes"}
    assert TOKEN not in r.stdout + r.stderr


def test_push_401_is_a_clear_error_without_the_token(grafana):
    """A rejected token exits 1 with a message naming the file, the URL and 401, never the token itself."""
    FakeGrafana.mode = "401"
    assert one_line_failure(run(grafana)) == (
        f"hermes-dash push: business.json: Grafana at {grafana} rejected the token (401 Unauthorized): "
        f"Invalid API key; check the token's value")


def test_push_412_version_mismatch_is_explained(grafana):
    """Grafana's 412 answer becomes an error naming the file, the URL, 412 and Grafana's message."""
    FakeGrafana.mode = "412"
    assert one_line_failure(run(grafana)).startswith(
        f"hermes-dash push: business.json: Grafana at {grafana} refused the dashboard (412 Precondition Failed): "
        "The dashboard has been changed by someone else; ")


def test_push_without_token_fails_before_sending(grafana):
    """No token: exit 1 naming the variable, nothing sent."""
    assert one_line_failure(run(grafana, token="")) == (
        "hermes-dash push: no Grafana token: set GRAFANA_TOKEN or pass --token-file (a service account token)")
    assert FakeGrafana.seen == []


# -- redirects: never followed, so the token never goes anywhere but --url --------------------------------

@pytest.mark.parametrize("code, where", [(302, "other"), (307, "same"), (308, "https"), (301, "other")])
def test_redirects_are_not_followed(grafana, other, code, where):
    """A 301/302/307/308 to another origin, to another path of the same origin, or to https is not followed:
    exit 1 naming both addresses, one request only, and the redirect target receives nothing."""
    FakeGrafana.mode, FakeGrafana.redirect_code = "redirect", code
    FakeGrafana.location = {"other": f"{other}/api/dashboards/db", "same": f"{grafana}/grafana/api/dashboards/db",
                            "https": grafana.replace("http://", "https://") + "/api/dashboards/db"}[where]
    line = one_line_failure(run(grafana))
    reason = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect"}[code]
    assert line == (f"hermes-dash push: business.json: Grafana at {grafana} answered {code} {reason}, a redirect "
                    f"to {FakeGrafana.location}: not followed (the token goes only to --url); if that is "
                    f"Grafana, use it as --url")
    assert FakeGrafana.seen == [("POST", "/api/dashboards/db", f"Bearer {TOKEN}")]
    assert Other.seen == []


def test_redirect_location_credentials_are_not_printed(grafana):
    """A Location carrying user:password@ is shown without them."""
    FakeGrafana.mode = "redirect"
    FakeGrafana.location = "https://admin:hunter2@evil.example/x"
    line = one_line_failure(run(grafana))
    assert "hunter2" not in line and "admin" not in line
    assert "a redirect to https://evil.example/x: not followed" in line


# -- the token --------------------------------------------------------------------------------------------

def test_token_file_with_trailing_newline_works(grafana, tmp_path):
    """`printf 'tok\\n' > file`: the newline (and surrounding spaces) are stripped, the upload succeeds."""
    f = tmp_path / "token"
    f.write_text(f"  {TOKEN}\r\n\n")
    r = run(grafana, "--token-file", str(f), token="")
    assert r.returncode == 0, r.stderr
    assert {a for _, _, a in FakeGrafana.seen} == {f"Bearer {TOKEN}"}
    assert len(FakeGrafana.received) == len(DASHBOARDS)


@pytest.mark.parametrize("content, problem", [
    (f"{TOKEN}\nsecond".encode(), "has a space or control character at position 27"),
    (f"{TOKEN} x".encode(), "has a space or control character at position 27"),
    (TOKEN.encode() + b"\xff", "has a character that is not printable ASCII at position 27"),
    (("é" + TOKEN).encode(), "has a character that is not printable ASCII at position 0"),
    (b"x" * 5000, "is longer than 4096 bytes: is it the token file?"),
])
def test_malformed_token_is_refused_without_printing_it(grafana, tmp_path, content, problem):
    """A token with an inner newline, space, non-ASCII byte, or absurd length is refused before anything is
    sent, with one line that names the file and never contains the token."""
    f = tmp_path / "token"
    f.write_bytes(content)
    assert one_line_failure(run(grafana, "--token-file", str(f), token="")) == (
        f"hermes-dash push: the Grafana token in {f} {problem}")
    assert FakeGrafana.seen == []


def test_malformed_token_in_environment_is_refused(grafana):
    """The same checks apply to GRAFANA_TOKEN: an inner newline (it used to end in a traceback printing the
    token from http.client's 'Invalid header value')."""
    assert one_line_failure(run(grafana, token=f"{TOKEN}\nx")) == (
        "hermes-dash push: the Grafana token in $GRAFANA_TOKEN has a space or control character at position 27")
    assert FakeGrafana.seen == []


def test_server_echoing_the_token_does_not_get_it_printed(grafana):
    """A server that puts the token, terminal escapes and a newline in its error message: the line printed
    has the token replaced by ***, no escape character and no second line."""
    FakeGrafana.mode = "echo"
    assert one_line_failure(run(grafana)) == (
        f"hermes-dash push: business.json: Grafana at {grafana} answered 400 Bad Request: "
        "bad ?[2J token Bearer *** second line")


# -- URLs: scheme, host, credentials; plain http ----------------------------------------------------------

@pytest.mark.parametrize("url, problem", [
    ("grafana.example", "'grafana.example' is not an http(s) URL: give Grafana's base URL, such as https://grafana.example"),
    ("ftp://127.0.0.1:1/", "'ftp://127.0.0.1:1/' is not an http(s) URL: give Grafana's base URL, such as https://grafana.example"),
    ("https://", "'https://' has no host"),
    ("https://admin:hunter2@grafana.example", "https://grafana.example: credentials in the URL are not used; "
     "the token (GRAFANA_TOKEN or --token-file) is"),
    ("https://grafana.example/?orgId=2", "https://grafana.example/?orgId=2: a query or #fragment has no place in "
     "Grafana's base URL"),
    ("https://grafana.example:99999", "'https://grafana.example:99999' has a bad port"),
    ("https://grafana.example/my grafana", "'https://grafana.example/my grafana' holds a space, a control or a "
     "non-ASCII character: percent-encode it (xn-- for a host name)"),
    ("https://grafäna.example", "'https://grafäna.example' holds a space, a control or a non-ASCII character: "
     "percent-encode it (xn-- for a host name)"),
    ("http://grafana.example", "http://grafana.example: plain http would send the token in clear to "
     "grafana.example; use https, or pass --allow-http to accept that"),
])
def test_bad_urls_are_refused_before_anything_is_sent(url, problem):
    """A URL without a scheme, another scheme (ftp used to hang), no host, credentials, a query, a bad port,
    or plain http to a host that is not this machine: exit 1 with one line, within a few seconds."""
    t = time.monotonic()
    line = one_line_failure(run(url, timeout=20))
    assert time.monotonic() - t < 10
    assert line == f"hermes-dash push: {problem}"
    assert "hunter2" not in line


@pytest.mark.parametrize("url, allow_http, warning", [
    ("http://127.0.0.1:3000", False, None),
    ("http://127.8.9.10:3000/grafana", False, None),
    ("http://[::1]:3000", False, None),
    ("http://localhost:3000", False, None),
    ("https://grafana.example", False, None),
    ("http://grafana.example:3000", True,
     "sending the Grafana token in clear over http to grafana.example (--allow-http): anyone on the way can read it"),
    ("http://10.0.0.7", True,
     "sending the Grafana token in clear over http to 10.0.0.7 (--allow-http): anyone on the way can read it"),
])
def test_plain_http_is_for_this_machine_unless_allowed(url, allow_http, warning):
    """http:// is accepted silently for loopback hosts, refused for others unless --allow-http, and then warned
    about; https is always accepted."""
    from hermes_dash.build.push import PushError, check_url, cleartext_warning
    if not allow_http:
        check_url(url, allow_http=False)
    else:
        with pytest.raises(PushError):
            check_url(url, allow_http=False)
    assert cleartext_warning(check_url(url, allow_http=allow_http)) == warning


def test_plain_http_never_goes_through_a_proxy(grafana, other):
    """With http_proxy/HTTP_PROXY set (a proxy would read the token), http:// to this machine goes direct."""
    r = run(grafana, env={"http_proxy": other, "HTTP_PROXY": other, "https_proxy": other, "no_proxy": ""})
    assert r.returncode == 0, r.stderr
    assert (len(FakeGrafana.received), Other.seen) == (len(DASHBOARDS), [])


# -- answers that are not Grafana's -----------------------------------------------------------------------

@pytest.mark.parametrize("mode, problem", [
    ("html", "answered 200 with text/html, not Grafana's JSON: is --url Grafana's base URL?"),
    ("garbage", "answered 200 with application/json, not Grafana's JSON: is --url Grafana's base URL?"),
    ("not-success", "answered 200 with application/json, not Grafana's JSON: is --url Grafana's base URL?"),
    ("huge", "answered more than 1 MiB: is --url Grafana's base URL?"),
    ("500", "answered 500 Internal Server Error"),
    ("close", "closed the connection without answering"),
])
def test_answers_that_are_not_grafanas_fail_cleanly(grafana, mode, problem):
    """An HTML login page, bytes that are not JSON, JSON without status success, a 2 MiB body, a 500, a closed
    connection: exit 1, one line naming the file and the URL (they used to give tracebacks or exit 0)."""
    FakeGrafana.mode = mode
    assert one_line_failure(run(grafana)) == f"hermes-dash push: business.json: Grafana at {grafana} {problem}"


# -- silence and slowness: bounded by --connect-timeout and --timeout -------------------------------------

@pytest.mark.parametrize("mode", ["hang", "dribble"])
def test_silent_or_slow_server_is_bounded_by_the_timeout(grafana, mode):
    """A server that never answers, or answers one byte every 50 ms forever, is given up after --timeout
    (0.5 s here): exit 1 within 5 s, naming the URL and the option."""
    FakeGrafana.mode = mode
    t = time.monotonic()
    line = one_line_failure(run(grafana, "--timeout", "0.5"))
    assert time.monotonic() - t < 5
    assert line == (f"hermes-dash push: business.json: Grafana at {grafana} did not answer within 0.5 s "
                    f"(--timeout)")


def test_unreachable_server_is_bounded_by_the_connect_timeout():
    """A listener whose accept queue is full never completes the TCP handshake: --connect-timeout 0.3 gives up
    within 5 s, naming the URL."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    filler = socket.create_connection(s.getsockname(), timeout=1)  # fills the queue: further SYNs are dropped
    url = f"http://127.0.0.1:{s.getsockname()[1]}"
    try:
        t = time.monotonic()
        line = one_line_failure(run(url, "--connect-timeout", "0.3"))
        assert time.monotonic() - t < 5
        assert line == (f"hermes-dash push: business.json: cannot connect to Grafana at {url} within 0.3 s "
                        f"(--connect-timeout)")
    finally:
        filler.close()
        s.close()


def test_refused_connection_names_the_url():
    """Nothing listening: exit 1, one line naming the URL and the reason."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    assert one_line_failure(run(url)) == (
        f"hermes-dash push: business.json: cannot reach Grafana at {url}: Connection refused")


@pytest.mark.parametrize("args", [("--timeout", "0"), ("--timeout", "nan"), ("--connect-timeout", "-1"),
                                  ("--timeout", "1e9")])
def test_timeouts_must_be_sensible(args):
    """--timeout and --connect-timeout take seconds above 0 and at most 3600: anything else is a usage error."""
    r = run("http://127.0.0.1:1", *args)
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1] == (f"hermes-dash push: error: argument {args[0]}: expected seconds above 0 "
                                         f"and at most 3600, got {args[1]!r}")


def test_timeout_options_are_documented():
    """`push --help` lists --timeout, --connect-timeout and --allow-http with their defaults."""
    r = subprocess.run([sys.executable, "-m", "hermes_dash.cli", "push", "--help"], capture_output=True, text=True,
                       timeout=30, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert r.returncode == 0
    for words in ("--connect-timeout SECONDS", "(default 5)", "--timeout SECONDS", "(default 30)", "--allow-http"):
        assert words in r.stdout, words


# -- https, and https through a proxy (CONNECT: the proxy sees only ciphertext) ---------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl); the file is both the server's cert and the CA."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return d / "cert.pem", d / "key.pem"


@pytest.fixture
def tls_grafana(certificate, grafana):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*map(str, certificate))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana, bind_and_activate=True)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def connect_proxy():
    """A CONNECT proxy on 127.0.0.1 recording every byte it relays from the client."""
    seen = bytearray()
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(0.2)
    stop = threading.Event()

    def pipe(a, b, record):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if record:
                    seen.extend(data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle(c):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                return c.close()
            head += chunk
        seen.extend(head)
        method, target, _ = head.split(b"\r\n")[0].split(b" ")
        if method != b"CONNECT":
            c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return c.close()
        host, port = target.rsplit(b":", 1)
        up = socket.create_connection((host.decode(), int(port)), timeout=5)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=pipe, args=(up, c, False), daemon=True).start()
        pipe(c, up, True)

    def accept():
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{lsock.getsockname()[1]}", seen
    stop.set()
    lsock.close()


def test_https_upload_verifies_the_certificate(tls_grafana, certificate):
    """Over https with the server's certificate trusted (SSL_CERT_FILE) all six dashboards are uploaded."""
    r = run(tls_grafana, env={"SSL_CERT_FILE": str(certificate[0])})
    assert r.returncode == 0, r.stderr
    assert len(FakeGrafana.received) == len(DASHBOARDS)


def test_untrusted_certificate_is_a_one_line_error(tls_grafana):
    """A certificate nobody vouches for stops the push before the token is sent: one line naming the URL."""
    line = one_line_failure(run(tls_grafana))
    assert line.startswith(f"hermes-dash push: business.json: TLS with Grafana at {tls_grafana} failed: "
                           "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert FakeGrafana.seen == []


def test_https_through_a_proxy_hides_the_token_from_it(tls_grafana, certificate, connect_proxy):
    """With https_proxy set, the proxy relays a CONNECT tunnel: the upload succeeds and the token never
    appears in the bytes the proxy sees."""
    proxy, seen = connect_proxy
    r = run(tls_grafana, env={"SSL_CERT_FILE": str(certificate[0]), "https_proxy": proxy})
    assert r.returncode == 0, r.stderr
    assert len(FakeGrafana.received) == len(DASHBOARDS)
    assert seen.startswith(f"CONNECT 127.0.0.1:{tls_grafana.rsplit(':', 1)[1]} HTTP/1.0\r\n".encode())
    assert TOKEN.encode() not in seen and b"Authorization" not in seen


def test_unexpected_error_is_one_line_with_the_token_redacted():
    """An error push() does not expect (injected into the command's process: one carrying the token in its
    message) still ends as one line at the CLI edge, exit 1, the token replaced by *** and no traceback."""
    inject = ("import runpy, sys\n"
              "import hermes_dash.build.push as P\n"
              "def broken(*a, **k):\n"
              f"    raise KeyError('internal\\nfault {TOKEN}')\n"
              "P._exchange = broken\n"
              "sys.argv = ['hermes-dash', 'push', '--url', 'http://127.0.0.1:1', '--dir', sys.argv[1]]\n"
              "runpy.run_module('hermes_dash.cli', run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", inject, str(ROOT / "dashboards")], capture_output=True, text=True,
                       timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "GRAFANA_TOKEN": TOKEN})
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "hermes-dash push: http://127.0.0.1:1: KeyError: 'internal\\nfault ***'\n")
