"""Cost: tokens, dollars per hour and per day, per session, unpriced tokens, budget burn."""
from ... import catalogue as C
from ...config import Config
from ..queries import Queries
from ..text import num
from ._common import Panel, Q, Row, dashboard

NAME = "cost"
TITLE = "Hermes / Cost"
ORDER = 3
ABOUT = "Token use and LLM API spend of Hermes agents against the configured budgets."
#: the dashboard's variables besides job and instance
VARIABLES = (C.L_MODEL,)


def build(cfg: Config):
    q, t = Queries(cfg, VARIABLES), cfg.thresholds
    return dashboard(NAME, q, [
        Row("Spend", [
            Panel("USD per hour", (Q(q.cost_per_hour(), "USD/h"),), "currencyUSD", C.COST, kind="stat", width=6,
                  threshold=t.cost_per_hour_usd),
            Panel("USD in the last 24 h", (Q(q.cost_last_24h(), "USD"),), "currencyUSD",
                  f"LLM API cost in US dollars over the last 24 hours (metric `{C.COST.name}`).",
                  kind="stat", width=6, threshold=t.daily_cost_budget_usd),
            Panel("Daily cost budget used", (Q(q.cost_budget_burn(), "cost"),), "percentunit",
                  f"USD spent in the last 24 h over the daily budget of {num(t.daily_cost_budget_usd)} USD "
                  f"(metric `{C.COST.name}`).", kind="stat", width=6, threshold=1),
            Panel("Daily token budget used", (Q(q.token_budget_burn(), "tokens"),), "percentunit",
                  f"Tokens used in the last 24 h over the daily budget of {num(t.daily_token_budget)} "
                  f"(metric `{C.TOKENS.name}`).", kind="stat", width=6, threshold=1),
            Panel("USD per hour by model", (Q(q.cost_by_model_per_hour(), "{{model}}"),), "currencyUSD", C.COST,
                  width=12, threshold=t.cost_per_hour_usd, stacked=True),
            Panel("USD per finished session", (Q(q.cost_per_session(), "USD/session"),), "currencyUSD",
                  "USD spent in the last hour over sessions finished in it (metrics "
                  f"`{C.COST.name}` / `{C.SESSIONS.name}`).", width=12),
            Panel("USD per hour by token type", (Q(q.cost_by_type_per_hour(), "{{token_type}}"),), "currencyUSD",
                  "LLM API cost per hour by token type: prompt (uncached input), cache_read, cache_write, "
                  "completion, reasoning, and request (per-call fees) "
                  f"(metric `{C.COST.name}`).", width=12, stacked=True),
            Panel("Prompt cache hit ratio by model", (Q(q.cache_hit_ratio(), "{{model}}"),), "percentunit",
                  "Share of input tokens read from the provider's prompt cache, at a fraction of the prompt "
                  "price: cache_read over prompt + cache_read + cache_write "
                  f"(metric `{C.TOKENS.name}`). Prompt caching is an agent's biggest cost lever.", width=12),
        ]),
        Row("Tokens", [
            Panel("Tokens per second by model and type", (Q(q.tokens_by_model_type(), "{{model}} {{token_type}}"),),
                  "short", C.TOKENS, width=8, stacked=True),
            Panel("Token rate against the spike alert",
                  (Q(q.token_rate(), "tokens/s (5m)"),
                   Q(q.token_spike_level(), f"{num(t.token_spike_factor)}x hourly average")),
                  "short", f"Tokens per second of the chosen instances (metric `{C.TOKENS.name}`), the level "
                  f"{num(t.token_spike_factor)}x its hourly average, and the floor of "
                  f"{num(t.token_spike_min_tokens_per_second)} tokens/s: {C.A_TOKEN_SPIKE} fires when the rate of "
                  "the whole job stays above both.", width=8, threshold=t.token_spike_min_tokens_per_second),
            Panel("Unpriced tokens per second", (Q(q.unpriced_tokens(), "{{model}}"),), "short",
                  C.UNPRICED_TOKENS, width=8),
        ]),
    ])
