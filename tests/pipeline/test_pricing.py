from __future__ import annotations

import pytest

from twinself.config.settings import Settings
from twinself.llm.base import TokenUsage
from twinself.pipeline.pricing import PriceBook, load_prices

USAGE = TokenUsage(input_tokens=1_000_000, output_tokens=500_000, estimated=False)


def test_twinself_seed_figures_and_current_gemini_models_are_priced() -> None:
    book = PriceBook(load_prices())
    seed = book.cost("gemini", "gemini-1.5-flash", USAGE)  # the seed's $0.075 / $0.30
    assert (seed.input_usd, seed.output_usd) == pytest.approx((0.075, 0.15))
    lite = book.cost("gemini", "models/gemini-2.5-flash-lite", USAGE)
    assert lite.price_known and lite.total_usd == pytest.approx(0.10 + 0.20)


def test_unknown_model_costs_zero_and_says_so_offline_is_free() -> None:
    book = PriceBook(load_prices())
    unknown = book.cost("openai", "llama3.2", USAGE)
    assert unknown.total_usd == 0 and unknown.price_known is False
    offline = book.cost("offline", "extractive-v1", USAGE)
    assert offline.total_usd == 0 and offline.price_known is True


def test_model_prices_setting_adds_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODEL_PRICES",
        '{"llama3.2": {"input_per_million": 1, "output_per_million": 2},'
        ' "gemini-2.5-flash-lite": {"input_per_million": 0, "output_per_million": 0}}',
    )
    book = PriceBook(load_prices(Settings(_env_file=None).model_prices))  # type: ignore[call-arg]
    assert book.cost("openai", "llama3.2", USAGE).total_usd == pytest.approx(2.0)
    assert book.cost("gemini", "gemini-2.5-flash-lite", USAGE).total_usd == 0
