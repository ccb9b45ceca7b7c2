"""Upload the generated dashboards to a Grafana over its HTTP API (`POST /api/dashboards/db`).

    GRAFANA_TOKEN=... hermes-dash push --url https://grafana.example --folder-uid hermes

The token is read from an environment variable (default GRAFANA_TOKEN) or a file, stripped of surrounding
whitespace, and must be one word of printable ASCII. It is sent only in the Authorization header of one
POST per dashboard to `--url` itself: redirects are never followed, plain http is refused for any host but
this machine (unless `allow_http`) and never goes through a proxy, https may go through $https_proxy as a
CONNECT tunnel. Every failure is a PushError of one line naming the file and the URL (userinfo removed),
never the token; each request is bounded by a connect timeout and a timeout for the whole answer.
Dashboards are sent with `overwrite: true` (the generated files are the source of truth) and `id: null`
(the uid identifies them).
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from typing import Callable, Dict, List, Optional

TOKEN_ENV = "GRAFANA_TOKEN"
#: seconds to establish the connection (TCP, a proxy's CONNECT, TLS)
CONNECT_TIMEOUT = 5.0
#: seconds for the whole answer to one dashboard, from sending it to the last byte
READ_TIMEOUT = 30.0
#: Grafana answers a saved dashboard with a few hundred bytes
MAX_ANSWER_BYTES = 1 << 20
#: a service account token is about 50 characters
MAX_TOKEN_BYTES = 4096
_LOOPBACK_NAMES = ("localhost",)


class PushError(RuntimeError):
    """A push that failed; the message is one line naming the file and the URL, never the token."""


def read_token(env: str = TOKEN_ENV, token_file: Optional[str] = None) -> str:
    """The token from `token_file` or $`env`, surrounding whitespace stripped; PushError when it is missing or
    not one word of printable ASCII (it would break the header, and http.client prints a bad header)."""
    if token_file:
        source = token_file
        try:
            with open(token_file, "rb") as f:
                raw = f.read(MAX_TOKEN_BYTES + 1)
        except OSError as e:
            raise PushError(f"{token_file}: cannot read the Grafana token file: {e.strerror or type(e).__name__}") \
                from None
    else:
        source = f"${env}"
        raw = os.environb.get(env.encode(), b"") if os.supports_bytes_environ else \
            os.environ.get(env, "").encode("utf-8", "surrogateescape")
    if len(raw) > MAX_TOKEN_BYTES:
        raise PushError(f"the Grafana token in {source} is longer than {MAX_TOKEN_BYTES} bytes: is it the token file?")
    token = raw.strip()
    if not token:
        raise PushError(f"no Grafana token: set {env} or pass --token-file (a service account token)")
    for i, b in enumerate(token):
        if b > 0x7E:
            raise PushError(f"the Grafana token in {source} has a character that is not printable ASCII at position {i}")
        if b <= 0x20 or b == 0x7F:
            raise PushError(f"the Grafana token in {source} has a space or control character at position {i}")
    return token.decode("ascii")


def redact(text: str, secret: Optional[str]) -> str:
    """`text` with `secret` (as written, or escaped as repr and JSON would) replaced by ***."""
    if not secret:
        return text
    for form in sorted({secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _printable(text: str, limit: int = 200) -> str:
    """Untrusted text (a server's message, a Location) as one line: controls replaced by ?, cut to `limit`."""
    out = "".join(c if c.isprintable() else ("" if c == "\r" else " " if c == "\n" else "?") for c in text)
    return out if len(out) <= limit else out[:limit] + "…"


def shown(url: str) -> str:
    """`url` for a message: user:password@ removed, controls replaced."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None or parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            url = urllib.parse.urlunsplit(parts._replace(netloc=host))
    except ValueError:
        url = url.rpartition("@")[2] if "@" in url else url
    return _printable(url)


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: traffic that never leaves this machine."""
    if host.lower().rstrip(".") in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_http: bool = False) -> urllib.parse.SplitResult:
    """Grafana's base URL, parsed, or PushError: http(s) with a host, no credentials, query or fragment, and
    http only for this machine unless `allow_http`."""
    try:
        parts: Optional[urllib.parse.SplitResult] = urllib.parse.urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https"):
        raise PushError(f"{shown(url)!r} is not an http(s) URL: give Grafana's base URL, such as https://grafana.example")
    if not parts.hostname:
        raise PushError(f"{shown(url)!r} has no host")
    if any(not 0x21 <= ord(c) <= 0x7E for c in url):  # http.client would refuse it with a traceback
        raise PushError(f"{shown(url)!r} holds a space, a control or a non-ASCII character: percent-encode it "
                        f"(xn-- for a host name)")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is not None and port <= 0:
        raise PushError(f"{shown(url)!r} has a bad port")
    if parts.username is not None or parts.password is not None:
        raise PushError(f"{shown(url)}: credentials in the URL are not used; the token (GRAFANA_TOKEN or "
                        f"--token-file) is")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise PushError(f"{shown(url)}: a query or #fragment has no place in Grafana's base URL")
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise PushError(f"{shown(url)}: plain http would send the token in clear to {parts.hostname}; use https, "
                        f"or pass --allow-http to accept that")
    return parts


def cleartext_warning(parts: urllib.parse.SplitResult) -> Optional[str]:
    """The warning for plain http to another machine (accepted with allow_http), or None."""
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        return (f"sending the Grafana token in clear over http to {parts.hostname} (--allow-http): "
                f"anyone on the way can read it")
    return None


def _https_proxy(host: str) -> Optional[urllib.parse.SplitResult]:
    """$https_proxy for `host` unless $no_proxy exempts it (as urllib reads them); only https uses a proxy."""
    proxy = urllib.request.getproxies_environment().get("https")
    if not proxy or urllib.request.proxy_bypass_environment(host):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return urllib.parse.urlsplit(proxy)


def _connection(parts: urllib.parse.SplitResult, connect_timeout: float) -> http.client.HTTPConnection:
    host = parts.hostname or ""
    if parts.scheme == "http":  # never through a proxy: it would read the token
        return http.client.HTTPConnection(host, parts.port or 80, timeout=connect_timeout)
    context = ssl.create_default_context()
    proxy = _https_proxy(host)
    if proxy is None:
        return http.client.HTTPSConnection(host, parts.port or 443, timeout=connect_timeout, context=context)
    conn = http.client.HTTPSConnection(proxy.hostname or "", proxy.port or 8080, timeout=connect_timeout,
                                       context=context)
    headers = {}
    if proxy.username is not None:
        import base64
        creds = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
    conn.set_tunnel(host, parts.port or 443, headers=headers)
    return conn


class _Answer:
    def __init__(self, status: int, reason: str, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Timeout(Exception):
    pass


def _exchange(parts: urllib.parse.SplitResult, path: str, body: bytes, headers: Dict[str, str],
              connect_timeout: float, timeout: float) -> _Answer:
    """One POST and its whole answer (at most MAX_ANSWER_BYTES + 1 bytes of body), or an exception. The
    answer must arrive within `timeout` seconds in total: a watchdog shuts the socket at the deadline, so a
    server sending one byte at a time cannot stretch it."""
    conn = _connection(parts, connect_timeout)
    expired = threading.Event()

    def expire():
        expired.set()
        try:
            socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
        except (OSError, TypeError, AttributeError):
            pass
    try:
        conn.connect()  # TCP, a proxy's CONNECT and TLS, each step within connect_timeout
        conn.sock.settimeout(timeout)
        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read(MAX_ANSWER_BYTES + 1)
            if resp.length and len(data) <= MAX_ANSWER_BYTES:  # read(amt) does not check Content-Length
                raise http.client.IncompleteRead(data, resp.length)
        except (OSError, http.client.HTTPException) as e:
            if expired.is_set() or isinstance(e, TimeoutError):
                raise _Timeout() from None
            raise
        finally:
            watchdog.cancel()
        if expired.is_set():
            raise _Timeout()
        return _Answer(resp.status, resp.reason, resp.headers, data)
    finally:
        conn.close()


def _message(body: bytes) -> str:
    try:
        msg = json.loads(body).get("message", "")
    except (ValueError, AttributeError, RecursionError):
        msg = ""
    return f": {_printable(msg)}" if isinstance(msg, str) and msg else ""


def _explain(a: _Answer, name: str, url: str) -> str:
    """A refusal in one line: the file, the URL, the status and Grafana's message."""
    at = f"{name}: Grafana at {url}"
    msg = _message(a.body)
    if a.status == 401:
        return f"{at} rejected the token (401 Unauthorized){msg}; check the token's value"
    if a.status == 403:
        return f"{at} does not let the token write dashboards in that folder (403 Forbidden){msg}"
    if a.status == 412:
        return (f"{at} refused the dashboard (412 Precondition Failed){msg}; another dashboard has its title "
                f"or uid in the folder, or it changed since (push sends overwrite=true, so this usually means "
                f"a uid/title clash with a dashboard in another folder)")
    if a.status == 404:
        return f"{at} answered 404 Not Found{msg}; check --folder-uid and the Grafana URL"
    if 300 <= a.status < 400:
        location = a.headers.get("Location", "")
        target = urllib.parse.urljoin(url + "/", location) if location else "nowhere"
        return (f"{at} answered {a.status} {_printable(a.reason, 40)}, a redirect to {shown(target)}: not followed "
                f"(the token goes only to --url); if that is Grafana, use it as --url")
    return f"{at} answered {a.status} {_printable(a.reason, 40)}{msg}"


def _failure(e: BaseException, name: str, url: str, connect_timeout: float) -> str:
    """A transport failure in one line."""
    if isinstance(e, ssl.SSLError):
        return f"{name}: TLS with Grafana at {url} failed: {_printable(str(e) or type(e).__name__)}"
    if isinstance(e, TimeoutError):  # only connect() raises it: later ones are _Timeout
        return f"{name}: cannot connect to Grafana at {url} within {connect_timeout:g} s (--connect-timeout)"
    if isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return f"{name}: Grafana at {url} closed the connection without answering"
    if isinstance(e, http.client.IncompleteRead):
        return f"{name}: Grafana at {url} closed the connection in the middle of its answer"
    if isinstance(e, OSError):
        return f"{name}: cannot reach Grafana at {url}: {_printable(e.strerror or str(e) or type(e).__name__)}"
    if isinstance(e, ValueError):
        return f"{name}: cannot send to Grafana at {url}: {_printable(str(e) or type(e).__name__)}"
    return f"{name}: Grafana at {url} answered something that is not HTTP ({type(e).__name__})"


def _load_dashboard(path: str, name: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except OSError as e:
        raise PushError(f"{path}: cannot read: {e.strerror}") from None
    except (ValueError, RecursionError) as e:
        raise PushError(f"{path}: not a dashboard: {_printable(str(e))}") from None
    if not isinstance(dashboard, dict) or not isinstance(dashboard.get("uid"), str):
        raise PushError(f"{path}: not a dashboard: expected a JSON object with a uid")
    return dashboard


def push(paths: List[str], url: str, token: str, folder_uid: Optional[str] = None,
         timeout: float = READ_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT, allow_http: bool = False,
         warn: Optional[Callable[[str], None]] = None) -> List[Dict]:
    """POST each dashboard file to `url`; returns Grafana's answers. Stops at the first failure (PushError,
    one line naming the file and the URL, with the token redacted)."""
    parts = check_url(url, allow_http)
    warning = cleartext_warning(parts)
    if warning and warn:
        warn(warning)
    base = shown(url).rstrip("/")
    endpoint = parts.path.rstrip("/") + "/api/dashboards/db"
    answers = []
    for path in paths:
        name = os.path.basename(path)
        dashboard = _load_dashboard(path, name)
        dashboard["id"] = None
        body = {"dashboard": dashboard, "overwrite": True, "message": "hermes-dash push"}
        if folder_uid:
            body["folderUid"] = folder_uid
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Accept": "application/json", "User-Agent": "hermes-dash"}
        try:
            a = _exchange(parts, endpoint, json.dumps(body).encode(), headers, connect_timeout, timeout)
        except _Timeout:
            raise PushError(f"{name}: Grafana at {base} did not answer within {timeout:g} s (--timeout)") from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise PushError(redact(_failure(e, name, base, connect_timeout), token)) from None
        if len(a.body) > MAX_ANSWER_BYTES:
            raise PushError(f"{name}: Grafana at {base} answered more than 1 MiB: is --url Grafana's base URL?")
        if a.status != 200:
            raise PushError(redact(_explain(a, name, base), token))
        try:
            answer = json.loads(a.body)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            kind = _printable(a.headers.get_content_type(), 60)
            raise PushError(f"{name}: Grafana at {base} answered 200 with {kind}, not Grafana's JSON: is --url "
                            f"Grafana's base URL?")
        answers.append(answer)
    return answers
