"""Validate Prometheus Operator manifests (PodMonitor, ServiceMonitor, PrometheusRule) against the CRD
schemas of the Operator release the docs name, held closed: one readable line per problem.

    problems = validate(yaml.safe_load(open("deploy/kubernetes/hermes-podmonitor.yml")))
    # ['$.spec.podMetricsEndpoints[0].relabelings[0].action: "Rename" is not one of ...']

The schemas (`schemas/prometheus-operator-v0.63.0.json`, made by scripts/prometheus-operator-crds.sh) are
the `openAPIV3Schema` of each CRD as the Operator ships it. The API server prunes unknown fields of a CRD
(and `kubectl apply` rejects them with server-side strict validation), so an unknown key here is a
problem: every object schema that lists properties is closed, unless it says
`x-kubernetes-preserve-unknown-fields`. `metadata` (an open object in the CRDs) is checked as the API
server checks it: a DNS-subdomain name, an RFC 1123 namespace, string labels. No cluster is needed.
"""
from __future__ import annotations

import functools
import json
import os
import re
from typing import Any, Dict, List

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schemas", "prometheus-operator-v0.63.0.json")
API_VERSION = "monitoring.coreos.com/v1"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@functools.lru_cache(maxsize=1)
def crds() -> dict:
    """The committed extract: version, commit, sources (URL and sha256 per kind) and schemas by kind."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def _closed(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


@functools.lru_cache(maxsize=None)
def _validator(kind: str):
    import jsonschema
    schema = _closed(crds()["schemas"][kind])
    return jsonschema.Draft7Validator(schema)


def _path(path) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def validate(doc: Any) -> List[str]:
    """Problems of one manifest; [] when the Operator's CRD schema (closed) and metadata rules accept it."""
    if not isinstance(doc, dict):
        return [f"$: expected a mapping, got {type(doc).__name__}"]
    kind = doc.get("kind")
    if kind not in crds()["schemas"]:
        return [f"$.kind: {kind!r} is not one of {', '.join(sorted(crds()['schemas']))}"]
    problems: List[str] = []
    if doc.get("apiVersion") != API_VERSION:
        problems.append(f"$.apiVersion: expected {API_VERSION}, got {doc.get('apiVersion')!r}")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        problems.append("$.metadata: expected a mapping")
    else:
        name = meta.get("name")
        if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            problems.append(f"$.metadata.name: not a DNS subdomain: {name!r}")
        ns = meta.get("namespace")
        if ns is not None and (not isinstance(ns, str) or not _DNS_LABEL.fullmatch(ns)):
            problems.append(f"$.metadata.namespace: not a namespace: {ns!r}")
        labels: Dict[str, Any] = meta.get("labels") or {}
        problems += [f"$.metadata.labels.{k}: the value must be a string" for k, v in labels.items()
                     if not isinstance(v, str)]
    for err in sorted(_validator(kind).iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        problems.append(f"{_path(err.absolute_path)}: {err.message}")
    return problems
