"""A fake Gemini REST API (generateContent and streamGenerateContent?alt=sse) on loopback.

Point the real google-genai client at it with
`HttpOptions(base_url=server.base_url, api_version="v1beta")`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.scripted_server import (
    RecordedRequest,
    Reply,
    ScriptedServer,
    json_reply,
    split_into_pieces,
    sse_reply,
)

_MODEL_CALL = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>\w+)$")


def gemini_response(
    text: str, usage: dict[str, int] | None, finish: str | None = "STOP"
) -> dict[str, Any]:
    """One GenerateContentResponse (a whole answer, or one streamed chunk)."""
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if finish:
        candidate["finishReason"] = finish
    payload: dict[str, Any] = {"candidates": [candidate], "modelVersion": "fake-gemini"}
    if usage is not None:
        payload["usageMetadata"] = usage
    return payload


def gemini_error(
    code: int, status: str, message: str, details: list[Any] | None = None
) -> dict[str, Any]:
    """The body Gemini sends with an error status."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


class FakeGeminiServer(ScriptedServer):
    def __init__(
        self,
        # Or a function of the request: a model that echoes its prompt, for instance.
        reply_text: str | Callable[[RecordedRequest], str] = (
            "I spend weekends hiking in the hills and reading about old maps."
        ),
        *,
        prompt_tokens: int = 42,
        output_tokens: int = 13,
        include_usage: bool = True,
        stream_pieces: int = 4,
        api_key: str | None = None,
    ) -> None:
        super().__init__()
        self.reply_text = reply_text
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.include_usage = include_usage
        self.stream_pieces = stream_pieces
        # When set, other keys get Gemini's real answer to a wrong key: 400 API_KEY_INVALID.
        self.api_key = api_key

    def model_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if _MODEL_CALL.match(r.path)]

    def normal_reply(self, request: RecordedRequest) -> Reply:
        call = _MODEL_CALL.match(request.path)
        if request.method != "POST" or call is None:
            return json_reply(gemini_error(404, "NOT_FOUND", f"No route {request.path}"), 404)
        if self.api_key is not None and request.headers.get("x-goog-api-key") != self.api_key:
            return json_reply(self._invalid_key_error(), 400)
        text = self.reply_text(request) if callable(self.reply_text) else self.reply_text
        if call["method"] == "generateContent":
            return json_reply(gemini_response(text, self._usage()))
        if call["method"] == "streamGenerateContent" and request.query.get("alt") == "sse":
            pieces = split_into_pieces(text, self.stream_pieces)
            chunks = [
                gemini_response(piece, None, finish=None if i < len(pieces) - 1 else "STOP")
                for i, piece in enumerate(pieces)
            ]
            usage = self._usage()
            if usage is not None:
                chunks[-1]["usageMetadata"] = usage
            return sse_reply(chunks)
        return json_reply(gemini_error(400, "INVALID_ARGUMENT", "Unknown method"), 400)

    def _usage(self) -> dict[str, int] | None:
        if not self.include_usage:
            return None
        return {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.output_tokens,
            "totalTokenCount": self.prompt_tokens + self.output_tokens,
        }

    @staticmethod
    def _invalid_key_error() -> dict[str, Any]:
        return gemini_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        )
