"""GeminiProvider driving the real google-genai client against a fake Gemini REST server."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.fakes.gemini_server import FakeGeminiServer, gemini_error, gemini_response
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
from twinself.llm.gemini import GeminiProvider

MakeGemini = Callable[..., GeminiProvider]


def quota_error(details: list[object] | None = None) -> dict[str, object]:
    return gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details)


def test_is_an_llm_provider(make_gemini: MakeGemini) -> None:
    provider = make_gemini()
    assert isinstance(provider, LLMProvider)
    assert provider.name == "gemini"


def test_generate_returns_text_and_reported_usage(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    generation = make_gemini().generate(prompt)

    assert generation.text == gemini_server.reply_text
    assert generation.usage.input_tokens == 42
    assert generation.usage.output_tokens == 13
    assert generation.usage.estimated is False
    assert generation.finish_reason == "STOP"
    assert (generation.provider, generation.model) == ("gemini", "gemini-test")


def test_generate_sends_system_history_key_and_settings(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    make_gemini().generate(prompt)

    [request] = gemini_server.requests
    assert request.path == "/v1beta/models/gemini-test:generateContent"
    assert request.headers["x-goog-api-key"] == API_KEY
    assert request.body["systemInstruction"]["parts"] == [{"text": prompt.system}]
    assert [(c["role"], c["parts"][0]["text"]) for c in request.body["contents"]] == [
        ("user", "Hi, who are you?"),
        ("model", "I'm Ada, I build APIs."),
        ("user", "What do you do on weekends?"),
    ]
    assert request.body["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 256}


def test_stream_yields_pieces_that_join_into_the_full_answer(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    provider = make_gemini()
    whole = provider.generate(prompt).text

    stream = provider.stream(prompt)
    pieces = list(stream)

    assert len(pieces) > 1
    assert "".join(pieces) == whole
    assert stream.result is not None
    assert stream.result.text == whole
    assert stream.result.usage.input_tokens == 42
    assert stream.result.usage.output_tokens == 13
    assert stream.result.usage.estimated is False
    assert stream.result.finish_reason == "STOP"
    streamed = gemini_server.requests[-1]
    assert streamed.path == "/v1beta/models/gemini-test:streamGenerateContent"
    assert streamed.query == {"alt": "sse"}


def test_result_is_empty_until_the_stream_is_exhausted(
    make_gemini: MakeGemini, prompt: Prompt
) -> None:
    stream = make_gemini().stream(prompt)
    next(iter(stream))
    assert stream.result is None


def test_missing_usage_is_estimated(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.include_usage = False
    provider = make_gemini()

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
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt, status: int
) -> None:
    gemini_server.plan(status, gemini_error(status, "PERMISSION_DENIED", "Key refused."))

    with pytest.raises(ProviderAuthError) as caught:
        make_gemini().generate(prompt)

    assert "GOOGLE_API_KEY" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(gemini_server.requests) == 1


def test_wrong_key_answered_as_gemini_does_is_an_auth_error(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    wrong_key = "AIza-wrong-key-123456"
    with pytest.raises(ProviderAuthError) as caught:
        make_gemini(api_key=wrong_key).generate(prompt)
    assert wrong_key not in str(caught.value)
    assert gemini_server.requests[0].headers["x-goog-api-key"] == wrong_key


def test_key_echoed_by_the_server_is_scrubbed(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(400, gemini_error(400, "INVALID_ARGUMENT", f"Bad request from {API_KEY}"))
    with pytest.raises(ProviderRequestRejected) as caught:
        make_gemini().generate(prompt)
    assert API_KEY not in str(caught.value)


def test_quota_with_retry_after_header_then_success(
    make_gemini: MakeGemini,
    gemini_server: FakeGeminiServer,
    prompt: Prompt,
    sleeps: RecordingSleep,
) -> None:
    gemini_server.plan(429, quota_error(), headers={"Retry-After": "3"})

    generation = make_gemini().generate(prompt)

    assert generation.text == gemini_server.reply_text
    assert len(gemini_server.requests) == 2
    assert sleeps.delays == [3.0]


def test_quota_retry_delay_from_the_error_details(
    make_gemini: MakeGemini,
    gemini_server: FakeGeminiServer,
    prompt: Prompt,
    sleeps: RecordingSleep,
) -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    gemini_server.plan(429, quota_error([retry_info]))

    make_gemini().generate(prompt)

    assert sleeps.delays == [7.0]


def test_quota_forever_gives_up_after_every_retry(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(429, quota_error(), headers={"Retry-After": "1"}, times=10)

    with pytest.raises(ProviderQuotaExceeded) as caught:
        make_gemini().generate(prompt)

    assert len(gemini_server.requests) == MAX_RETRIES + 1
    assert caught.value.retry_after == 1.0


def test_server_error_then_success(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(503, gemini_error(503, "UNAVAILABLE", "The model is overloaded."))

    assert make_gemini().generate(prompt).text == gemini_server.reply_text
    assert len(gemini_server.requests) == 2


def test_server_error_forever_is_unavailable(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(500, gemini_error(500, "INTERNAL", "Oops."), times=10)
    with pytest.raises(ProviderUnavailable):
        make_gemini().generate(prompt)
    assert len(gemini_server.requests) == MAX_RETRIES + 1


def test_unknown_model_points_at_the_setting(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(404, gemini_error(404, "NOT_FOUND", "models/nope is not found."))
    with pytest.raises(ProviderRequestRejected, match="CHAT_LLM_MODEL"):
        make_gemini(model="nope").generate(prompt)
    assert len(gemini_server.requests) == 1


def test_slow_server_times_out(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.delay_seconds = 3.0

    with pytest.raises(ProviderTimeout, match="LLM_TIMEOUT_SECONDS"):
        make_gemini().generate(prompt)

    # One retry only: every timeout already cost a full timeout period.
    assert len(gemini_server.requests) == 2


def test_garbage_body_is_a_bad_response(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(200, "<html>definitely not json</html>")
    with pytest.raises(ProviderBadResponse):
        make_gemini().generate(prompt)
    assert len(gemini_server.requests) == 1


def test_reply_of_the_wrong_shape_is_a_bad_response(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(200, {"candidates": [{"content": {"parts": "not a list"}}]})
    with pytest.raises(ProviderBadResponse):
        make_gemini().generate(prompt)


def test_garbage_stream_is_a_bad_response(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(200, "data: {not json\n\n")
    with pytest.raises(ProviderBadResponse):
        list(make_gemini().stream(prompt))


def test_reply_without_candidates_is_a_bad_response(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(200, {"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}})
    with pytest.raises(ProviderBadResponse, match="blocked"):
        make_gemini().generate(prompt)


def test_reply_cut_before_any_text_suggests_more_output_tokens(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(200, gemini_response("", None, finish="MAX_TOKENS"))
    with pytest.raises(ProviderBadResponse, match="LLM_MAX_OUTPUT_TOKENS"):
        make_gemini().generate(prompt)


def test_closed_port_is_unavailable(
    make_gemini: MakeGemini, closed_port_url: str, prompt: Prompt
) -> None:
    with pytest.raises(ProviderUnavailable, match="GEMINI_BASE_URL"):
        make_gemini(base_url=closed_port_url).generate(prompt)


def test_stream_retries_until_it_opens(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    gemini_server.plan(429, quota_error(), headers={"Retry-After": "0"})

    stream = make_gemini().stream(prompt)

    assert "".join(stream) == gemini_server.reply_text
    assert len(gemini_server.requests) == 2


def test_stream_failing_after_text_is_raised_not_retried(
    make_gemini: MakeGemini, gemini_server: FakeGeminiServer, prompt: Prompt
) -> None:
    first = gemini_response("Weekends are for ", None, finish=None)
    failure = gemini_error(500, "INTERNAL", "Stream broke.")
    gemini_server.plan(200, "".join(f"data: {json.dumps(e)}\n\n" for e in (first, failure)))

    stream = make_gemini().stream(prompt)
    received: list[str] = []
    with pytest.raises(ProviderUnavailable):
        for piece in stream:
            received.append(piece)

    assert received == ["Weekends are for "]
    assert stream.result is None
    assert len(gemini_server.requests) == 1
