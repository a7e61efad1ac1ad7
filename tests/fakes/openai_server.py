"""A fake OpenAI-compatible API (POST /v1/chat/completions, whole or streamed) on loopback."""

from __future__ import annotations

from typing import Any

from tests.fakes.scripted_server import (
    RecordedRequest,
    Reply,
    ScriptedServer,
    json_reply,
    split_into_pieces,
    sse_reply,
)

CHAT_PATH = "/v1/chat/completions"


class FakeOpenAIServer(ScriptedServer):
    def __init__(
        self,
        reply_text: str = "I mostly write Python, and I brew my own coffee before standup.",
        *,
        prompt_tokens: int = 37,
        completion_tokens: int = 15,
        include_usage: bool = True,
        stream_pieces: int = 4,
    ) -> None:
        super().__init__()
        self.reply_text = reply_text
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.include_usage = include_usage
        self.stream_pieces = stream_pieces

    @property
    def api_base_url(self) -> str:
        """What OPENAI_BASE_URL would be set to."""
        return f"{self.base_url}/v1"

    def normal_reply(self, request: RecordedRequest) -> Reply:
        if request.method != "POST" or request.path != CHAT_PATH:
            return json_reply({"error": {"message": f"No route {request.path}"}}, 404)
        model = str((request.body or {}).get("model", "fake"))
        if not request.is_stream:
            payload: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.reply_text},
                        "finish_reason": "stop",
                    }
                ],
            }
            if self.include_usage:
                payload["usage"] = self._usage()
            return json_reply(payload)
        pieces = split_into_pieces(self.reply_text, self.stream_pieces)
        events: list[dict[str, Any]] = [
            self._chunk(model, {"role": "assistant", "content": piece}, None) for piece in pieces
        ]
        events.append(self._chunk(model, {}, "stop"))
        wants_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        if self.include_usage and wants_usage:
            events.append({**self._chunk(model, {}, None), "choices": [], "usage": self._usage()})
        return sse_reply(events, done_marker=True)

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    @staticmethod
    def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
