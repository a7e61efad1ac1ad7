"""Build the configured provider from the settings."""

from __future__ import annotations

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.errors import ConfigurationError
from twinself.llm.base import LLMProvider
from twinself.llm.extractive import ExtractiveAnswerer
from twinself.llm.retry import RetryPolicy


def build_llm(settings: Settings, embedder: Embedder) -> LLMProvider:
    """`embedder` is the memory's; only the offline answerer uses it."""
    provider = settings.resolved_provider
    if provider == "offline":
        return ExtractiveAnswerer(embedder)
    retry = RetryPolicy(
        max_retries=settings.llm_max_retries, base_seconds=settings.llm_retry_base_seconds
    )
    if provider == "gemini":
        from twinself.llm.gemini import GeminiProvider

        if settings.google_api_key is None:
            raise ConfigurationError(
                "TWINSELF_LLM_PROVIDER=gemini needs GOOGLE_API_KEY (get one at "
                "https://aistudio.google.com/apikey), or set TWINSELF_LLM_PROVIDER=offline."
            )
        return GeminiProvider(
            settings.google_api_key.get_secret_value(),
            settings.chat_llm_model,
            base_url=settings.gemini_base_url,
            timeout_seconds=settings.llm_timeout_seconds,
            temperature=settings.temperature,
            max_output_tokens=settings.max_output_tokens,
            retry=retry,
        )
    from twinself.llm.openai_compatible import OpenAICompatibleProvider

    return OpenAICompatibleProvider(
        settings.openai_base_url,
        settings.openai_model,
        settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        timeout_seconds=settings.llm_timeout_seconds,
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
        retry=retry,
    )
