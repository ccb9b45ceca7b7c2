"""Write the generated files the package carries — dashboards, rules, deploy files for the default config —
into a directory, without the build extra.

    hermes-dash export /etc/hermes-dash        # dashboards/ rules/ deploy/ under it

`pip install hermes-dash` ships them as package data (``hermes_dash/defaults``, the same files as the
repository's dashboards/, rules/ and deploy/); `pip install 'hermes-dash[build]'` and `hermes-dash build
--config FILE --root DIR` regenerate them for another config. Files are written all or nothing, 0644.
"""
from __future__ import annotations

import os
from typing import Dict, List

from . import write_all

DEFAULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "defaults")
#: the kinds of generated files the package carries, each a directory of the output
KINDS = ("dashboards", "rules", "deploy")
#: what a packaged file's name ends with: generated files, and deploy/'s hand-written examples
PACKAGED = (".json", ".yml", ".service", "Containerfile")


class ExportError(RuntimeError):
    """The package's files are missing (a broken install) or cannot be written."""


def packaged_files() -> Dict[str, str]:
    """Every generated file the package carries, by path relative to the output directory."""
    files: Dict[str, str] = {}
    for kind in KINDS:
        top = os.path.join(DEFAULTS, kind)
        for dirpath, _, names in os.walk(top, followlinks=True):
            for name in names:
                if name.endswith(PACKAGED):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        files[os.path.relpath(path, DEFAULTS).replace(os.sep, "/")] = f.read()
    if not any(p.startswith("dashboards/") for p in files):
        raise ExportError(f"{DEFAULTS}: no packaged dashboards: the installation is incomplete")
    return files


def export(out_dir: str) -> List[str]:
    """Write the packaged files under `out_dir` (all or none); their paths, sorted."""
    files = packaged_files()
    try:
        write_all(out_dir, files)
    except OSError as e:
        raise ExportError(f"{out_dir}: cannot write: {e.strerror}") from None
    return sorted(files)
