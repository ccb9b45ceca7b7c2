"""PromQL building blocks shared by the recording and alert rules and the dashboard queries.

    s = Scope(matcher("job", "hermes-agent"))
    s.sum("hermes_tool_call_total", "5m", matcher("status", "success"), by=("job", "tool_name"))
    # 'sum by (job, tool_name) (rate(hermes_tool_call_total{job="hermes-agent", status="success"}[5m]))'
    s.rec(catalogue.RULE_TOOL_FAILURE_RATIO)
    # 'hermes:tool_failure_ratio:5m{job="hermes-agent"}'

A `Scope` is the set of matchers every selector of one consumer starts with: the rules select the
configured job; the dashboards add Grafana's variables. Names come from the catalogue; this module only
writes PromQL syntax, so `sum by (...) (rate(...))` is written in one place.
"""
from __future__ import annotations

from typing import Sequence, Tuple

from .. import catalogue as C


def quote(value: str) -> str:
    """`value` as a PromQL double-quoted string: backslash, double quote and newline escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def matcher(label: str, value: str, op: str = "=") -> str:
    """One label matcher: matcher("job", "x") -> 'job="x"'; op is =, !=, =~ or !~; the value is quoted."""
    return f"{label}{op}{quote(value)}"


_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def regex_literal(text: str) -> str:
    r"""`text` as an RE2 regex that matches exactly it: regex_literal("a.b") == r"a\.b"."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def one_of(label: str, values: Sequence[str]) -> str:
    """A matcher selecting exactly `values`: label="v" for one, label=~"v1|v2" (escaped) for several."""
    if len(values) == 1:
        return matcher(label, values[0])
    return matcher(label, "|".join(regex_literal(v) for v in values), "=~")


def duration(ms: int) -> str:
    """A whole number of milliseconds as a PromQL duration, largest units first: duration(2591999999) ==
    "29d23h59m59s999ms". (Raw milliseconds beyond 2**32 overflow the Rust promql-parser the lint uses.)"""
    if ms <= 0:
        raise ValueError(f"a PromQL duration must be positive, got {ms}ms")
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        n, ms = divmod(ms, size)
        out += f"{n}{unit}" if n else ""
    return out


def sum_by(by: Sequence[str], inner: str) -> str:
    """sum by (a, b) (inner), or sum(inner) when `by` is empty."""
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, one per line as the rule files show them."""
    return f"{numerator}\n/\n{denominator}"


def histogram_quantile(q: float, buckets: str) -> str:
    """histogram_quantile(q, buckets); `buckets` must keep `le`."""
    return f"histogram_quantile({q}, {buckets})"


class Scope:
    """Selectors that all start with the same matchers."""

    def __init__(self, *matchers: str):
        self.matchers: Tuple[str, ...] = matchers

    def sel(self, *extra: str) -> str:
        """{base matchers, extra matchers}"""
        return "{" + ", ".join(self.matchers + extra) + "}"

    def rate(self, series: str, window: str, *extra: str, fn: str = "rate") -> str:
        """fn(series{...}[window]): fn is rate, increase, or any range-vector function."""
        return f"{fn}({series}{self.sel(*extra)}[{window}])"

    def sum(self, series: str, window: str, *extra: str, by: Sequence[str] = (), fn: str = "rate") -> str:
        """sum [by (...)] (fn(series{...}[window]))"""
        return sum_by(by, self.rate(series, window, *extra, fn=fn))

    def rec(self, rule: C.RecordingRule, *extra: str) -> str:
        """A recorded series selected in this scope."""
        return rule.name + self.sel(*extra)

    def series(self, name: str, *extra: str) -> str:
        """A raw series selected in this scope."""
        return name + self.sel(*extra)
