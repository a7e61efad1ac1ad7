"""The HTTP API's shapes, compatible with TwinSelf's documented API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from twinself.pipeline.records import QualityEvaluation


class ConversationMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    # A client's own token (a uuid, "e2e", "session_1700000000"): it becomes an MLflow tag and
    # trace metadata, so free text and huge values are refused.
    session_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    message: str
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


class RunState(BaseModel):
    request_id: str
    status: Literal["pending", "shipped", "failed"]
    run_id: str | None
    trace_id: str | None
    attempts: int
    last_error: str | None


class ErrorBody(BaseModel):
    detail: str
    request_id: str | None = None
