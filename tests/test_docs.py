"""The docs explain the repository from inside it: generated tables current, examples valid, links resolving,
nothing referring to files outside the repository, and the Makefile's bench running every benchmark."""
import re
import subprocess

import yaml

from hermes_dash.build.docs import SECTIONS, render_docs
from hermes_dash.config import config_from_mapping

from conftest import ROOT, cli

DOCS = [ROOT / "README.md", ROOT / "RUNBOOK.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_generated_sections_are_fresh_and_each_appears_once():
    """Every generated table in README.md and docs/*.md equals what the catalogue and rules give now, and
    each table is rendered into exactly one page."""
    seen = {}
    for path in DOCS:
        text = path.read_text()
        assert render_docs(text, str(path)) == text, f"{path.name} is stale: run `make docs`"
        for name in SECTIONS:
            if f"BEGIN GENERATED: {name} " in text:
                seen.setdefault(name, []).append(path.name)
    assert seen == {"metric-table": ["plugin.md"], "seed-renames": ["plugin.md"], "alert-table": ["rules.md"],
                    "recording-table": ["rules.md"]}


def test_docs_check_fails_on_a_stale_table(tmp_path):
    """`hermes-dash docs --check` exits 1 naming a page whose table was edited by hand; --write mends it."""
    page = tmp_path / "rules.md"
    page.write_text((ROOT / "docs" / "rules.md").read_text().replace("| warning | platform |", "| info | platform |", 1))
    r = cli("docs", "--check", str(page))
    assert (r.returncode, r.stderr.strip()) == (1, f"{page}: generated sections are stale; run `make docs`")
    assert cli("docs", "--write", str(page)).returncode == 0
    assert page.read_text() == (ROOT / "docs" / "rules.md").read_text()


def test_configuration_example_loads():
    """The YAML example of docs/configuration.md is a valid config file."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, flags=re.S).group(1)
    cfg = config_from_mapping(yaml.safe_load(example), "docs/configuration.md")
    assert cfg.alerting.for_durations.high_latency == "10m"
    assert cfg.slo.page[1].factor == 6.0


def test_every_relative_link_resolves():
    """Each Markdown link to a file of the repository points at a file that exists (anchors of headings
    included)."""
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                broken.append(f"{path.name}: {target}")
            elif anchor and dest.suffix == ".md":
                headings = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.+)$", dest.read_text(), flags=re.M)}
                if anchor not in headings:
                    broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []


def test_nothing_refers_to_files_outside_the_repository():
    """No tracked file cites the design notes or the shared folder the project grew from."""
    out = subprocess.run(["git", "grep", "-nE", r"\.\./shared|DESIGN\.md", "--", ".", ":!tests/test_docs.py"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.stdout == ""


def test_readme_is_a_page():
    """README.md stays one page (what it is, the two commands and what they check, its limits, use in Hermes,
    where to go next); the rest lives in docs/."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 80
    assert [h for h in lines if h.startswith("## ")] == ["## Two commands", "## Limits", "## Use it in Hermes",
                                                       "## Where to go next"]


def test_make_bench_runs_every_benchmark():
    """Every bench/*.py is run by the Makefile's bench target."""
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^bench:.*?\n((?:\t.*\n)+)", makefile, flags=re.M).group(1)
    assert sorted(re.findall(r"bench/(\w+\.py)", target)) == sorted(p.name for p in (ROOT / "bench").glob("*.py"))
