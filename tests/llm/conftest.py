from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.recording_sleep import RecordingSleep
from tests.llm.provider_defaults import API_KEY, MAX_RETRIES, TIMEOUT_SECONDS
from twinself.llm.base import ChatTurn, Prompt
from twinself.llm.gemini import GeminiProvider
from twinself.llm.openai_compatible import OpenAICompatibleProvider
from twinself.llm.retry import RetryPolicy


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def retry(sleeps: RecordingSleep) -> RetryPolicy:
    return RetryPolicy(max_retries=MAX_RETRIES, base_seconds=0.01, sleep=sleeps)


@pytest.fixture
def prompt() -> Prompt:
    return Prompt(
        system="You are Ada, a backend engineer. Answer in first person.",
        messages=(
            ChatTurn("user", "Hi, who are you?"),
            ChatTurn("assistant", "I'm Ada, I build APIs."),
        ),
        question="What do you do on weekends?",
        persona_name="Ada",
    )


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens, so connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def gemini_server() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def make_gemini(
    gemini_server: FakeGeminiServer, retry: RetryPolicy
) -> Iterator[Callable[..., GeminiProvider]]:
    """Builds a provider pointed at the fake server; keyword arguments override the defaults."""
    built: list[GeminiProvider] = []

    def build(**overrides: Any) -> GeminiProvider:
        options: dict[str, Any] = {
            "api_key": API_KEY,
            "model": "gemini-test",
            "base_url": gemini_server.base_url,
            "api_version": "v1beta",
            "timeout_seconds": TIMEOUT_SECONDS,
            "temperature": 0.2,
            "max_output_tokens": 256,
            "retry": retry,
        } | overrides
        provider = GeminiProvider(options.pop("api_key"), options.pop("model"), **options)
        built.append(provider)
        return provider

    yield build
    for provider in built:
        provider.close()


@pytest.fixture
def make_openai(
    openai_server: FakeOpenAIServer, retry: RetryPolicy
) -> Iterator[Callable[..., OpenAICompatibleProvider]]:
    built: list[OpenAICompatibleProvider] = []

    def build(**overrides: Any) -> OpenAICompatibleProvider:
        options: dict[str, Any] = {
            "base_url": openai_server.api_base_url,
            "model": "llama-test",
            "api_key": API_KEY,
            "timeout_seconds": TIMEOUT_SECONDS,
            "temperature": 0.2,
            "max_output_tokens": 256,
            "retry": retry,
        } | overrides
        provider = OpenAICompatibleProvider(
            options.pop("base_url"), options.pop("model"), options.pop("api_key"), **options
        )
        built.append(provider)
        return provider

    yield build
    for provider in built:
        provider.close()
