"""Alert rules tested against generated situations: scenarios, an independent oracle, promtool fixtures.

    from hermes_dash.harness.scenarios import draw_scenarios
    for s in draw_scenarios(300, seed=0):    # deterministic for a seed
        print(s.describe())

`model` describes a fleet minute by minute and renders promtool input series; `oracle` says in plain
Python which alerts must and must not fire; `strategies` draws scenarios with hypothesis; `runner`
writes and runs promtool test files; `mutants` breaks the rules on purpose to prove the suite notices.
`suite` (`hermes-dash scenarios`, what `make test-rules` runs) ties them together.
"""
from __future__ import annotations

from itertools import zip_longest
from typing import List, Optional

from .model import Scenario


def draw_scenarios(count: int, seed: int = 0, first: Optional[str] = None) -> List[Scenario]:
    """`count` distinct scenarios drawn by hypothesis, the same ones for the same seed and version.

    The set is stratified: an equal share starts with each fault kind, with steady traffic and with an
    availability event, so no kind is left to chance (hypothesis favours the simplest values). With
    `first`, every scenario starts with that kind."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    from .strategies import AVAILABILITY, KINDS, STEADY, scenarios

    firsts = [first] if first else [STEADY, AVAILABILITY, *KINDS]
    per_kind = [count // len(firsts) + (i < count % len(firsts)) for i in range(len(firsts))]
    seen = set()
    by_kind: List[List[Scenario]] = []
    for i, (first, n) in enumerate(zip(firsts, per_kind)):
        got: List[Scenario] = []

        @with_seed(seed * 1000 + i)
        @settings(max_examples=max(1, n * 3), phases=[Phase.generate], database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(scenarios(first=first))
        def collect(s: Scenario) -> None:
            if len(got) < n and s not in seen:
                seen.add(s)
                got.append(s)

        if n:
            collect()
        by_kind.append(got)
    # interleave the kinds, so any prefix of the set (and each promtool batch) mixes them
    return [s for group in zip_longest(*by_kind) for s in group if s is not None]
