"""SLOs: each turn SLO against its objective, its error budget over the SLO period, how fast it burns over
every alert window, and whether its burn-rate alert's conditions hold."""
from typing import List

from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ..text import num, pct
from ._common import Panel, Q, Row, dashboard

NAME = "slo"
TITLE = "Hermes / SLOs"
ORDER = 6
ABOUT = ("Service level objectives of Hermes turns: the SLI against its objective, the error budget left over "
         "the SLO period, and the burn rate over each window the burn-rate alerts read.")
#: the dashboard's variables besides job and instance
VARIABLES = ()
#: the burn-rate alert condition as a state (the alert fires once it has held for its `for`)
STATES = ((0, "OK", "green"), (1, "Ticket", "orange"), (2, "Page", "red"))


def _rows(q: Queries, cfg: Config, sli: str, alert: str, target: float, objective: str) -> List[Row]:
    s = cfg.slo
    period = s.period
    budget = f"the error budget: {pct(1 - target)} of turns may miss the objective over {period}"
    rows = [Row(f"{objective}: objective {pct(target)} over {period}", [
        Panel(f"SLI over {period}", (Q(q.slo_sli(sli, period), "SLI"),), "percentunit",
              f"Share of the chosen instances' turns over the last {period} that met the objective "
              f"({objective}); below {pct(target)} the SLO is missed. Recorded every 5m.",
              kind="stat", width=6, threshold=target, threshold_below=True, decimals=3),
        Panel("Error budget left", (Q(q.slo_budget_remaining(sli, target), "budget left"),), "percentunit",
              f"Share of {budget} not spent yet: 100% when no turn missed, 0% when the budget is spent, "
              "below 0 when the objective is missed over the period.", kind="stat", width=6,
              steps=((0, "orange"), (0.25, "green")), threshold_below=True, decimals=1),
        Panel("Burn-rate alert conditions now", (Q(q.slo_alert_state(sli, target), "state"),), "none",
              f"Whether a condition of {alert} holds now for the chosen instances: Page (its critical form: "
              f"both windows of a page condition above the factor), Ticket (its warning form), or OK. The "
              f"alert fires once the condition has held for its `for`; firing alerts show as annotations.",
              kind="stat", width=6, mappings=STATES, steps=((1, "orange"), (2, "red"))),
        Panel("Error budget left over time", (Q(q.slo_budget_remaining(sli, target), "budget left"),),
              "percentunit", f"The error budget left at each moment, over the {period} before it "
              f"({budget}).", width=6, threshold=0, threshold_below=True),
        Panel("SLI over 1h against the objective", (Q(q.slo_sli(sli, "1h"), "SLI (1h)"),), "percentunit",
              f"Share of the chosen instances' turns over each hour that met the objective ({objective}); the "
              f"line is the objective, {pct(target)}.", width=24, threshold=target, threshold_below=True),
    ])]
    panels = []
    for kind, windows, for_ in (("Page", s.page, cfg.alerting.for_durations.slo_page),
                                ("Ticket", s.ticket, cfg.alerting.for_durations.slo_ticket)):
        for bw in windows:
            panels.append(Panel(
                f"{kind}: burn rate over {bw.long} and {bw.short} (condition above {num(bw.factor)}x)",
                (Q(q.slo_burn_rate(sli, bw.long, target), f"burn rate over {bw.long}"),
                 Q(q.slo_burn_rate(sli, bw.short, target), f"burn rate over {bw.short}")), "short",
                f"How many times faster than the SLO allows the chosen instances spend {budget}, over "
                f"{bw.long} and over {bw.short}. When both lines are above {num(bw.factor)} the "
                f"{'critical' if kind == 'Page' else 'warning'} form of {alert} has its condition; it fires "
                f"after {for_}.", threshold=bw.factor))
    rows.append(Row(f"{objective}: burn rate over each alert window", panels))
    return rows


def build(cfg: Config):
    q, s = Queries(cfg, VARIABLES), cfg.slo
    return dashboard(NAME, q, [
        *_rows(q, cfg, C.SLI_TURN_ERRORS, C.A_TURN_ERROR_BUDGET_BURN, s.turn_success_target,
               "Turn success (interrupted turns left out)"),
        *_rows(q, cfg, C.SLI_TURN_SLOW, C.A_TURN_LATENCY_BUDGET_BURN, s.turn_latency_target,
               f"Turn latency within {num(s.turn_latency_seconds)}s"),
    ])
