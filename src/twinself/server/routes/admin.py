"""The owner's routes, behind TWINSELF_ADMIN_KEY: review people's suggested answers, and see or
switch the memory versions the twin answers from. Everything here reads or changes the
owner's data, so none of it is open to visitors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from twinself.memory.version_lifecycle import activate_version
from twinself.memory.versions import VersionError, VersionRegistry
from twinself.pipeline.feedback_queue import (
    REVIEW_STATES,
    Decision,
    Feedback,
    FeedbackQueue,
    ReviewRefused,
    ReviewState,
)
from twinself.pipeline.rating_queue import RatingValue
from twinself.server.deps import ServicesDep
from twinself.server.schemas import ErrorBody

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not UTF-8 JSON."},
    401: {"model": ErrorBody, "description": "No valid TWINSELF_ADMIN_KEY was sent."},
    403: {"model": ErrorBody, "description": "TWINSELF_ADMIN_KEY is not set: admin is off."},
    413: {"model": ErrorBody, "description": "The body is over TWINSELF_MAX_BODY_BYTES."},
    429: {"model": ErrorBody, "description": "Over TWINSELF_RATE_LIMIT; see Retry-After."},
}
router = APIRouter(prefix="/admin", tags=["admin"], responses=_REFUSALS)


class FeedbackItem(BaseModel):
    feedback_id: int
    state: ReviewState
    created_at: float
    request_id: str | None
    original_question: str
    original_response: str
    suggested_response: str
    reviewed_at: float | None


class RatingItem(BaseModel):
    rating_id: int
    created_at: float
    request_id: str
    rating: RatingValue
    shipped: bool  # logged on the request's MLflow trace


class ReviewRequest(BaseModel):
    decision: Decision
    ids: list[int] = Field(min_length=1, max_length=1000)


class ReviewResponse(BaseModel):
    decision: Decision
    ids: list[int]


class ActivateRequest(BaseModel):
    data_only: bool = False  # take the version's memory, keep the system prompt served now


def _queue(services: ServicesDep) -> FeedbackQueue:
    if services.feedback is None:
        raise HTTPException(503, "Tracking is off (TWINSELF_TRACKING=false): no suggestions.")
    return services.feedback


@router.get("/feedback", response_model=list[FeedbackItem], responses={503: {"model": ErrorBody}})
async def list_feedback(
    services: ServicesDep,
    status: Annotated[ReviewState | Literal["all"], Query()] = "waiting",
    contains: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FeedbackItem]:
    """Suggested answers in a review state (waiting by default), oldest first."""
    states = REVIEW_STATES if status == "all" else (status,)
    items = await run_in_threadpool(_queue(services).entries, states, contains, limit)
    return [_item(f) for f in items]


def _item(feedback: Feedback) -> FeedbackItem:
    fields = {k: v for k, v in asdict(feedback).items() if k in FeedbackItem.model_fields}
    return FeedbackItem(**fields, state=feedback.state)


@router.post(
    "/feedback/review",
    response_model=ReviewResponse,
    responses={409: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def review_feedback(body: ReviewRequest, services: ServicesDep) -> ReviewResponse:
    """Accept or reject suggestions; only accepted ones are merged into memory (by
    `twinself feedback merge`). Unknown or merged ids: 409, and nothing changes."""
    try:
        ids = await run_in_threadpool(_queue(services).review, body.ids, body.decision)
    except ReviewRefused as exc:
        raise HTTPException(409, str(exc)) from None
    return ReviewResponse(decision=body.decision, ids=ids)


@router.get("/ratings", response_model=list[RatingItem], responses={503: {"model": ErrorBody}})
async def list_ratings(
    services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[RatingItem]:
    """Visitors' thumbs up or down: each rated answer's newest rating, newest first."""
    if services.ratings is None:
        raise HTTPException(503, "Tracking is off (TWINSELF_TRACKING=false): no ratings.")
    ratings = await run_in_threadpool(services.ratings.latest, limit)
    return [
        RatingItem(
            rating_id=r.rating_id,
            created_at=r.created_at,
            request_id=r.request_id,
            rating=r.rating,
            shipped=r.status == "shipped",
        )
        for r in ratings
    ]


@router.get("/versions")
async def list_versions(services: ServicesDep) -> dict[str, Any]:
    """The version registry: which version is active, and every version, newest last."""
    state = await run_in_threadpool(VersionRegistry(services.settings.home).load)
    return {"active": state.active, "versions": [asdict(v) for v in state.versions]}


@router.post("/versions/{version_id}/activate", responses={409: {"model": ErrorBody}})
async def activate(
    version_id: Annotated[str, Path(max_length=64)],
    services: ServicesDep,
    body: ActivateRequest | None = None,
) -> dict[str, Any]:
    """Make a ready version active (a rollback too); the server follows within a second."""
    data_only = body.data_only if body is not None else False
    try:
        version = await run_in_threadpool(
            activate_version, services.settings, version_id, data_only=data_only
        )
    except VersionError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"active": version.id, "data_only": data_only}
