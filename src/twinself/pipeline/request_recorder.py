"""Turn one answered (or failed) request into a RequestRecord and append it to the outbox's
request queue.

This is all the tracking the request path does: build a dict, one SQLite insert.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from twinself.llm.base import Passage, TokenUsage
from twinself.pipeline.outbox_writes import OutboxWriteGate
from twinself.pipeline.pricing import Cost, PriceBook
from twinself.pipeline.records import (
    QUALITY_EVALUATION_TAG,
    EvaluationJob,
    QualityEvaluation,
    RequestRecord,
    RequestStatus,
    SpanClock,
    SpanRecord,
)
from twinself.pipeline.request_queue import RequestQueue
from twinself.redaction import redact
from twinself.twin.twin import TwinAnswer, source_to_dict

logger = logging.getLogger(__name__)

# A refused request keeps its message's length and this much of its text, never all of it:
# a 5 MB message refused with 413 must not cost 15 MB of outbox, span and run.
REFUSED_TEXT_CHARS = 1000


@dataclass
class RequestContext:
    """What the handler knows about a request before (or without) an answer."""

    request_id: str
    session_id: str
    endpoint: str
    message: str
    conversation_length: int
    data_version: str = ""  # the memory version that answers; empty = the recorder's
    clock: SpanClock = field(default_factory=SpanClock)
    started: float = field(default_factory=time.perf_counter)
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RequestOutcome:
    record: RequestRecord
    cost: Cost
    quality_evaluation: QualityEvaluation = "disabled"
    lost: bool = False  # tracking is on, but the outbox refused the record


@dataclass
class EvaluationSampling:
    """Which answers get a quality evaluation: `track_quality` asked for it, and the sample
    (EVAL_SAMPLE_RATE) drew it."""

    enabled: bool
    rate: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def decide(self, track_quality: bool) -> QualityEvaluation:
        if not (self.enabled and track_quality):
            return "disabled"
        # rate 1.0 never draws, so a seeded rng stays reproducible for the sampled cases.
        if self.rate >= 1.0 or self.rng.random() < self.rate:
            return "evaluating_in_background"
        return "not_sampled"


def _retrieval_spans(answer: TwinAnswer, clock: SpanClock) -> list[SpanRecord]:
    spans = []
    memory = answer.memory
    embedding = memory.timings.get("embed")
    if embedding is not None:  # one query embedding, shared by the three searches
        spans.append(
            SpanRecord(
                name="embed_query",
                span_type="EMBEDDING",
                start_ns=clock.to_ns(embedding[0]),
                end_ns=clock.to_ns(embedding[1]),
                inputs={"query": answer.prompt.question},
                attributes={"model": memory.embedding_model},
            )
        )
    for name, passages in (
        ("semantic", memory.semantic),
        ("episodic", memory.episodic),
        ("procedural", memory.procedural),
    ):
        window = memory.timings.get(name)
        if window is None:
            continue
        spans.append(
            SpanRecord(
                name=f"retrieve_{name}",
                span_type="RETRIEVER",
                start_ns=clock.to_ns(window[0]),
                end_ns=clock.to_ns(window[1]),
                inputs={"query": answer.prompt.question, "top_k": len(passages)},
                outputs=[_document(p) for p in passages],
            )
        )
    return spans


def _document(passage: Passage) -> dict[str, Any]:
    # MLflow's retriever span shape: page_content + metadata.
    return {
        "page_content": passage.text,
        "metadata": {k: v for k, v in source_to_dict(passage).items() if k != "text"},
    }


class RequestRecorder:
    def __init__(
        self,
        requests: RequestQueue | None,
        prices: PriceBook,
        data_version: str,
        sampling: EvaluationSampling | None = None,
        observe: Callable[[RequestRecord], None] | None = None,
        write_gate: OutboxWriteGate | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        """`requests=None` disables tracking (TWINSELF_TRACKING=false), and with it evaluation.
        `observe` sees every record, tracked or not (the server's live metrics); `write_gate`
        learns whether the outbox takes writes; `secrets` are taken out of recorded error text
        (a library's own error may quote a request, key and all)."""
        self._secrets = secrets
        self.write_gate = write_gate or OutboxWriteGate()
        self._requests = requests
        self._prices = prices
        self.data_version = data_version
        self._sampling = sampling if requests is not None else None
        self._observe = observe

    @property
    def evaluating(self) -> bool:
        return self._sampling is not None and self._sampling.enabled

    @property
    def enabled(self) -> bool:
        return self._requests is not None

    def cost(self, provider: str, model: str, usage: TokenUsage) -> Cost:
        return self._prices.cost(provider, model, usage)

    def answered(
        self,
        ctx: RequestContext,
        answer: TwinAnswer,
        status: RequestStatus = "success",
        http_status: int = 200,
        error_type: str = "",
        track_quality: bool = False,
    ) -> RequestOutcome:
        """Only complete answers are evaluated; a partial or failed one has nothing to judge."""
        quality: QualityEvaluation = "disabled"
        if status == "success" and self._sampling is not None:
            quality = self._sampling.decide(track_quality)
        generation = answer.generation
        usage = generation.usage
        cost = self.cost(generation.provider, generation.model, usage)
        end = time.perf_counter()
        clock = ctx.clock
        gen_start, gen_end = answer.generation_window
        llm_span = SpanRecord(
            name="llm",
            span_type="LLM",
            start_ns=clock.to_ns(gen_start),
            end_ns=clock.to_ns(gen_end),
            inputs={"system": answer.prompt.system, "question": answer.prompt.question},
            outputs={"text": answer.response, "finish_reason": generation.finish_reason},
            attributes={
                "model": generation.model,
                "provider": generation.provider,
                "mlflow.chat.tokenUsage": {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "total_tokens": usage.total_tokens,
                },
                "mlflow.llm.cost": {
                    "input_cost": cost.input_usd,
                    "output_cost": cost.output_usd,
                    "total_cost": cost.total_usd,
                },
                "tokens_estimated": usage.estimated,
            },
            status="OK" if status == "success" else "ERROR",
        )
        retrieval_end = max((w[1] for w in answer.memory.timings.values()), default=gen_start)
        prompt_span = SpanRecord(
            name="prompt",
            span_type="CHAIN",
            start_ns=clock.to_ns(retrieval_end),
            end_ns=clock.to_ns(gen_start),
            inputs={"history_messages": len(answer.prompt.messages)},
            outputs={"system_chars": len(answer.prompt.system)},
        )
        record = self._record(
            ctx,
            status=status,
            http_status=http_status,
            error_type=error_type,
            end=end,
            provider=generation.provider,
            model=generation.model,
            metrics={
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "response_time_seconds": answer.generation_seconds,
                "retrieval_time_seconds": answer.memory.seconds,
                "input_cost_usd": cost.input_usd,
                "output_cost_usd": cost.output_usd,
                "total_cost_usd": cost.total_usd,
            },
            tags={
                "tokens_estimated": str(usage.estimated).lower(),
                "price_known": str(cost.price_known).lower(),
                QUALITY_EVALUATION_TAG: quality,
                # Why the model's answer was replaced by a refusal (twin/answer_guard.py).
                **({"answer_withheld": answer.withheld} if answer.withheld else {}),
            },
            response=answer.response,
            spans=[*_retrieval_spans(answer, clock), prompt_span, llm_span],
        )
        job = None
        if quality == "evaluating_in_background":
            job = EvaluationJob(
                ctx.request_id, ctx.message, answer.response, [p.text for p in answer.sources]
            )
        tracked = self._append(record, job)
        lost = self._requests is not None and not tracked
        return RequestOutcome(record, cost, quality if tracked else "disabled", lost)

    def failed(
        self,
        ctx: RequestContext,
        error_type: str,
        http_status: int,
        provider: str,
        model: str,
        message: str = "",
    ) -> RequestRecord:
        """A request that produced no answer: still one run, with status=error, which keeps
        the message's length and its first REFUSED_TEXT_CHARS characters."""
        record = self._record(
            replace(ctx, message=ctx.message[:REFUSED_TEXT_CHARS]),
            message_chars=len(ctx.message),
            status="error",
            http_status=http_status,
            error_type=error_type,
            end=time.perf_counter(),
            provider=provider,
            model=model,
            metrics={},
            tags={"error_message": redact(message, self._secrets)[:250]} if message else {},
            response="",
            spans=[],
        )
        # A small refusal record may fit where an answer's does not: it never reopens the gate.
        self._append(record, answer=False)
        return record

    def _record(
        self,
        ctx: RequestContext,
        *,
        status: RequestStatus,
        http_status: int,
        error_type: str,
        end: float,
        provider: str,
        model: str,
        metrics: dict[str, float],
        tags: dict[str, str],
        response: str,
        spans: list[SpanRecord],
        message_chars: int | None = None,
    ) -> RequestRecord:
        root = SpanRecord(
            name="chat",
            span_type="CHAIN",
            start_ns=ctx.clock.to_ns(ctx.started),
            end_ns=ctx.clock.to_ns(end),
            inputs={"message": ctx.message, "session_id": ctx.session_id},
            outputs={"response": response},
            attributes={"request_id": ctx.request_id, "endpoint": ctx.endpoint},
            status="OK" if status == "success" else "ERROR",
        )
        return RequestRecord(
            request_id=ctx.request_id,
            session_id=ctx.session_id,
            created_at=ctx.created_at,
            status=status,
            endpoint=ctx.endpoint,
            http_status=http_status,
            params={
                "session_id": ctx.session_id,
                "message_length": str(len(ctx.message) if message_chars is None else message_chars),
                "conversation_length": str(ctx.conversation_length),
                "provider": provider,
                "model": model,
                "data_version": ctx.data_version or self.data_version,
            },
            metrics={**metrics, "total_time_seconds": end - ctx.started},
            tags={"status": status, "error_type": error_type, **tags},
            question=ctx.message,
            response=response,
            root=root,
            spans=spans,
            error_type=error_type,
        )

    def _append(
        self, record: RequestRecord, job: EvaluationJob | None = None, answer: bool = True
    ) -> bool:
        if self._observe is not None:
            try:
                self._observe(record)
            except Exception:  # like tracking, metrics must never fail the answer
                logger.exception("Could not count request %s in the metrics", record.request_id)
        if self._requests is None:
            return False
        try:
            self._requests.append(record, job)
        except sqlite3.Error as exc:  # disk full, read-only, I/O: see outbox_writes
            self.write_gate.failed()
            logger.error(
                "Could not record request %s in the outbox (%s): chat answers 503 until it "
                "takes writes again. Free disk space under TWINSELF_HOME or make the outbox "
                "writable; `twinself doctor` checks it.",
                record.request_id,
                exc,
            )
            return False
        except Exception:  # a record that cannot be serialised: a bug, and the log says so
            logger.exception("Could not record request %s in the outbox", record.request_id)
            return False
        if answer:
            self.write_gate.succeeded()
        return True
