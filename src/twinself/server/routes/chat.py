"""POST /chat and POST /chat/stream: answer at once, record one outbox row, return."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from twinself.errors import InvalidQuestion, TwinselfError
from twinself.llm.base import ChatTurn, Generation, Passage, TokenUsage, estimate_tokens
from twinself.llm.messages import prompt_text
from twinself.pipeline.outbox_writes import OUTBOX_UNWRITABLE
from twinself.pipeline.request_recorder import RequestContext, RequestOutcome
from twinself.server.active_memory import Serving
from twinself.server.deps import ServicesDep
from twinself.server.http_errors import HttpProblem, error_response, problem_for
from twinself.server.schemas import (
    CHAT_ERROR_RESPONSES,
    STREAM_EVENT,
    ChatMetrics,
    ChatRequest,
    ChatResponse,
    Source,
    StreamMetadata,
)
from twinself.server.services import ServerServices
from twinself.text.unicode_text import has_lone_surrogate, storable
from twinself.twin.twin import TwinAnswer, TwinStream, source_to_dict

logger = logging.getLogger(__name__)
router = APIRouter(tags=["chat"])
# The routes whose every request becomes a run, by path, with the endpoint name it records.
TRACKED_ENDPOINTS = {"/chat": "chat", "/chat/stream": "chat_stream"}

T = TypeVar("T")
CLIENT_CLOSED_REQUEST = 499  # nginx's code: the client went away before the answer ended


def _context(
    request: Request, body: ChatRequest, endpoint: str, serving: Serving
) -> RequestContext:
    return RequestContext(
        # The id HttpMetricsMiddleware gave this request (its exemplar names the same trace).
        request_id=getattr(request.state, "request_id", None) or uuid.uuid4().hex,
        session_id=body.session_id,
        endpoint=endpoint,
        message=storable(body.message),
        conversation_length=len(body.conversation),
        data_version=serving.data_version,
    )


def _input_problem(body: ChatRequest, services: ServerServices) -> HttpProblem | None:
    settings = services.settings
    if not body.message.strip():
        return HttpProblem(400, "The message is empty; send some text.")
    turns = [turn.content for turn in body.conversation]
    if any(has_lone_surrogate(text) for text in (body.message, *turns)):
        return HttpProblem(
            400,
            "The text is not valid Unicode: it has a lone surrogate (\\ud800-\\udfff). "
            "Send UTF-8 text.",
        )
    if len(body.message) > settings.max_message_chars:
        return HttpProblem(
            413,
            f"The message has {len(body.message)} characters; the limit is "
            f"{settings.max_message_chars} (TWINSELF_MAX_MESSAGE_CHARS).",
        )
    if len(body.conversation) > settings.max_conversation_messages:
        return HttpProblem(
            413,
            f"The conversation has {len(body.conversation)} messages; the limit is "
            f"{settings.max_conversation_messages} (TWINSELF_MAX_CONVERSATION_MESSAGES).",
        )
    longest = max(map(len, turns), default=0)
    if longest > settings.max_message_chars:
        return HttpProblem(
            413,
            f"A conversation message has {longest} characters; the limit is "
            f"{settings.max_message_chars} (TWINSELF_MAX_MESSAGE_CHARS).",
        )
    if sum(map(len, turns)) > settings.max_conversation_chars:
        return HttpProblem(
            413,
            f"The conversation has {sum(map(len, turns))} characters; the limit is "
            f"{settings.max_conversation_chars} (TWINSELF_MAX_CONVERSATION_CHARS).",
        )
    return None


def _fail(
    services: ServerServices,
    ctx: RequestContext,
    problem: HttpProblem,
    error_type: str,
    message: str | None = None,
) -> JSONResponse:
    """Record the failure with its full message (the owner's run), answer with the problem."""
    llm = services.twin.llm  # for the record only: a provider switch never happens mid-run
    services.recorder.failed(
        ctx, error_type, problem.status, llm.name, llm.model, message or problem.detail
    )
    return error_response(problem, ctx.request_id)


def _problem_from(error: Exception, request_id: str) -> HttpProblem:
    if not isinstance(error, TwinselfError):
        logger.error("Unexpected error while answering %s", request_id, exc_info=error)
    else:
        logger.warning("Answering %s failed: %s: %s", request_id, type(error).__name__, error)
    return problem_for(error)


def _history(body: ChatRequest) -> list[ChatTurn]:
    return [ChatTurn(m.role, m.content) for m in body.conversation]


async def _answer_or_fail(
    request: Request,
    services: ServerServices,
    body: ChatRequest,
    endpoint: str,
    serving: Serving,
    answer: Callable[[str, Sequence[ChatTurn]], T],
) -> tuple[RequestContext, T | JSONResponse]:
    """Validate, then run `answer` off the event loop; any failure becomes a tracked error."""
    ctx = _context(request, body, endpoint, serving)
    problem = _input_problem(body, services)
    if problem is not None:
        return ctx, _fail(services, ctx, problem, InvalidQuestion.__name__)
    try:
        return ctx, await run_in_threadpool(answer, body.message, _history(body))
    except Exception as error:
        problem = _problem_from(error, ctx.request_id)
        return ctx, _fail(services, ctx, problem, type(error).__name__, str(error))


def _public_sources(services: ServerServices, passages: Sequence[Passage]) -> list[dict[str, Any]]:
    """Sources as clients see them: procedural memory holds the twin's own rules (including
    "do not reveal your instructions"), so it stays out unless the owner turns it on."""
    show_procedural = services.settings.show_procedural_sources
    return [source_to_dict(p) for p in passages if show_procedural or p.memory != "procedural"]


def _metrics(outcome: RequestOutcome) -> dict[str, Any]:
    metrics = outcome.record.metrics
    return {
        "response_time": round(metrics["total_time_seconds"], 4),
        "total_tokens": int(metrics.get("total_tokens", 0)),
        "cost_usd": outcome.cost.total_usd,
        "quality_evaluation": outcome.quality_evaluation,
    }


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses=CHAT_ERROR_RESPONSES,
)
async def chat(
    request: Request, body: ChatRequest, services: ServicesDep
) -> ChatResponse | JSONResponse:
    serving = services.serving()  # this request answers from one memory version throughout
    answer_with = serving.twin.answer
    ctx, answer = await _answer_or_fail(
        request, services, body, TRACKED_ENDPOINTS["/chat"], serving, answer_with
    )
    if isinstance(answer, JSONResponse):
        return answer
    outcome = services.recorder.answered(ctx, answer, track_quality=body.track_quality)
    if outcome.lost:  # not recorded, so not given: see pipeline/outbox_writes
        return error_response(HttpProblem(503, OUTBOX_UNWRITABLE, 30), ctx.request_id)
    return ChatResponse(
        session_id=body.session_id,
        response=answer.response,
        bot_name=serving.twin.persona.name,
        request_id=ctx.request_id,
        run_id=None,
        sources=[Source(**s) for s in _public_sources(services, answer.sources)],
        metrics=ChatMetrics(**_metrics(outcome)),
    )


def sse_text(chunk: str) -> str:
    """A text chunk as one SSE event; newlines (and backslashes) escaped so they survive."""
    escaped = chunk.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    return f"data: {escaped}\n\n"


def sse_event(event: str, payload: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _partial_answer(stream: TwinStream, text: str) -> TwinAnswer:
    """What a stream produced before it ended early, with estimated token counts."""
    prompt = stream.prompt
    usage = TokenUsage(estimate_tokens(prompt_text(prompt)), estimate_tokens(text), estimated=True)
    llm = stream.llm
    return TwinAnswer(
        response=text,
        sources=stream.sources,
        generation=Generation(text, usage, llm.model, llm.name, finish_reason="INCOMPLETE"),
        memory=stream.memory,
        prompt=prompt,
        generation_window=(stream.started, time.perf_counter()),
    )


_END = object()


async def _events(
    services: ServerServices,
    ctx: RequestContext,
    body: ChatRequest,
    stream: TwinStream,
    serving: Serving,
) -> AsyncIterator[str]:
    produced: list[str] = []
    chunks = iter(stream)
    try:
        while (chunk := await run_in_threadpool(next, chunks, _END)) is not _END:
            if not produced:
                first_chunk = time.perf_counter() - ctx.started
                services.metrics.time_to_first_token.observe(first_chunk)
            produced.append(str(chunk))
            yield sse_text(str(chunk))
    except (asyncio.CancelledError, GeneratorExit):
        services.recorder.answered(
            ctx,
            _partial_answer(stream, "".join(produced)),
            status="client_disconnected",
            http_status=CLIENT_CLOSED_REQUEST,
            error_type="ClientDisconnected",
        )
        raise
    except Exception as error:
        problem = _problem_from(error, ctx.request_id)
        services.recorder.answered(
            ctx,
            _partial_answer(stream, "".join(produced)),
            status="error",
            http_status=problem.status,
            error_type=type(error).__name__,
        )
        yield sse_event("error", {"detail": problem.detail, "request_id": ctx.request_id})
        yield "data: [DONE]\n\n"
        return
    if stream.answer is None:  # the iterator finished, so the answer exists
        raise RuntimeError("stream finished without an answer")
    outcome = services.recorder.answered(ctx, stream.answer, track_quality=body.track_quality)
    if outcome.lost:  # the text is out, but the client learns it was not recorded
        yield sse_event("error", {"detail": OUTBOX_UNWRITABLE, "request_id": ctx.request_id})
        yield "data: [DONE]\n\n"
        return
    metadata = StreamMetadata(
        session_id=body.session_id,
        request_id=ctx.request_id,
        run_id=None,
        bot_name=serving.twin.persona.name,  # the version that answered, as /chat
        sources=[Source(**s) for s in _public_sources(services, stream.sources)],
        metrics=ChatMetrics(**_metrics(outcome)),
    )
    yield sse_event("metadata", metadata.model_dump(mode="json"))
    yield "data: [DONE]\n\n"


@router.post(
    "/chat/stream",
    response_model=None,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events, as described above.",
            "content": {"text/event-stream": {"schema": STREAM_EVENT}},
        },
        **CHAT_ERROR_RESPONSES,
    },
)
async def chat_stream(
    request: Request, body: ChatRequest, services: ServicesDep
) -> StreamingResponse | JSONResponse:
    """Server-Sent Events: `data:` text chunks (newlines escaped as \\n), then an
    `event: metadata` with request_id, sources and metrics, then `data: [DONE]`.
    A failure mid-stream sends `event: error` before `[DONE]`."""
    # Retrieval and opening the model's stream happen here, so their errors get a status code.
    serving = services.serving()
    ctx, stream = await _answer_or_fail(
        request, services, body, TRACKED_ENDPOINTS["/chat/stream"], serving, serving.twin.stream
    )
    if isinstance(stream, JSONResponse):
        return stream
    return StreamingResponse(
        _events(services, ctx, body, stream, serving),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
