"""The HTTP API's shapes, compatible with TwinSelf's documented API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from twinself.pipeline.records import QualityEvaluation


class ConversationMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    # A client's own token (a uuid, "e2e", "session_1700000000"): it becomes an MLflow tag and
    # trace metadata, so free text and huge values are refused.
    session_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        examples=["session_1700000000"],
    )
    message: str = Field(examples=["Where do you work?"])
    conversation: list[ConversationMessage] = Field(default_factory=list)
    # Strict: "yes" or 0 are mistakes to report, not to guess at.
    track_quality: StrictBool = True


class Source(BaseModel):
    memory: Literal["semantic", "episodic", "procedural"]
    source: str
    heading: str
    text: str
    score: float


class ChatMetrics(BaseModel):
    response_time: float
    total_tokens: int
    cost_usd: float
    quality_evaluation: QualityEvaluation


class ChatResponse(BaseModel):
    session_id: str
    response: str
    bot_name: str
    request_id: str
    run_id: str | None = None
    sources: list[Source]
    metrics: ChatMetrics


class StreamMetadata(BaseModel):
    """/chat/stream's `event: metadata`: what /chat answers besides the text."""

    session_id: str
    request_id: str
    run_id: str | None = None
    bot_name: str
    sources: list[Source]
    metrics: ChatMetrics


class SuggestionRequest(BaseModel):
    original_question: str
    original_response: str
    suggested_response: str
    request_id: str | None = None


class SuggestionResponse(BaseModel):
    status: Literal["success"] = "success"
    message: str
    # TwinSelf's field name; an opaque reference, never a path on the server.
    saved_to: str = Field(examples=["feedback/42"])


class MetricScore(BaseModel):
    score: float
    threshold: float
    passed: bool


class EvaluationScores(BaseModel):
    answer_relevancy: MetricScore
    faithfulness: MetricScore


class RunEvaluation(BaseModel):
    """The answer's quality evaluation, read from the outbox (no MLflow round-trip). `scores`
    appear once judged (`scored`, then `done` when logged to MLflow); `dead`: it kept failing.
    The judge's reasons stay out: they may quote memory visitors are not shown."""

    status: Literal["pending", "running", "scored", "done", "dead"]
    judge: str | None = None
    scores: EvaluationScores | None = None


class RunState(BaseModel):
    request_id: str
    status: Literal["pending", "shipped", "failed"]
    run_id: str | None
    trace_id: str | None
    attempts: int
    last_error: str | None
    # None when the answer was not sampled for evaluation (or evaluation is off).
    evaluation: RunEvaluation | None = None


class RatingRequest(BaseModel):
    request_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        examples=["3f2a9c1e7b5d4e6f8a0b1c2d3e4f5a6b"],
    )
    rating: Literal["up", "down"]


class RatingResponse(BaseModel):
    status: Literal["success"] = "success"
    rating_id: int


class ErrorBody(BaseModel):
    detail: str
    request_id: str | None = None


# What both chat routes answer besides their 200 and FastAPI's 422, so the schema tells
# clients: refusals before the handler (app.py's dependencies, the body limit) and after.
CHAT_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "The body is not UTF-8 JSON, or the message is empty or not valid Unicode.",
        401: "TWINSELF_API_KEYS is set and no valid key was sent.",
        413: "The body, the message or the conversation is over its limit.",
        429: "Over TWINSELF_RATE_LIMIT; Retry-After says when to retry.",
        502: "The language model provider refused this server's request.",
        503: "The model or the memory is unavailable, or the daily spend cap is reached; "
        "see Retry-After.",
        504: "The language model did not answer in time.",
    }.items()
}


def _stream_event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"const": name}, "data": data},
    }


def _json_text(model: type[BaseModel]) -> dict[str, Any]:
    """A string holding `model` as JSON. Its nested models are /chat's (Source,
    ChatMetrics): already in the schema's components, so referred to there."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


# One event of /chat/stream, as OpenAPI 3.1 tools read a text/event-stream schema: the text
# chunks and the closing [DONE] are unnamed ("message") events, then JSON metadata or error.
STREAM_EVENT = {
    "oneOf": [
        _stream_event("message", {"type": "string"}),
        _stream_event("metadata", _json_text(StreamMetadata)),
        _stream_event("error", _json_text(ErrorBody)),
    ]
}
