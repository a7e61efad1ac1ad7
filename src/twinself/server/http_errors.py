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


@dataclass(frozen=True)
class HttpProblem:
    status: int
    detail: str
    retry_after: int | None = None


def problem_for(error: Exception) -> HttpProblem:
    if isinstance(error, InvalidQuestion):
        return HttpProblem(400, str(error))
    if isinstance(error, MemoryNotBuilt):
        return HttpProblem(503, str(error), retry_after=30)
    if isinstance(error, ProviderQuotaExceeded):
        wait = int(error.retry_after) + 1 if error.retry_after else 60
        return HttpProblem(503, "The language model's quota is exhausted; retry later.", wait)
    if isinstance(error, ProviderUnavailable | MemoryUnavailable):
        return HttpProblem(503, str(error), retry_after=10)
    if isinstance(error, ProviderTimeout):
        return HttpProblem(504, str(error))
    if isinstance(error, ProviderAuthError | ProviderBadResponse | ProviderRequestRejected):
        # The server's configuration or the provider is at fault, not the caller.
        return HttpProblem(502, str(error))
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
