"""hermes-dash prices each token type with Hermes' own pricing entry: per type, the sum is Hermes' own
estimate of the call, and a route's entry is looked up once per PRICE_TTL_SECONDS, not once per call."""
import math

import pytest
from prometheus_client import CollectorRegistry

from hermes_dash import catalogue as C
from hermes_dash import plugin
from hermes_dash.instrumentation import HermesMetrics
from hermes_dash.plugin import HermesHooks


def test_cost_by_type_adds_up_to_hermes_own_estimate():
    """For a model Hermes prices from its bundled price list (Anthropic's claude-sonnet-4, cache reads and
    writes priced), the cost of each token type is Hermes' price for it, exactly as a decimal, and their
    sum equals Hermes' estimate_usage_cost of the whole call (to float rounding)."""
    from agent.usage_pricing import CanonicalUsage, estimate_usage_cost
    counts = (300, 100, 600, 40, 200)  # prompt, completion, cache_read, cache_write, reasoning
    costs = plugin._hermes_costs("claude-sonnet-4-20250514", counts, "anthropic", None)
    whole = estimate_usage_cost("claude-sonnet-4-20250514", CanonicalUsage(
        input_tokens=300, output_tokens=300, cache_read_tokens=600, cache_write_tokens=40), provider="anthropic")
    # Hermes' list: input 3, output 15, cache read 0.30, cache write 3.75 USD per million tokens
    assert costs == {"prompt": 0.0009, "completion": 0.0015, "cache_read": 0.00018, "cache_write": 0.00015,
                     "reasoning": 0.003}
    assert math.fsum(costs.values()) == pytest.approx(float(whole.amount_usd), rel=1e-15)


def test_a_route_is_priced_once_per_ttl_not_once_per_call(monkeypatch):
    """50 answers from a route whose pricing lookup fails (an OpenAI-compatible endpoint that does not
    answer) look its price up once; the tokens count as unpriced each time; after PRICE_TTL_SECONDS the
    next answer looks it up again."""
    from agent.usage_pricing import get_pricing_entry as real
    calls = []

    def counting(*a, **kw):
        calls.append(a)
        return real(*a, **kw)
    clock = [1000.0]
    monkeypatch.setattr(plugin, "_PRICING", [counting])
    monkeypatch.setattr(plugin, "_PRICE_CACHE", {})
    monkeypatch.setattr(plugin, "_now", lambda: clock[0])
    reg = CollectorRegistry()
    hooks = HermesHooks(HermesMetrics(registry=reg), clock=lambda: clock[0])
    answer = dict(session_id="s", model="m-unpriced", provider="custom", base_url="http://127.0.0.1:1/v1",
                  usage={"input_tokens": 10, "output_tokens": 2})
    for _ in range(50):
        hooks.post_api_request(**answer)
    assert len(calls) == 1
    assert reg.get_sample_value(C.UNPRICED_TOKENS.name, {"model": "m-unpriced", "token_type": "prompt"}) == 500
    clock[0] += plugin.PRICE_TTL_SECONDS
    hooks.post_api_request(**answer)
    assert len(calls) == 2
