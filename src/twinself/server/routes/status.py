"""GET / (JSON, or the chat page for a browser), GET /health, GET /runs/{request_id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

import twinself
from twinself.evaluation.results import EvaluationResult, MetricResult
from twinself.memory.store import MissingVersionStore
from twinself.pipeline.evaluation_queue import QueuedJob
from twinself.pipeline.retention import outbox_bytes
from twinself.redaction import redact
from twinself.server.access import require_api_key
from twinself.server.deps import ServicesDep
from twinself.server.schemas import (
    ErrorBody,
    EvaluationScores,
    MetricScore,
    RunEvaluation,
    RunState,
)
from twinself.server.web_page import PAGE_PATH, prefers_html

router = APIRouter(tags=["status"])


@router.get(
    "/",
    response_model=dict[str, Any],
    responses={
        307: {
            "description": "A browser (Accept ranks text/html above JSON) is sent to the "
            "chat page, /ui/.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def root(request: Request, services: ServicesDep) -> Any:
    """What this server is and offers, as JSON; a browser is redirected to the chat page."""
    if prefers_html(request.headers.get("accept", "")):
        link = f'<a href="{PAGE_PATH}">The chat page</a>'
        return HTMLResponse(link, status_code=307, headers={"Location": PAGE_PATH})
    return {
        "name": "twinself",
        "bot_name": services.twin.persona.name,
        "version": twinself.__version__,
        "features": {
            "streaming": True,
            "sources": True,
            "mlflow_tracking": services.recorder.enabled,
            "quality_evaluation": services.recorder.evaluating,
        },
        "endpoints": {
            "page": PAGE_PATH,
            "chat": "POST /chat",
            "chat_stream": "POST /chat/stream",
            "suggestion": "POST /api/edit-message/suggestion",
            "rating": "POST /api/feedback/rating",
            "run_status": "GET /runs/{request_id}",
            "health": "GET /health",
            "metrics": "GET /metrics",
        },
        "docs": "/docs",
    }


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}},
)
async def metrics(
    services: ServicesDep,
    accept: str = Header(default="", examples=["application/openmetrics-text; version=1.0.0"]),
) -> Response:
    """Prometheus exposition of the API's metrics (summed over its worker processes when there
    are several); OpenMetrics (with exemplars: the request's trace id, in one process only)
    when the scraper asks for it in Accept."""
    services.describe_build()
    encode, content_type = choose_encoder(accept)
    # The outbox gauges read SQLite, multiprocess mode reads files: off the event loop.
    exposition = await run_in_threadpool(lambda: encode(services.metrics.exposition_registry()))
    return Response(exposition, headers={"Content-Type": content_type})


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    settings = services.settings
    llm = services.twin.llm
    backlog = services.requests.backlog() if services.requests is not None else None
    evaluations = services.evaluations.backlog() if services.evaluations is not None else None
    connected = await run_in_threadpool(services.mlflow.connected)
    memory_missing = isinstance(services.memory.current.runtime.store, MissingVersionStore)
    return {
        # TwinSelf's clients compare with "healthy". "degraded": answers still work and are
        # recorded, but MLflow is unreachable, so runs wait in the outbox (see `backlog`);
        # "unavailable": the active memory version is missing, chat answers 503.
        "status": "unavailable" if memory_missing else "healthy" if connected else "degraded",
        "memory": "missing" if memory_missing else "ok",
        "bot_name": services.twin.persona.name,
        "mlflow_uri": redact(settings.resolved_tracking_uri),
        "mlflow_connected": connected,
        "mlflow_experiment": settings.mlflow_experiment,
        "tracking_enabled": services.recorder.enabled,
        "deepeval_enabled": services.recorder.evaluating,
        "deepeval_judge": settings.resolved_judge,
        "provider": llm.name,
        "model": llm.model,
        "data_version": services.memory.current.data_version,
        "backlog": {
            "records_pending": backlog.pending if backlog else 0,
            "records_failed": backlog.failed if backlog else 0,
            "oldest_pending_age_seconds": backlog.oldest_pending_age_seconds if backlog else None,
            "evaluations_waiting": evaluations.waiting if evaluations else 0,
            "evaluations_dead": evaluations.counts["dead"] if evaluations else 0,
            "oldest_evaluation_age_seconds": (
                evaluations.oldest_waiting_age_seconds if evaluations else None
            ),
        },
        # What the outbox holds on disk; the shipper deletes finished rows after this.
        "outbox_bytes": outbox_bytes(services.outbox) if services.outbox is not None else 0,
        "retention_days": settings.retention_days,
    }


@router.get(
    "/runs/{request_id}",
    response_model=RunState,
    responses={
        401: {"model": ErrorBody, "description": "TWINSELF_API_KEYS is set; no valid key."},
        404: {"model": ErrorBody, "description": "No request with this id is recorded."},
    },
    dependencies=[Depends(require_api_key)],
)
async def run_state(request_id: str, services: ServicesDep) -> RunState | JSONResponse:
    state = services.requests.state(request_id) if services.requests is not None else None
    if state is None:
        return JSONResponse({"detail": f"No request {request_id} is recorded."}, status_code=404)
    job = services.evaluations.get(request_id) if services.evaluations is not None else None
    return RunState(
        request_id=state.request_id,
        status=state.status,
        run_id=state.run_id,
        trace_id=state.trace_id,
        attempts=state.attempts,
        last_error=state.last_error,
        evaluation=run_evaluation(job) if job is not None else None,
    )


def run_evaluation(job: QueuedJob) -> RunEvaluation:
    if job.result is None:
        return RunEvaluation(status=job.status)
    result = EvaluationResult.from_dict(job.result)

    def score(metric: MetricResult) -> MetricScore:
        return MetricScore(score=metric.score, threshold=metric.threshold, passed=metric.passed)

    scores = EvaluationScores(
        answer_relevancy=score(result.answer_relevancy), faithfulness=score(result.faithfulness)
    )
    return RunEvaluation(status=job.status, judge=result.judge, scores=scores)
