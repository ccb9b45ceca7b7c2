"""The generated sections of the Markdown docs: metric, rename, alert and recording-rule tables.

    text = render_docs(open("docs/metrics.md").read(), "docs/metrics.md")  # sections brought up to date

A section is the text between `<!-- BEGIN GENERATED: NAME ... -->` and `<!-- END GENERATED: NAME -->`;
a file holds any of them. `hermes-dash docs --check` fails when one is stale, `--write` rewrites them.
"""
from __future__ import annotations

from typing import Callable, Dict

from .. import catalogue as C
from ..config import DEFAULT
from .rules import all_alert_rules
from .rules.slo import slo_windows

BEGIN = "<!-- BEGIN GENERATED: {name} (hermes-dash docs --write; do not edit) -->"
END = "<!-- END GENERATED: {name} -->"


class DocsError(ValueError):
    """A docs file whose generated sections cannot be found or are stale."""


def metrics_table() -> str:
    """The catalogue as a Markdown table."""
    rows = ["| metric | type | unit | labels | help |", "|---|---|---|---|---|"]
    for m in C.METRICS:
        labels = []
        for label in m.labels:
            vals = m.label_values(label)
            labels.append(f"`{label}` ({', '.join(vals)})" if vals else f"`{label}` (bounded)")
        extra = f" buckets: {', '.join(f'{b:g}' for b in m.buckets)}" if m.buckets else ""
        rows.append(f"| `{m.name}` | {m.type} | {m.unit or '-'} | {'<br>'.join(labels) or '-'} | "
                    f"{m.help}{extra} |")
    return "\n".join(rows) + "\n"


def renames_table() -> str:
    """The names fixed from the seed chapter, and why."""
    rows = ["| seed name | hermes-dash | why |", "|---|---|---|"]
    rows += [f"| `{old}` | `{new}` | {why} |" for old, new, why in C.SEED_RENAMES]
    return "\n".join(rows) + "\n"


def alerts_table() -> str:
    """The generated alerts with their routing labels, at the default config."""
    rows = ["| alert | severity | team | for | summary (default config) |", "|---|---|---|---|---|"]
    for a in all_alert_rules(DEFAULT):
        rows.append(f"| [`{a.name}`](../RUNBOOK.md#{a.name.lower()}) | {a.severity} | {a.team} | {a.for_} | "
                    f"{a.summary} |")
    return "\n".join(rows) + "\n"


def recording_table() -> str:
    """The catalogue's recording rules."""
    rows = ["| recording rule | labels | meaning |", "|---|---|---|"]
    rows += [f"| `{r.name}` | {', '.join(r.labels)} | {r.help} |" for r in C.RECORDING_RULES]
    names = "<br>".join(f"`{C.slo_rule(sli, '<window>').name}`" for sli in C.SLIS)
    rows.append(f"| {names} | job | SLO error ratios (turns that failed; turns slower than the SLO latency), "
                f"one per burn-rate window of the config: {', '.join(slo_windows(DEFAULT))} by default. |")
    parts = ", ".join(f"`{k}`" for k in C.SLO_COMPONENTS)
    rows.append("| `hermes_instance:<component>:rate5m`<br>"
                "`hermes_instance:<component>:increase<window>` | job, instance | The SLO dashboard's components "
                f"per instance ({parts}): 5m rates at every evaluation, and increases over each burn-rate window "
                f"and the SLO period ({DEFAULT.slo.period} by default), recorded every 5m from those rates. |")
    return "\n".join(rows) + "\n"


SECTIONS: Dict[str, Callable[[], str]] = {
    "metric-table": metrics_table, "seed-renames": renames_table, "alert-table": alerts_table,
    "recording-table": recording_table}


def render_docs(text: str, path: str) -> str:
    """`text` with every generated section it holds replaced by its current content."""
    for name, fn in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        i, j = text.find(begin), text.find(end)
        if i < 0 and j < 0:
            continue
        if i < 0 or j < i:
            raise DocsError(f"{path}: generated section {name!r} is broken (markers {begin!r} ... {end!r})")
        text = text[: i + len(begin)] + "\n" + fn() + text[j:]
    return text
