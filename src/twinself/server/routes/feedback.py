"""POST /api/edit-message/suggestion (a human's better answer) and POST /api/feedback/rating
(a thumbs up or down), stored durably in the outbox and attached to the request's trace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from twinself.server.deps import ServicesDep
from twinself.server.schemas import (
    ErrorBody,
    RatingRequest,
    RatingResponse,
    SuggestionRequest,
    SuggestionResponse,
)

router = APIRouter(tags=["feedback"])
TRACKING_OFF = "Tracking is off (TWINSELF_TRACKING=false); {} not stored."
# What both visitor feedback routes may answer besides their 200 and their own 400/404.
_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "TWINSELF_API_KEYS is set; no valid key.",
        413: "The body is over TWINSELF_MAX_BODY_BYTES.",
        429: "Over TWINSELF_RATE_LIMIT; see Retry-After.",
        503: "Tracking is off; nothing is stored.",
    }.items()
}


@router.post(
    "/api/edit-message/suggestion",
    response_model=SuggestionResponse,
    responses={
        400: {"model": ErrorBody, "description": "A field is empty, or the body is not JSON."},
        **_REFUSALS,
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
            {"detail": TRACKING_OFF.format("suggestions are")},
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


@router.post(
    "/api/feedback/rating",
    response_model=RatingResponse,
    responses={
        400: {"model": ErrorBody, "description": "The body is not UTF-8 JSON."},
        404: {"model": ErrorBody, "description": "No request with this id is recorded."},
        **_REFUSALS,
    },
)
async def rate_answer(body: RatingRequest, services: ServicesDep) -> RatingResponse | JSONResponse:
    """A visitor's thumbs up or down on one answer (by its request_id). Each call is kept; the
    newest is the answer's rating, logged as a HUMAN `user_rating` assessment on its trace."""
    if services.ratings is None or services.requests is None:
        return JSONResponse({"detail": TRACKING_OFF.format("ratings are")}, status_code=503)
    known = await run_in_threadpool(services.requests.state, body.request_id)
    if known is None:
        return JSONResponse(
            {"detail": f"No request {body.request_id} is recorded."}, status_code=404
        )
    rating_id = await run_in_threadpool(services.ratings.append, body.request_id, body.rating)
    return RatingResponse(rating_id=rating_id)
