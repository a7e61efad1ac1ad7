"""What a judge failure means for its job: wait and retry, or stop and tell someone.

A 429 / quota error, a 5xx, a timeout or a dropped connection is retried with backoff. An
invalid key or a forbidden model is a dead letter at once: no retry can fix it. Anything else
(a malformed judge reply, usually) is retried too: LLM judges are not deterministic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from twinself.redaction import redact

_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_FIX_AUTH = (
    "Check GOOGLE_API_KEY_4DEEPEVAL (or EVAL_OPENAI_API_KEY) and EVAL_LLM_MODEL, then "
    "`twinself evaluations retry --all`."
)


@dataclass(frozen=True)
class JudgeFailure:
    message: str
    retryable: bool
    rate_limited: bool = False
    retry_after_seconds: float | None = None  # the server's own hint (Gemini's RetryInfo)


def _retry_delay(exc: BaseException) -> float | None:
    """Gemini's 429 body carries `{"@type": ".../google.rpc.RetryInfo", "retryDelay": "27s"}`."""
    details = getattr(exc, "details", None)
    error = details.get("error", {}) if isinstance(details, dict) else {}
    for item in error.get("details", []) if isinstance(error, dict) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def _status_code(exc: BaseException) -> int | None:
    for attribute in ("code", "status_code"):  # google.genai APIError, openai APIStatusError
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _unwrapped(exc: BaseException) -> BaseException:
    """The error that counts: the first of a TaskGroup's, and the last attempt's inside
    a tenacity RetryError (DeepEval's retries use reraise=False)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    last_attempt = getattr(exc, "last_attempt", None)
    inner = last_attempt.exception() if last_attempt is not None else None
    return inner if isinstance(inner, BaseException) else exc


def classify(exc: BaseException, secret: str | None = None) -> JudgeFailure:
    exc = _unwrapped(exc)
    detail = redact(f"{type(exc).__name__}: {exc}", [secret], limit=500)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return JudgeFailure(f"The judge timed out (EVAL_TIMEOUT_SECONDS): {detail}", True)
    status = _status_code(exc)
    if status is not None:
        if status == 429:
            message = f"The judge's quota is exhausted (429): {detail}"
            return JudgeFailure(message, True, True, _retry_delay(exc))
        if status in _RETRYABLE_STATUS:
            return JudgeFailure(f"The judge is failing ({status}): {detail}", True)
        if status in (401, 403) or "API_KEY_INVALID" in str(exc):
            refused = f"The judge refused the key ({status}): {detail}. {_FIX_AUTH}"
            return JudgeFailure(refused, False)
        if 400 <= status < 500:
            return JudgeFailure(f"The judge rejected the request ({status}): {detail}", False)
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return JudgeFailure(f"The judge is unreachable: {detail}", True)
    name = type(exc).__name__
    if name in ("APIConnectionError", "APITimeoutError", "ConnectError", "ReadTimeout"):
        return JudgeFailure(f"The judge is unreachable: {detail}", True)  # httpx2 / openai
    return JudgeFailure(f"The judge failed: {detail}", True)
