"""Generated files are current: a stale committed file fails here."""
from pathlib import Path

from hermes_dash.cli import render_readme

ROOT = Path(__file__).resolve().parent.parent


def test_readme_generated_sections_are_fresh():
    """README's metric table and seed-rename table equal what the catalogue generates now."""
    text = (ROOT / "README.md").read_text()
    assert render_readme(text) == text, "README.md is stale: run `make readme`"
