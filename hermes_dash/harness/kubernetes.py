"""A stand-in Kubernetes API server on 127.0.0.1 that lists pods, for testing pod discovery without a cluster.

    with FakeKubernetes([pod("hermes", "hermes-agent-a", {"app.kubernetes.io/name": "hermes-agent"},
                             "127.0.0.1", {"metrics": 9464})]) as api:
        # kubernetes_sd_configs: [{role: pod, api_server: api.url, ...}]
        api.requests   # the paths and queries the discoverer asked for

It answers what a discoverer's list-then-watch needs (vmagent's, client-go's): `GET /api/v1/pods` or
`/api/v1/namespaces/<ns>/pods` with an optional equality `labelSelector` -> a PodList with a
resourceVersion; the same with `watch=1` -> a watch stream that stays open and sends nothing (the pods do
not change). Pods are served as given; their IP and ports are where the discoverer's scraper will go.
Nothing else of the API (auth, other resources) is there: this is a stand-in, not a cluster.
"""
from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from typing import Dict, List, Mapping, Sequence, Tuple


def pod(namespace: str, name: str, labels: Mapping[str, str], ip: str, ports: Mapping[str, int],
        phase: str = "Running", container: str = "agent") -> dict:
    """A Pod object as the API server returns it: one container with named ports, Ready when Running."""
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "labels": dict(labels),
                     "resourceVersion": "1"},
        "spec": {"nodeName": "node-1", "containers": [{
            "name": container, "image": "hermes-agent", "ports": [
                {"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports.items()]}]},
        "status": {"phase": phase, "podIP": ip, "hostIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if phase == "Running" else "False"}]},
    }


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeKubernetes:
    """The stand-in API server (a context manager: serves on enter, stops on exit)."""

    def __init__(self, pods: Sequence[dict]):
        self.pods = list(pods)
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        self._stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                outer.requests.append((url.path, query))
                parts = url.path.strip("/").split("/")
                if parts[:2] != ["api", "v1"] or parts[-1] != "pods" or len(parts) not in (3, 5):
                    self.send_error(404)
                    return
                namespace = parts[3] if len(parts) == 5 else None
                if query.get("watch") in ("1", "true"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()
                    outer._stop.wait(float(query.get("timeoutSeconds", "60")))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                items = [p for p in outer.pods if (namespace is None or p["metadata"]["namespace"] == namespace)
                         and _matches(p["metadata"]["labels"], query.get("labelSelector", ""))]
                body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                                   "items": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeKubernetes":
        threading.Thread(target=self.server.serve_forever, name="fake-kubernetes", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
