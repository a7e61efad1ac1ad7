"""USD cost of a request from its token counts, with prices per model from a data file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from twinself.llm.base import TokenUsage

FREE_PROVIDERS = frozenset({"offline"})


@dataclass(frozen=True)
class ModelPrice:
    input_per_million: float
    output_per_million: float


@dataclass(frozen=True)
class Cost:
    input_usd: float
    output_usd: float
    # False when the model has no price: cost 0, and the run is tagged so.
    price_known: bool

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.output_usd


def _parse(raw: dict[str, Any]) -> dict[str, ModelPrice]:
    return {
        model: ModelPrice(float(p["input_per_million"]), float(p["output_per_million"]))
        for model, p in raw.items()
        if not model.startswith("_")
    }


def load_prices(overrides: dict[str, Any] | None = None) -> dict[str, ModelPrice]:
    """Bundled prices (model_prices.json), then the MODEL_PRICES setting on top."""
    bundled = json.loads(
        (resources.files("twinself.pipeline") / "model_prices.json").read_text(encoding="utf-8")
    )
    prices = _parse(bundled)
    prices.update(_parse(overrides or {}))
    return prices


class PriceBook:
    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self._prices = prices

    def cost(self, provider: str, model: str, usage: TokenUsage) -> Cost:
        if provider in FREE_PROVIDERS:
            return Cost(0.0, 0.0, price_known=True)
        # "models/gemini-2.5-flash" and versioned names map to the base entry.
        name = model.removeprefix("models/")
        price = self._prices.get(name)
        if price is None:
            return Cost(0.0, 0.0, price_known=False)
        return Cost(
            usage.input_tokens * price.input_per_million / 1e6,
            usage.output_tokens * price.output_per_million / 1e6,
            price_known=True,
        )
