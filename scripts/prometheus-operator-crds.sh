#!/usr/bin/env bash
# Extract the schemas hermes-dash validates its Prometheus Operator manifests against (PodMonitor,
# ServiceMonitor, PrometheusRule: the `openAPIV3Schema` of each CRD's served version v1) from the
# Prometheus Operator's own CRD files at a pinned release:
#
#   github.com/prometheus-operator/prometheus-operator @ v0.63.0 (commit 1a38cb5fde48aabe6dfb89b8b8388d45384d4660)
#   example/prometheus-operator-crd/monitoring.coreos.com_{podmonitors,servicemonitors,prometheusrules}.yaml
#
# v0.63.0 is the release whose default Prometheus and Alertmanager are the versions tested here (2.42.0,
# 0.25.0: pkg/operator/defaults.go). Descriptions are dropped (they do not constrain anything); the
# output records the release, the commit, each file's URL and its sha256, and is deterministic.
#
# Usage: scripts/prometheus-operator-crds.sh [CRD_DIR] [OUTPUT_JSON]
#   CRD_DIR: a directory holding the three files (default: download them from raw.githubusercontent.com)
#   OUTPUT_JSON default: hermes_dash/build/schemas/prometheus-operator-v0.63.0.json
# Needs python3 with PyYAML (the project's .venv has it).
set -euo pipefail
VERSION=v0.63.0
COMMIT=1a38cb5fde48aabe6dfb89b8b8388d45384d4660
here=$(cd "$(dirname "$0")" && pwd)
crd_dir=${1:-}
out=${2:-$here/../hermes_dash/build/schemas/prometheus-operator-$VERSION.json}
PY=${PYTHON:-$here/../.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ -z "$crd_dir" ]; then
  crd_dir=$(mktemp -d)
  trap 'rm -rf "$crd_dir"' EXIT
  for f in podmonitors servicemonitors prometheusrules; do
    curl -fsSL -o "$crd_dir/monitoring.coreos.com_$f.yaml" \
      "https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/$COMMIT/example/prometheus-operator-crd/monitoring.coreos.com_$f.yaml"
  done
fi
"$PY" - "$crd_dir" "$out" "$VERSION" "$COMMIT" <<'EOF'
import hashlib, json, os, sys
import yaml
crd_dir, out, version, commit = sys.argv[1:]

def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in sorted(node.items()) if k != "description"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node

result = {"$comment": (f"openAPIV3Schema of the v1 version of three Prometheus Operator CRDs, descriptions dropped; "
                       f"made by scripts/prometheus-operator-crds.sh from prometheus-operator {version} "
                       f"(commit {commit}), example/prometheus-operator-crd/"),
          "version": version, "commit": commit, "sources": {}, "schemas": {}}
for f in ("podmonitors", "servicemonitors", "prometheusrules"):
    name = f"monitoring.coreos.com_{f}.yaml"
    raw = open(os.path.join(crd_dir, name), "rb").read()
    crd = yaml.safe_load(raw)
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1" and v["served"]]
    kind = crd["spec"]["names"]["kind"]
    result["sources"][kind] = {
        "url": f"https://github.com/prometheus-operator/prometheus-operator/blob/{commit}/example/prometheus-operator-crd/{name}",
        "sha256": hashlib.sha256(raw).hexdigest()}
    result["schemas"][kind] = strip(v1["schema"]["openAPIV3Schema"])
with open(out, "w") as fh:
    json.dump(result, fh, indent=1, sort_keys=False)
    fh.write("\n")
print(f"wrote {out}")
EOF
