"""Cost alerts (group `hermes_cost`): spend per hour and per day, token budget and spikes, unpriced models."""
from __future__ import annotations

from typing import Tuple

from ... import catalogue as C
from ...config import Config
from ..text import num
from .model import Alert, job_scope, keep, on

GROUP = "hermes_cost"


def alerts(cfg: Config) -> Tuple[Alert, ...]:
    e, t, f = job_scope(cfg), cfg.thresholds, cfg.alerting.for_durations
    F = C.TEAM_FINANCE
    tokens = e.rec(C.RULE_TOKENS_RATE)
    return (
        Alert(C.A_COST_OVERRUN, f"sum by ({', '.join(keep(cfg, C.L_JOB))}) ({e.rec(C.RULE_COST_PER_HOUR)}) > {num(t.cost_per_hour_usd)}",
              f.cost_overrun, C.WARNING, F,
              f"Hermes LLM spend is above ${num(t.cost_per_hour_usd)} per hour",
              "Job {{ $labels.job }} spent {{ $value | printf \"%.2f\" }} USD per hour over the last hour "
              f"(threshold {num(t.cost_per_hour_usd)} USD/h)."),
        Alert(C.A_DAILY_COST_BUDGET, f"{e.rec(C.RULE_COST_24H)} > {num(t.daily_cost_budget_usd)}",
              f.daily_cost_budget, C.WARNING, F,
              f"Hermes spent more than its daily budget of ${num(t.daily_cost_budget_usd)}",
              "Job {{ $labels.job }} spent {{ $value | printf \"%.2f\" }} USD over the last 24 hours "
              f"(budget {num(t.daily_cost_budget_usd)} USD)."),
        Alert(C.A_DAILY_TOKEN_BUDGET, f"{e.rec(C.RULE_TOKENS_24H)} > {num(t.daily_token_budget)}",
              f.daily_token_budget, C.WARNING, F,
              f"Hermes used more than its daily budget of {t.daily_token_budget:,.0f} tokens",
              "Job {{ $labels.job }} consumed {{ $value | humanize }} tokens over the last 24 hours "
              f"(budget {t.daily_token_budget:,.0f})."),
        Alert(C.A_TOKEN_SPIKE,
              f"{tokens} > {num(t.token_spike_factor)} * avg_over_time({tokens}[1h])\n"
              f"and {on(cfg)}\n{tokens} > {num(t.token_spike_min_tokens_per_second)}",
              f.token_spike, C.WARNING, F,
              f"Hermes token consumption is more than {num(t.token_spike_factor)}x its hourly average",
              "Job {{ $labels.job }} consumes {{ $value | humanize }} tokens/s over the last 5m, more than "
              f"{num(t.token_spike_factor)}x its average over the last hour and above the floor of "
              f"{num(t.token_spike_min_tokens_per_second)} tokens/s."),
        Alert(C.A_UNPRICED_TOKENS, f"{e.rec(C.RULE_UNPRICED_TOKENS_RATE)} > 0",
              f.unpriced_tokens, C.INFO, F,
              "A Hermes model has no price: its spend is not counted",
              "Model {{ $labels.model }} (job {{ $labels.job }}) used {{ $value | humanize }} tokens/s over the "
              "last 5m with no known price: hermes_cost_usd_total under-reports. Add it to "
              "instrumentation.prices."),
    )
