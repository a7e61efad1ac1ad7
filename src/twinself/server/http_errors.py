"""Typed twinself errors → HTTP status, headers and a body that never carries a trace."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.responses import JSONResponse

from twinself.errors import (
    InvalidQuestion,
    MemoryNotBuilt,
    MemoryUnavailable,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderQuotaExceeded,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
    TwinselfError,
)

INTERNAL_ERROR = "Internal error; the server log has the details."
# Clients get these words; the provider's or the store's own text (which can name hosts,
# paths, models or echo the request) stays in the server log and the request's run.
MODEL_UNAVAILABLE = "The language model is unavailable; retry later."
MODEL_QUOTA = "The language model's quota is exhausted; retry later."
MODEL_TIMEOUT = "The language model did not answer in time; retry later."
MODEL_REFUSED = (
    "The language model provider refused this server's request; the owner has to check "
    "its configuration."
)
MEMORY_UNAVAILABLE = "The twin's memory is unavailable; retry later."


@dataclass(frozen=True)
class HttpProblem:
    status: int
    detail: str
    retry_after: int | None = None


def problem_for(error: Exception) -> HttpProblem:
    if isinstance(error, InvalidQuestion):
        return HttpProblem(400, str(error))
    if isinstance(error, MemoryNotBuilt):
        # Ours, and it says how to fix it: the owner is usually the one who sees it first.
        return HttpProblem(503, str(error), retry_after=30)
    if isinstance(error, ProviderQuotaExceeded):
        wait = int(error.retry_after) + 1 if error.retry_after else 60
        return HttpProblem(503, MODEL_QUOTA, wait)
    if isinstance(error, ProviderUnavailable):
        return HttpProblem(503, MODEL_UNAVAILABLE, retry_after=10)
    if isinstance(error, MemoryUnavailable):
        return HttpProblem(503, MEMORY_UNAVAILABLE, retry_after=10)
    if isinstance(error, ProviderTimeout):
        return HttpProblem(504, MODEL_TIMEOUT)
    if isinstance(error, ProviderAuthError | ProviderBadResponse | ProviderRequestRejected):
        # The server's configuration or the provider is at fault, not the caller.
        return HttpProblem(502, MODEL_REFUSED)
    if isinstance(error, TwinselfError):
        return HttpProblem(500, str(error))
    return HttpProblem(500, INTERNAL_ERROR)


def error_response(problem: HttpProblem, request_id: str | None) -> JSONResponse:
    headers = {"Retry-After": str(problem.retry_after)} if problem.retry_after else None
    return JSONResponse(
        {"detail": problem.detail, "request_id": request_id},
        status_code=problem.status,
        headers=headers,
    )
