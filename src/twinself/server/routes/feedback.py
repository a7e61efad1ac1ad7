"""POST /api/edit-message/suggestion: a human's better answer, stored durably."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from twinself.server.deps import ServicesDep
from twinself.server.schemas import ErrorBody, SuggestionRequest, SuggestionResponse

router = APIRouter(tags=["feedback"])


@router.post(
    "/api/edit-message/suggestion",
    response_model=SuggestionResponse,
    responses={
        400: {"model": ErrorBody, "description": "A field is empty, or the body is not JSON."},
        401: {"model": ErrorBody, "description": "TWINSELF_API_KEYS is set; no valid key."},
        413: {"model": ErrorBody, "description": "The body is over TWINSELF_MAX_BODY_BYTES."},
        429: {"model": ErrorBody, "description": "Over TWINSELF_RATE_LIMIT; see Retry-After."},
        503: {"model": ErrorBody, "description": "Tracking is off; nothing is stored."},
    },
)
async def suggest_edit(
    body: SuggestionRequest, services: ServicesDep
) -> SuggestionResponse | JSONResponse:
    empty = [
        name
        for name in ("original_question", "original_response", "suggested_response")
        if not getattr(body, name).strip()
    ]
    if empty:
        return JSONResponse({"detail": f"Empty field(s): {', '.join(empty)}"}, status_code=400)
    if services.feedback is None or services.outbox is None:
        return JSONResponse(
            {"detail": "Tracking is off (TWINSELF_TRACKING=false); suggestions are not stored."},
            status_code=503,
        )
    services.metrics.feedback_received.inc()
    feedback_id = await run_in_threadpool(
        services.feedback.append,
        body.original_question,
        body.original_response,
        body.suggested_response,
        body.request_id,
    )
    return SuggestionResponse(
        message="Suggestion saved; it will be attached to the request's MLflow trace."
        if body.request_id
        else "Suggestion saved.",
        saved_to=f"feedback/{feedback_id}",  # the id `twinself feedback list` shows, no path
    )
