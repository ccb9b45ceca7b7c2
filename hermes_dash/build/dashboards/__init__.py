"""The Grafana dashboards as code: one module each, built from the catalogue and the config.

    from hermes_dash.build.dashboards import render_all, registry
    files = render_all(load_config(None))   # {"latency.json": "...", ...}, deterministic JSON
    [d.name for d in registry()]            # ['overview', 'latency', ...], in link order

Built with grafanalib; written by `hermes-dash build` / `make dashboards`. Each public module of this
package is a dashboard (NAME, TITLE, ORDER, ABOUT, build); add a module and it is built, linked and
checked. Importable into any Grafana: every panel reads the `datasource` variable.
"""
from __future__ import annotations

import json
from typing import Dict

from grafanalib._gen import DashboardEncoder

from ...config import Config
from ..text import JSON_MARK
from ._common import Registered, registered, registry

__all__ = ["Registered", "registry", "registered", "build_json", "render", "render_all"]


def build_json(name: str, cfg: Config) -> dict:
    """The dashboard `name` as Grafana JSON (a dict)."""
    d = registered(name).build(cfg)
    data = json.loads(json.dumps(d.to_json_data(), cls=DashboardEncoder))
    data["description"] = f"{data.get('description') or ''} {JSON_MARK}".strip()
    for legacy in _LEGACY_KEYS:  # pre-5.0 keys grafanalib still emits; Grafana ignores them
        data.pop(legacy, None)
    data = _drop_nulls(data)
    data["id"] = None  # Grafana assigns the numeric id; the uid identifies the dashboard
    return data


_LEGACY_KEYS = ("__inputs", "hideControls", "rows", "sharedCrosshair", "style", "gnetId")


def _drop_nulls(x):
    """Remove keys whose value is null (Grafana reads a missing key as its default), except a threshold
    step's `value`, where null means "from minus infinity"."""
    if isinstance(x, dict):
        return {k: _drop_nulls(v) for k, v in x.items() if v is not None or k == "value"}
    if isinstance(x, list):
        return [_drop_nulls(v) for v in x]
    return x


def render(data: dict) -> str:
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def render_all(cfg: Config) -> Dict[str, str]:
    """Every dashboard as deterministic JSON text, by file name."""
    return {f"{d.name}.json": render(build_json(d.name, cfg)) for d in registry()}
