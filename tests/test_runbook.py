"""RUNBOOK.md: a section for every alert, reached by its runbook_url."""
import re

from hermes_dash import catalogue as C
from hermes_dash.build.rules import all_alert_rules
from hermes_dash.config import DEFAULT, config_from_mapping

from conftest import ROOT


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_url_anchor_exists_in_runbook_md():
    """Each alert's runbook_url is the configured base plus an anchor of a RUNBOOK.md heading, and every
    alert heading has the four parts: means, causes, investigate, mitigate."""
    text = (ROOT / "RUNBOOK.md").read_text()
    sections = dict(re.findall(r"^## ([^\n]+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    anchors = {github_anchor(h): h for h in sections}
    for r in all_alert_rules(DEFAULT):
        url = r.runbook_url
        base, _, anchor = url.partition("#")
        assert base == DEFAULT.alerting.runbook_url_base
        assert anchor in anchors, f"{r.name}: RUNBOOK.md has no heading for #{anchor}"
        body = sections[anchors[anchor]]
        for part in ("**Means:**", "**Likely causes:**", "**Investigate:**", "**Mitigate:**"):
            assert part in body, f"RUNBOOK.md ## {anchors[anchor]} lacks {part}"
    assert sorted(sections) == sorted(C.ALERT_NAMES)


def test_runbook_url_base_comes_from_the_config():
    """alerting.runbook_url_base changes every alert's runbook_url."""
    cfg = config_from_mapping({"alerting": {"runbook_url_base": "https://wiki.example.org/hermes"}})
    assert {r.runbook_url for r in all_alert_rules(cfg)} == {
        f"https://wiki.example.org/hermes#{n.lower()}" for n in C.ALERT_NAMES}
