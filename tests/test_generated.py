"""Generated files are current: a stale committed file fails here."""
from pathlib import Path

from hermes_dash.cli import render_readme

ROOT = Path(__file__).resolve().parent.parent


def test_readme_generated_sections_are_fresh():
    """README's metric table and seed-rename table equal what the catalogue generates now."""
    text = (ROOT / "README.md").read_text()
    assert render_readme(text) == text, "README.md is stale: run `make readme`"


def test_readme_config_example_loads():
    """The YAML example in README's Configuration section is a valid config file."""
    import re

    import yaml

    from hermes_dash.config import config_from_mapping
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Configuration"):]
    example = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    cfg = config_from_mapping(yaml.safe_load(example), "README.md")
    assert cfg.alerting.for_durations.high_latency == "10m"
    assert cfg.slo.page[1].factor == 6.0
