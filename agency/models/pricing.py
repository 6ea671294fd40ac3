"""Pricing tokens: a run whose runtime reports no cost (Codex) is priced from a table.

The table maps a model name prefix to USD per million tokens for input, output, cache
reads and cache writes; the longest prefix of the run's model wins, so
``claude-sonnet-4-5-20250929`` is priced as ``claude-sonnet-4-5``. ``AGENCY_MODEL_PRICES``
(JSON) is merged over ``DEFAULT_PRICES``: a key there replaces the built-in row.

Both sides use it: the control plane prices finished and running attempts (usage, KPIs,
fleet budgets), and the reference worker prices a running attempt's tokens to hold it to
``spec.max_cost_usd`` while it runs (Claude reports its cost only in its last line, Codex
never), so both need the same ``AGENCY_MODEL_PRICES``.
"""

from __future__ import annotations

import functools
import json
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from agency.errors import ConfigError
from agency.models.agents import Usage


class ModelPrice(BaseModel):
    """USD per million tokens of one model (family)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float = Field(0.0, ge=0)
    cache_write: float = Field(0.0, ge=0)


# list prices per million tokens, as published by Anthropic and OpenAI (2025)
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-opus-4": ModelPrice(input=15.0, output=75.0, cache_read=1.5, cache_write=18.75),
    "claude-sonnet-4": ModelPrice(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75),
    "claude-haiku-4": ModelPrice(input=1.0, output=5.0, cache_read=0.1, cache_write=1.25),
    "claude-3-5-haiku": ModelPrice(input=0.8, output=4.0, cache_read=0.08, cache_write=1.0),
    "gpt-5": ModelPrice(input=1.25, output=10.0, cache_read=0.125),
    "gpt-5-mini": ModelPrice(input=0.25, output=2.0, cache_read=0.025),
    "gpt-5-nano": ModelPrice(input=0.05, output=0.4, cache_read=0.005),
    "gpt-4.1": ModelPrice(input=2.0, output=8.0, cache_read=0.5),
    "o4-mini": ModelPrice(input=1.1, output=4.4, cache_read=0.275),
}
CostSource = Literal["runtime", "price_table", "none"]


class PriceTable:
    """Model prices by longest name prefix; built from the setting once at start-up."""

    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self.prices = dict(prices)
        self._by_length = sorted(self.prices, key=len, reverse=True)

    @classmethod
    @functools.lru_cache(maxsize=8)
    def from_setting(cls, text: str) -> PriceTable:
        """``DEFAULT_PRICES`` with ``AGENCY_MODEL_PRICES`` (a JSON object) over it."""
        table = dict(DEFAULT_PRICES)
        if text.strip():
            try:
                raw = json.loads(text)
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
                table.update({k: ModelPrice.model_validate(v) for k, v in raw.items()})
            except (ValueError, ValidationError) as exc:
                raise ConfigError(f"AGENCY_MODEL_PRICES: {exc}") from exc
        return cls(table)

    def lookup(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        for prefix in self._by_length:
            if model.startswith(prefix):
                return self.prices[prefix]
        return None

    def cost(self, usage: Usage) -> tuple[float, CostSource]:
        """The run's cost and where it came from: the runtime's own figure first."""
        if usage.cost_usd is not None:
            return float(usage.cost_usd), "runtime"
        price = self.lookup(usage.model)
        if price is None:
            return 0.0, "none"
        total = (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_read_tokens * price.cache_read
            + usage.cache_write_tokens * price.cache_write
        ) / 1_000_000
        return round(total, 8), "price_table"
