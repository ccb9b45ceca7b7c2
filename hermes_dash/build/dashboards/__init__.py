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
from ._save_model import save_model

__all__ = ["Registered", "registry", "registered", "build_json", "render", "render_all"]


def build_json(name: str, cfg: Config) -> dict:
    """The dashboard `name` as Grafana JSON (a dict): what Grafana 13 itself would save."""
    d = registered(name).build(cfg)
    data = save_model(json.loads(json.dumps(d.to_json_data(), cls=DashboardEncoder)), cfg.grafana.datasource)
    data["description"] = f"{data['description']} {JSON_MARK}".strip()
    return data


def render(data: dict) -> str:
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def render_all(cfg: Config) -> Dict[str, str]:
    """Every dashboard as deterministic JSON text, by file name."""
    return {f"{d.name}.json": render(build_json(d.name, cfg)) for d in registry()}
