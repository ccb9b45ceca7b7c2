"""What generates hermes-dash's artifacts from the catalogue and one config, checks them, and ships them.

    from hermes_dash.build import generated_files, write_all
    files = generated_files(load_config(None))        # {"dashboards/cost.json": "...", "rules/...": ...}
    write_all(".", files)                             # all or nothing

One module or package per artifact: ``dashboards`` (Grafana JSON, with ``queries`` for their PromQL),
``rules`` (recording and alert rules), ``deploy`` (prometheus.yml, alertmanager.yml, the Kubernetes
manifest), ``docs`` (the generated tables of the Markdown docs) and ``lint`` (static checks of rule files
and dashboards); ``push`` uploads dashboards to a Grafana. ``promql`` and ``text`` are the PromQL and
formatting building blocks they share. Needs the `build` extra (grafanalib, promql-parser); imports the
runtime layer (catalogue, config), never the test harness or the CLI.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, Iterable, List, Optional

from ..config import Config

#: the kinds of generated files, each a directory of the repository
KINDS = ("dashboards", "rules", "deploy")


class Stale(Exception):
    """Committed generated files differ from what the config generates now."""

    def __init__(self, paths: List[str]):
        super().__init__(", ".join(paths))
        self.paths = paths


def generated_files(cfg: Config, kinds: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """Every generated file (dashboards, rules, deploy) as text, by path relative to the repository."""
    from .dashboards import render_all
    from .deploy import render_deploy_files
    from .rules import render_rule_files
    out: Dict[str, str] = {}
    renderers = {"dashboards": render_all, "rules": render_rule_files, "deploy": render_deploy_files}
    for kind in KINDS:
        if kinds is None or kind in kinds:
            out.update({f"{kind}/{name}": text for name, text in renderers[kind](cfg).items()})
    return out


#: mode of every generated file: readable by the servers that load them (a Grafana container runs as uid
#: 472, Prometheus and Alertmanager as their own users); set exactly, whatever the umask
FILE_MODE = 0o644


def write_all(out_dir: str, files: Dict[str, str]) -> None:
    """Write every file (paths relative to `out_dir`), or none: all are staged as temporary files next
    to their destination first, then renamed into place. Each file gets mode FILE_MODE (0644)."""
    staged = []
    try:
        for name, text in sorted(files.items()):
            dest = os.path.join(out_dir, name)
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(name)}.", dir=os.path.dirname(dest) or ".")
            staged.append((tmp, dest))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), FILE_MODE)  # mkstemp creates 0600
                f.write(text)
        while staged:
            tmp, dest = staged[0]
            os.replace(tmp, dest)
            staged.pop(0)
    finally:
        for tmp, _ in staged:  # a failure before or while renaming: no temporary file is left behind
            try:
                os.unlink(tmp)
            except OSError:
                pass


def stale_files(root: str, files: Dict[str, str]) -> List[str]:
    """The paths under `root` whose content differs from `files` (missing ones included)."""
    stale = []
    for name, text in sorted(files.items()):
        path = os.path.join(root, name)
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            stale.append(path)
    return stale


def build(cfg: Config, root: str, kinds: Optional[Iterable[str]] = None, check: bool = False) -> List[str]:
    """Write the generated files under `root` (all or none) and return their paths; with `check`, write
    nothing and raise Stale naming every file that differs."""
    files = generated_files(cfg, kinds)
    if check:
        stale = stale_files(root, files)
        if stale:
            raise Stale(stale)
        return sorted(files)
    write_all(root, files)
    return sorted(files)
