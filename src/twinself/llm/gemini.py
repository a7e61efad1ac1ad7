"""Gemini through the official google-genai SDK. Our RetryPolicy is the only retry layer."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

import httpx
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from twinself.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from twinself.llm.base import (
    Generation,
    GenerationStream,
    Prompt,
    TokenUsage,
    estimate_tokens,
)
from twinself.llm.messages import conversation_turns, prompt_text
from twinself.llm.retry import RetryPolicy, parse_retry_after
from twinself.redaction import redact

# google-genai 1.x sends requests with httpx; 2.x and later with its fork httpx2.
_TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException,)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)
try:
    import httpx2

    _TIMEOUTS += (httpx2.TimeoutException,)
    _TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # older SDK: httpx only
    pass


PUBLIC_GEMINI_URL = "https://generativelanguage.googleapis.com"


class GeminiProvider:
    name: str = "gemini"

    def __init__(
        self,
        api_key: str,
        model: str,
        *,
        base_url: str | None = None,
        api_version: str = "v1beta",
        timeout_seconds: float,
        temperature: float,
        max_output_tokens: int,
        retry: RetryPolicy,
    ) -> None:
        self.model = model
        self._api_key = api_key  # kept only to scrub it from server text we repeat
        self._endpoint = base_url or PUBLIC_GEMINI_URL
        self._timeout_seconds = timeout_seconds
        self._retry = retry
        self._config = types.GenerateContentConfig(
            temperature=temperature,
            max_output_tokens=max_output_tokens,
            # We send no tools; disabling AFC also silences its per-call log line.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version=api_version,
                timeout=max(1, round(timeout_seconds * 1000)),
                # One attempt per call: retrying here too would multiply attempts and delays.
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def generate(self, prompt: Prompt) -> Generation:
        contents, config = self._request(prompt)

        def attempt() -> types.GenerateContentResponse:
            with self._translated_errors():
                return self._client.models.generate_content(
                    model=self.model, contents=contents, config=config
                )

        response = self._retry.run(attempt)
        text = _candidate_text(response)
        if not text:
            raise self._no_text_error(response)
        return Generation(
            text=text,
            usage=_usage(response.usage_metadata, prompt, text),
            model=self.model,
            provider=self.name,
            finish_reason=_finish_reason(response),
        )

    def stream(self, prompt: Prompt) -> GenerationStream:
        """Opens the stream and reads its first chunk now, so failures to start are retried
        (and raised here); failures after text went out are raised from the iterator."""
        contents, config = self._request(prompt)

        def open_stream() -> tuple[types.GenerateContentResponse | None, Iterator[Any]]:
            with self._translated_errors():
                responses = self._client.models.generate_content_stream(
                    model=self.model, contents=contents, config=config
                )
                return next(responses, None), responses

        first, rest = self._retry.run(open_stream)
        stream = GenerationStream(chunks=iter(()), provider=self.name, model=self.model)
        stream.chunks = self._stream_chunks(stream, prompt, first, rest)
        return stream

    def close(self) -> None:
        self._client.close()

    def _stream_chunks(
        self,
        stream: GenerationStream,
        prompt: Prompt,
        first: types.GenerateContentResponse | None,
        rest: Iterator[types.GenerateContentResponse],
    ) -> Iterator[str]:
        pieces: list[str] = []
        usage_metadata: types.GenerateContentResponseUsageMetadata | None = None
        finish_reason: str | None = None
        last: types.GenerateContentResponse | None = None
        chunk = first
        try:
            while chunk is not None:
                last = chunk
                usage_metadata = chunk.usage_metadata or usage_metadata
                finish_reason = _finish_reason(chunk) or finish_reason
                text = _candidate_text(chunk)
                if text:
                    pieces.append(text)
                    yield text
                with self._translated_errors():
                    chunk = next(rest, None)
        finally:
            if isinstance(rest, Generator):
                rest.close()
        full_text = "".join(pieces)
        if not full_text:
            raise self._no_text_error(last)
        stream.result = Generation(
            text=full_text,
            usage=_usage(usage_metadata, prompt, full_text),
            model=self.model,
            provider=self.name,
            finish_reason=finish_reason,
        )

    def _request(
        self, prompt: Prompt
    ) -> tuple[types.ContentListUnionDict, types.GenerateContentConfig]:
        contents: list[types.ContentUnionDict] = [
            types.Content(
                role="model" if turn.role == "assistant" else "user",
                parts=[types.Part(text=turn.content)],
            )
            for turn in conversation_turns(prompt)
        ]
        config = self._config.model_copy(update={"system_instruction": prompt.system or None})
        return contents, config

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        """Turns SDK and network exceptions into our typed errors; keep it around SDK calls only."""
        try:
            yield
        except genai_errors.APIError as error:
            raise self._api_error(error) from error
        except _TIMEOUTS as error:
            raise ProviderTimeout(
                f"Gemini at {self._endpoint} did not answer within {self._timeout_seconds:g}s; "
                "try again, or raise LLM_TIMEOUT_SECONDS."
            ) from error
        except _TRANSPORT_ERRORS as error:
            raise ProviderUnavailable(
                f"Could not reach Gemini at {self._endpoint} ({type(error).__name__}); "
                "check your network connection, or GEMINI_BASE_URL if you set it."
            ) from error
        except (
            json.JSONDecodeError,
            genai_errors.UnknownApiResponseError,
            pydantic.ValidationError,
        ) as error:
            # What the SDK raises when a reply is not JSON, or not the shape it expects.
            raise ProviderBadResponse(
                f"Gemini at {self._endpoint} sent a reply that could not be read "
                f"({self._scrub(str(error))}); if GEMINI_BASE_URL points at a proxy, check it."
            ) from error

    def _api_error(self, error: genai_errors.APIError) -> ProviderError:
        code = error.code
        detail = self._scrub(str(error.message or error.status or "no details"))
        if code in (401, 403) or _is_invalid_key(error):
            return ProviderAuthError(
                f"Gemini refused the API key ({code}: {detail}); check GOOGLE_API_KEY "
                "(create one at https://aistudio.google.com/apikey)."
            )
        if code == 429:
            return ProviderQuotaExceeded(
                f"Gemini quota exceeded for model {self.model} (429: {detail}); wait and retry, "
                "send fewer requests, or check your plan and billing in Google AI Studio.",
                retry_after=_retry_after(error),
            )
        if code == 404:
            return ProviderRequestRejected(
                f"Gemini does not offer model {self.model!r} (404: {detail}); check CHAT_LLM_MODEL."
            )
        if code == 408:
            return ProviderTimeout(f"Gemini timed out the request (408: {detail}); try again.")
        if 400 <= code < 500:
            return ProviderRequestRejected(
                f"Gemini rejected the request ({code}: {detail}); check CHAT_LLM_MODEL, "
                "LLM_TEMPERATURE and LLM_MAX_OUTPUT_TOKENS."
            )
        if 500 <= code < 600:
            return ProviderUnavailable(
                f"Gemini is having trouble ({code}: {detail}); try again in a few minutes."
            )
        return ProviderBadResponse(f"Gemini answered with unexpected status {code}: {detail}.")

    def _no_text_error(self, response: types.GenerateContentResponse | None) -> ProviderError:
        feedback = response.prompt_feedback if response is not None else None
        if feedback is not None and feedback.block_reason is not None:
            return ProviderBadResponse(
                f"Gemini blocked the prompt ({_enum_text(feedback.block_reason)}); "
                "rephrase the question, or review the persona data it retrieved."
            )
        finish = _finish_reason(response) if response is not None else None
        if finish == "MAX_TOKENS":
            return ProviderBadResponse(
                "Gemini used up its output budget before writing any text; "
                "raise LLM_MAX_OUTPUT_TOKENS."
            )
        return ProviderBadResponse(
            f"Gemini returned no text (finish reason {finish or 'none'}); try again, "
            "or rephrase the question if it keeps happening."
        )

    def _scrub(self, text: str) -> str:
        return redact(text, [self._api_key], limit=300)


def _candidate_text(response: types.GenerateContentResponse) -> str:
    if not response.candidates:
        return ""
    content = response.candidates[0].content
    parts = content.parts if content is not None else None
    # Thought summaries are the model's scratchpad, not the reply.
    return "".join(part.text for part in parts or [] if part.text and not part.thought)


def _finish_reason(response: types.GenerateContentResponse) -> str | None:
    if not response.candidates or response.candidates[0].finish_reason is None:
        return None
    return _enum_text(response.candidates[0].finish_reason)


def _enum_text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _usage(
    metadata: types.GenerateContentResponseUsageMetadata | None, prompt: Prompt, text: str
) -> TokenUsage:
    if metadata is None or metadata.prompt_token_count is None:
        return TokenUsage(estimate_tokens(prompt_text(prompt)), estimate_tokens(text), True)
    # Thinking tokens are billed as output, so they count as output here too.
    output = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return TokenUsage(metadata.prompt_token_count, output, estimated=False)


def _error_body(error: genai_errors.APIError) -> dict[str, Any]:
    details = error.details
    if isinstance(details, dict) and isinstance(details.get("error"), dict):
        details = details["error"]
    return details if isinstance(details, dict) else {}


def _is_invalid_key(error: genai_errors.APIError) -> bool:
    # Gemini answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    return error.code == 400 and "API_KEY_INVALID" in json.dumps(_error_body(error), default=str)


def _retry_after(error: genai_errors.APIError) -> float | None:
    headers = getattr(error.response, "headers", None)
    from_header = parse_retry_after(headers.get("retry-after")) if headers is not None else None
    if from_header is not None:
        return from_header
    # Otherwise Gemini says it in google.rpc.RetryInfo, e.g. {"retryDelay": "7s"}.
    for item in _error_body(error).get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            delay = str(item.get("retryDelay", "")).removesuffix("s")
            try:
                return max(0.0, float(delay))
            except ValueError:
                return None
    return None
