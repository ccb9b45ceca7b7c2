"""Upload the generated dashboards to a Grafana over its HTTP API (`POST /api/dashboards/db`).

    GRAFANA_TOKEN=... hermes-dash push --url https://grafana.example --folder-uid hermes

The token is read from an environment variable (default GRAFANA_TOKEN) or a file, sent only in the
Authorization header, and never printed, logged or put in an error. Dashboards are sent with
`overwrite: true` (the generated files are the source of truth) and `id: null` (the uid identifies them).
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Dict, List, Optional

TOKEN_ENV = "GRAFANA_TOKEN"


class PushError(RuntimeError):
    """A dashboard Grafana did not accept; the message names the file and what Grafana said."""


def read_token(env: str = TOKEN_ENV, token_file: Optional[str] = None) -> str:
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise PushError(f"{token_file}: cannot read the Grafana token file: {e.strerror}") from None
    else:
        token = os.environ.get(env, "").strip()
    if not token:
        raise PushError(f"no Grafana token: set {env} or pass --token-file (a service account token)")
    return token


def _explain(status: int, body: bytes, name: str, url: str) -> str:
    try:
        msg = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        msg = ""
    msg = f": {msg}" if msg else ""
    if status == 401:
        return f"{name}: Grafana at {url} rejected the token (401 Unauthorized){msg}; check the token's value"
    if status == 403:
        return f"{name}: the token may not write dashboards in that folder (403 Forbidden){msg}"
    if status == 412:
        return (f"{name}: Grafana refused the dashboard (412 Precondition Failed){msg}; another dashboard "
                f"has its title or uid in the folder, or it changed since (push sends overwrite=true, so "
                f"this usually means a uid/title clash with a dashboard in another folder)")
    if status == 404:
        return f"{name}: not found (404){msg}; check --folder-uid and the Grafana URL"
    return f"{name}: Grafana answered {status}{msg}"


def push(paths: List[str], url: str, token: str, folder_uid: Optional[str] = None,
         timeout: float = 30.0) -> List[Dict]:
    """POST each dashboard file; returns Grafana's answers. Stops at the first refusal (PushError)."""
    endpoint = url.rstrip("/") + "/api/dashboards/db"
    answers = []
    for path in paths:
        name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
        dashboard["id"] = None
        body = {"dashboard": dashboard, "overwrite": True, "message": "hermes-dash push"}
        if folder_uid:
            body["folderUid"] = folder_uid
        req = urllib.request.Request(endpoint, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                answers.append(json.loads(r.read() or b"{}"))
        except urllib.error.HTTPError as e:
            raise PushError(_explain(e.code, e.read(), name, url)) from None
        except urllib.error.URLError as e:
            raise PushError(f"{name}: cannot reach Grafana at {url}: {e.reason}") from None
    return answers
