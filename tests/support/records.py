"""RequestRecords shaped like the ones the server writes: a root span and five children."""

from __future__ import annotations

import time
import uuid
from typing import Any

from twinself.pipeline.records import (
    QUALITY_EVALUATION_TAG,
    QualityEvaluation,
    RequestRecord,
    RequestStatus,
    SpanRecord,
)

PARAM_NAMES = (
    "session_id",
    "message_length",
    "conversation_length",
    "provider",
    "model",
    "data_version",
)
METRIC_NAMES = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "response_time_seconds",
    "total_time_seconds",
    "retrieval_time_seconds",
    "input_cost_usd",
    "output_cost_usd",
    "total_cost_usd",
)
RUN_TAG_NAMES = ("request_id", "trace_id", "status", "error_type", "endpoint", "http_status")
SPAN_NAMES = (
    "embed_query",
    "retrieve_semantic",
    "retrieve_episodic",
    "retrieve_procedural",
    "prompt",
    "llm",
)

_MS = 1_000_000


def _documents(memory: str, count: int) -> list[dict[str, Any]]:
    return [
        {"page_content": f"{memory} passage {i}", "metadata": {"source": f"{memory}_{i}.md"}}
        for i in range(count)
    ]


def make_record(
    index: int = 0,
    *,
    status: RequestStatus = "success",
    session_id: str = "session-1",
    created_at: float | None = None,
    input_tokens: int = 120,
    output_tokens: int = 30,
    quality_evaluation: QualityEvaluation = "disabled",
) -> RequestRecord:
    """One request with retrieval, prompt and LLM spans at real, increasing epoch-ns times."""
    request_id = uuid.uuid4().hex
    created = created_at if created_at is not None else time.time() - 60 + index * 0.001
    start = int(created * 1e9)
    question = f"What are your skills? ({index})"
    response = f"I know Python. ({index})"
    total_tokens = input_tokens + output_tokens
    input_cost, output_cost = input_tokens * 1e-7, output_tokens * 3e-7
    embedding = SpanRecord(
        name="embed_query",
        span_type="EMBEDDING",
        start_ns=start,
        end_ns=start + _MS,
        inputs={"query": question},
        attributes={"model": "all-MiniLM-L6-v2"},
    )
    retrievers = [
        SpanRecord(
            name=f"retrieve_{memory}",
            span_type="RETRIEVER",
            start_ns=start + (1 + i) * _MS,
            end_ns=start + (2 + i) * _MS,
            inputs={"query": question, "top_k": 2},
            outputs=_documents(memory, 2),
        )
        for i, memory in enumerate(("semantic", "episodic", "procedural"))
    ]
    prompt = SpanRecord(
        name="prompt",
        span_type="CHAIN",
        start_ns=start + 5 * _MS,
        end_ns=start + 6 * _MS,
        inputs={"history_messages": 2},
        outputs={"system_chars": 400},
    )
    llm = SpanRecord(
        name="llm",
        span_type="LLM",
        start_ns=start + 6 * _MS,
        end_ns=start + 40 * _MS,
        inputs={"system": "You are the twin.", "question": question},
        outputs={"text": response, "finish_reason": "stop"},
        attributes={
            "model": "gemini-2.5-flash-lite",
            "provider": "gemini",
            "mlflow.chat.tokenUsage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": total_tokens,
            },
            "mlflow.llm.cost": {
                "input_cost": input_cost,
                "output_cost": output_cost,
                "total_cost": input_cost + output_cost,
            },
        },
        status="OK" if status == "success" else "ERROR",
    )
    root = SpanRecord(
        name="chat",
        span_type="CHAIN",
        start_ns=start,
        end_ns=start + 42 * _MS,
        inputs={"message": question, "session_id": session_id},
        outputs={"response": response},
        attributes={"request_id": request_id, "endpoint": "/chat"},
        status="OK" if status == "success" else "ERROR",
    )
    return RequestRecord(
        request_id=request_id,
        session_id=session_id,
        created_at=created,
        status=status,
        endpoint="/chat",
        http_status=200 if status == "success" else 502,
        params={
            "session_id": session_id,
            "message_length": str(len(question)),
            "conversation_length": "2",
            "provider": "gemini",
            "model": "gemini-2.5-flash-lite",
            "data_version": "v1",
        },
        metrics={
            "input_tokens": float(input_tokens),
            "output_tokens": float(output_tokens),
            "total_tokens": float(total_tokens),
            "response_time_seconds": 0.034,
            "total_time_seconds": 0.042,
            "retrieval_time_seconds": 0.003,
            "input_cost_usd": input_cost,
            "output_cost_usd": output_cost,
            "total_cost_usd": input_cost + output_cost,
        },
        tags={
            "status": status,
            "error_type": "" if status == "success" else "ProviderUnavailable",
            "tokens_estimated": "false",
            "price_known": "true",
            QUALITY_EVALUATION_TAG: quality_evaluation,
        },
        question=question,
        response=response,
        root=root,
        spans=[embedding, *retrievers, prompt, llm],
        error_type="" if status == "success" else "ProviderUnavailable",
    )


def make_records(count: int, **kwargs: Any) -> list[RequestRecord]:
    return [make_record(i, **kwargs) for i in range(count)]
