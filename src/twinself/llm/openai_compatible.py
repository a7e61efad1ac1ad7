"""Any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server) over plain httpx."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from twinself.errors import (
    ProviderAuthError,
    ProviderBadResponse,
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
from twinself.llm.messages import prompt_text, to_chat_messages
from twinself.llm.retry import RetryPolicy, parse_retry_after
from twinself.redaction import redact


class OpenAICompatibleProvider:
    name: str = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        timeout_seconds: float,
        temperature: float,
        max_output_tokens: int,
        retry: RetryPolicy,
    ) -> None:
        self.model = model
        self._base_url = base_url.rstrip("/")
        self._url = f"{self._base_url}/chat/completions"
        self._api_key = api_key
        self._timeout_seconds = timeout_seconds
        self._temperature = temperature
        self._max_output_tokens = max_output_tokens
        self._retry = retry
        self._http = httpx.Client(
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        )

    def generate(self, prompt: Prompt) -> Generation:
        body = self._body(prompt, stream=False)

        def attempt() -> Any:
            with self._transport_errors():
                response = self._http.post(self._url, json=body)
            self._raise_for_status(response)
            try:
                return response.json()
            except ValueError as error:
                raise self._not_json(response.text) from error

        payload = self._retry.run(attempt)
        choice = _first_choice(payload)
        text = _text_of(choice, "message")
        if not text:
            raise ProviderBadResponse(
                f"The endpoint at {self._url} returned no text for model {self.model}; "
                "try again, or raise LLM_MAX_OUTPUT_TOKENS if it keeps happening."
            )
        return Generation(
            text=text,
            usage=_usage(payload.get("usage"), prompt, text),
            model=self.model,
            provider=self.name,
            finish_reason=_finish_reason(choice),
        )

    def stream(self, prompt: Prompt) -> GenerationStream:
        """Opens the stream and reads its first event now, so failures to start are retried
        (and raised here); failures after text went out are raised from the iterator."""
        request = self._http.build_request("POST", self._url, json=self._body(prompt, stream=True))

        def open_stream() -> tuple[httpx.Response, Iterator[Any]]:
            with self._transport_errors():
                response = self._http.send(request, stream=True)
            try:
                if response.status_code != 200:
                    with self._transport_errors():
                        response.read()
                    self._raise_for_status(response)
                events = self._events(response)
                first = next(events, None)
            except BaseException:
                response.close()
                raise
            return response, events if first is None else itertools.chain([first], events)

        response, events = self._retry.run(open_stream)
        stream = GenerationStream(chunks=iter(()), provider=self.name, model=self.model)
        stream.chunks = self._stream_chunks(stream, prompt, response, events)
        return stream

    def close(self) -> None:
        self._http.close()

    def _body(self, prompt: Prompt, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_chat_messages(prompt),
            "temperature": self._temperature,
            "max_tokens": self._max_output_tokens,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _stream_chunks(
        self,
        stream: GenerationStream,
        prompt: Prompt,
        response: httpx.Response,
        events: Iterator[Any],
    ) -> Iterator[str]:
        pieces: list[str] = []
        usage: Any = None
        finish_reason: str | None = None
        try:
            for event in events:
                if not isinstance(event, dict):
                    raise self._not_json(json.dumps(event))
                if event.get("error"):
                    raise ProviderUnavailable(
                        f"The endpoint at {self._url} failed mid-answer "
                        f"({self._scrub(json.dumps(event['error']))}); try again."
                    )
                usage = event.get("usage") or usage
                choices = event.get("choices") or []
                if not choices:
                    continue  # the closing usage-only event
                choice = _first_choice(event)
                finish_reason = _finish_reason(choice) or finish_reason
                text = _text_of(choice, "delta")
                if text:
                    pieces.append(text)
                    yield text
        finally:
            response.close()
        full_text = "".join(pieces)
        if not full_text:
            raise ProviderBadResponse(
                f"The endpoint at {self._url} streamed no text for model {self.model}; try again."
            )
        stream.result = Generation(
            text=full_text,
            usage=_usage(usage, prompt, full_text),
            model=self.model,
            provider=self.name,
            finish_reason=finish_reason,
        )

    def _events(self, response: httpx.Response) -> Iterator[Any]:
        """The JSON payloads of the Server-Sent Events, up to `data: [DONE]`."""
        with self._transport_errors():
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    yield json.loads(data)
                except ValueError as error:
                    raise self._not_json(data) from error

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as error:
            raise ProviderTimeout(
                f"The OpenAI-compatible endpoint at {self._base_url} did not answer within "
                f"{self._timeout_seconds:g}s; raise LLM_TIMEOUT_SECONDS (local models can be "
                "slow to load), or check the server."
            ) from error
        except httpx.TransportError as error:
            raise ProviderUnavailable(
                f"Could not reach the OpenAI-compatible endpoint at {self._base_url} "
                f"({type(error).__name__}); is Ollama/vLLM running? Check OPENAI_BASE_URL."
            ) from error

    def _raise_for_status(self, response: httpx.Response) -> None:
        code = response.status_code
        if code == 200:
            return
        detail = self._scrub(_server_message(response))
        if code in (401, 403):
            hint = "check OPENAI_API_KEY" if self._api_key else "set OPENAI_API_KEY"
            raise ProviderAuthError(
                f"The endpoint at {self._base_url} refused the credentials ({code}: {detail}); "
                f"{hint}."
            )
        if code == 429:
            raise ProviderQuotaExceeded(
                f"The endpoint at {self._base_url} is rate limiting requests (429: {detail}); "
                "wait and retry, or send fewer requests.",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if code == 404:
            raise ProviderRequestRejected(
                f"The endpoint at {self._url} answered 404 ({detail}); check OPENAI_MODEL "
                f"({self.model!r}; with Ollama, `ollama pull` it) and that OPENAI_BASE_URL "
                "ends with /v1."
            )
        if code == 408:
            raise ProviderTimeout(f"The endpoint at {self._base_url} timed out (408: {detail}).")
        if 400 <= code < 500:
            raise ProviderRequestRejected(
                f"The endpoint at {self._url} rejected the request ({code}: {detail}); check "
                "OPENAI_MODEL, LLM_TEMPERATURE and LLM_MAX_OUTPUT_TOKENS."
            )
        if 500 <= code < 600:
            raise ProviderUnavailable(
                f"The endpoint at {self._base_url} is having trouble ({code}: {detail}); "
                "check its logs, or try again."
            )
        raise ProviderBadResponse(f"The endpoint at {self._url} answered status {code}.")

    def _not_json(self, text: str) -> ProviderBadResponse:
        return ProviderBadResponse(
            f"The endpoint at {self._url} sent something that is not a chat completion "
            f"({self._scrub(text)!r}); check that OPENAI_BASE_URL points at an "
            "OpenAI-compatible API (usually ending in /v1)."
        )

    def _scrub(self, text: str) -> str:
        return redact(text, [self._api_key], limit=300)


def _first_choice(payload: Any) -> dict[str, Any]:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderBadResponse(
            "The OpenAI-compatible endpoint sent a reply without choices; check OPENAI_BASE_URL "
            "points at a chat completions API."
        )
    return choices[0]


def _text_of(choice: dict[str, Any], key: str) -> str:
    """The content of `message` (whole replies) or `delta` (streamed pieces); may be empty."""
    container = choice.get(key)
    content = container.get("content") if isinstance(container, dict) else None
    if content is not None and not isinstance(content, str):
        raise ProviderBadResponse(
            f"The OpenAI-compatible endpoint sent non-text content ({type(content).__name__}); "
            "twinself reads text replies only."
        )
    return content or ""


def _finish_reason(choice: dict[str, Any]) -> str | None:
    reason = choice.get("finish_reason")
    return str(reason) if reason else None


def _usage(reported: Any, prompt: Prompt, text: str) -> TokenUsage:
    if isinstance(reported, dict):
        prompt_tokens = reported.get("prompt_tokens")
        completion_tokens = reported.get("completion_tokens")
        if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
            return TokenUsage(prompt_tokens, completion_tokens, estimated=False)
    return TokenUsage(estimate_tokens(prompt_text(prompt)), estimate_tokens(text), estimated=True)


def _server_message(response: httpx.Response) -> str:
    """The error text the server gave: OpenAI nests it in error.message, Ollama in error."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
