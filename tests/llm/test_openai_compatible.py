"""OpenAICompatibleProvider against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer
from tests.fakes.recording_sleep import RecordingSleep
from tests.llm.provider_defaults import API_KEY, MAX_RETRIES
from twinself.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderQuotaExceeded,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from twinself.llm.base import LLMProvider, Prompt
from twinself.llm.openai_compatible import OpenAICompatibleProvider

MakeOpenAI = Callable[..., OpenAICompatibleProvider]
RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}


def test_is_an_llm_provider(make_openai: MakeOpenAI) -> None:
    provider = make_openai()
    assert isinstance(provider, LLMProvider)
    assert provider.name == "openai"


def test_generate_returns_text_and_reported_usage(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    generation = make_openai().generate(prompt)

    assert generation.text == openai_server.reply_text
    assert generation.usage.input_tokens == 37
    assert generation.usage.output_tokens == 15
    assert generation.usage.estimated is False
    assert generation.finish_reason == "stop"
    assert (generation.provider, generation.model) == ("openai", "llama-test")


def test_generate_sends_system_history_question_and_key(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    make_openai().generate(prompt)

    [request] = openai_server.requests
    assert request.path == CHAT_PATH
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "llama-test"
    assert request.body["stream"] is False
    assert request.body["temperature"] == 0.2
    assert request.body["max_tokens"] == 256
    assert [(m["role"], m["content"]) for m in request.body["messages"]] == [
        ("system", prompt.system),
        ("user", "Hi, who are you?"),
        ("assistant", "I'm Ada, I build APIs."),
        ("user", "What do you do on weekends?"),
    ]


def test_no_key_sends_no_authorization(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    make_openai(api_key=None).generate(prompt)
    assert "authorization" not in openai_server.requests[0].headers


def test_stream_yields_pieces_that_join_into_the_full_answer(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    provider = make_openai()
    whole = provider.generate(prompt).text

    stream = provider.stream(prompt)
    pieces = list(stream)

    assert len(pieces) > 1
    assert "".join(pieces) == whole
    assert stream.result is not None
    assert stream.result.text == whole
    assert stream.result.usage.input_tokens == 37
    assert stream.result.usage.output_tokens == 15
    assert stream.result.usage.estimated is False
    assert stream.result.finish_reason == "stop"
    body = openai_server.requests[-1].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_missing_usage_is_estimated(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.include_usage = False
    provider = make_openai()

    generation = provider.generate(prompt)
    stream = provider.stream(prompt)
    list(stream)

    for usage in (generation.usage, stream.result.usage if stream.result else None):
        assert usage is not None
        assert usage.estimated is True
        assert usage.input_tokens > 0
        assert usage.output_tokens > 0


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_an_auth_error_that_hides_the_key(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt, status: int
) -> None:
    openai_server.plan(status, {"error": {"message": f"Incorrect API key provided: {API_KEY}"}})

    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY") as caught:
        make_openai().generate(prompt)

    assert API_KEY not in str(caught.value)
    assert len(openai_server.requests) == 1


def test_rate_limit_with_retry_after_then_success(
    make_openai: MakeOpenAI,
    openai_server: FakeOpenAIServer,
    prompt: Prompt,
    sleeps: RecordingSleep,
) -> None:
    openai_server.plan(429, RATE_LIMITED, headers={"Retry-After": "2"})

    assert make_openai().generate(prompt).text == openai_server.reply_text
    assert len(openai_server.requests) == 2
    assert sleeps.delays == [2.0]


def test_rate_limit_forever_gives_up_after_every_retry(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.plan(429, RATE_LIMITED, times=10)
    with pytest.raises(ProviderQuotaExceeded):
        make_openai().generate(prompt)
    assert len(openai_server.requests) == MAX_RETRIES + 1


def test_server_error_then_success(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.plan(503, "Service Unavailable")
    assert make_openai().generate(prompt).text == openai_server.reply_text
    assert len(openai_server.requests) == 2


def test_unknown_model_shows_the_server_message_and_the_setting(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    # Ollama's shape: the error is a plain string.
    openai_server.plan(404, {"error": "model 'llama-test' not found, try pulling it first"})
    with pytest.raises(ProviderRequestRejected) as caught:
        make_openai().generate(prompt)
    assert "not found" in str(caught.value)
    assert "OPENAI_MODEL" in str(caught.value)
    assert len(openai_server.requests) == 1


def test_slow_server_times_out(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.delay_seconds = 3.0
    with pytest.raises(ProviderTimeout, match="LLM_TIMEOUT_SECONDS"):
        make_openai().generate(prompt)
    assert len(openai_server.requests) == 2


def test_garbage_body_is_a_bad_response(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.plan(200, "<html>It works!</html>")
    with pytest.raises(ProviderBadResponse, match="OPENAI_BASE_URL"):
        make_openai().generate(prompt)
    assert len(openai_server.requests) == 1


def test_json_without_choices_is_a_bad_response(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.plan(200, {"object": "list", "data": []})
    with pytest.raises(ProviderBadResponse):
        make_openai().generate(prompt)


def test_garbage_stream_is_a_bad_response(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.plan(200, "data: {oops\n\n")
    with pytest.raises(ProviderBadResponse):
        list(make_openai().stream(prompt))
    assert len(openai_server.requests) == 1


def test_closed_port_is_unavailable_and_says_what_to_check(
    make_openai: MakeOpenAI, closed_port_url: str, prompt: Prompt
) -> None:
    provider = make_openai(base_url=f"{closed_port_url}/v1")
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate(prompt)
    assert closed_port_url in str(caught.value)
    assert "OPENAI_BASE_URL" in str(caught.value)
    with pytest.raises(ProviderUnavailable):
        provider.stream(prompt)


def test_stream_retries_until_it_opens(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    openai_server.plan(502, "Bad Gateway")
    stream = make_openai().stream(prompt)
    assert "".join(stream) == openai_server.reply_text
    assert len(openai_server.requests) == 2


def test_stream_failing_after_text_is_raised_not_retried(
    make_openai: MakeOpenAI, openai_server: FakeOpenAIServer, prompt: Prompt
) -> None:
    first = {"choices": [{"index": 0, "delta": {"content": "I write "}, "finish_reason": None}]}
    failure = {"error": {"message": "CUDA out of memory"}}
    openai_server.plan(200, "".join(f"data: {json.dumps(e)}\n\n" for e in (first, failure)))

    stream = make_openai().stream(prompt)
    received: list[str] = []
    with pytest.raises(ProviderUnavailable, match="CUDA"):
        for piece in stream:
            received.append(piece)

    assert received == ["I write "]
    assert stream.result is None
    assert len(openai_server.requests) == 1
