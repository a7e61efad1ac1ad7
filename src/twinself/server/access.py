"""Who may call the API: per-client rate limits and optional keys for the visitor-facing
routes, the owner's admin key for the /admin/ routes, and which web origins' pages may call it
from a browser (CORS)."""

from __future__ import annotations

import hmac

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware

from twinself.config.settings import Settings
from twinself.pipeline.outbox_writes import OUTBOX_UNWRITABLE
from twinself.server.deps import ServicesDep


def presented_key(request: Request) -> str:
    """`Authorization: Bearer KEY` or `X-API-Key: KEY`; '' when neither is sent."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key", "").strip()


def valid_key(request: Request, keys: tuple[str, ...]) -> str | None:
    presented = presented_key(request).encode()
    # Compared with every key, in constant time: no timing tells how much of a key matched.
    matches = [key for key in keys if hmac.compare_digest(presented, key.encode())]
    return matches[0] if matches else None


async def limit_rate(request: Request, services: ServicesDep) -> None:
    """A FastAPI dependency, before the key check (so guessing keys is limited too): over
    TWINSELF_RATE_LIMIT, a 429 with Retry-After, tracked on the chat routes."""
    limits = services.rate_limits
    client = limits.client(request, valid_key(request, services.settings.chat_api_keys))
    wait = limits.retry_after(client)
    if wait is not None:
        raise HTTPException(
            429,
            f"Too many requests; retry in {wait} s (TWINSELF_RATE_LIMIT).",
            headers={"Retry-After": str(wait)},
        )


def enforce_spend_cap(services: ServicesDep) -> None:
    """A FastAPI dependency of the chat routes: past TWINSELF_DAILY_SPEND_CAP_USD, a 503."""
    cap = services.spend_cap
    if cap.exhausted():
        raise HTTPException(
            503,
            f"The twin has spent its daily budget (${cap.cap_usd:.2f} in 24 hours, "
            "TWINSELF_DAILY_SPEND_CAP_USD); it answers again when the last 24 hours cost less.",
            headers={"Retry-After": "3600"},
        )


def require_writable_outbox(services: ServicesDep) -> None:
    """A FastAPI dependency of the chat routes: while the outbox refuses writes, a 503 before
    any model call (an answer that cannot be recorded is not given; see outbox_writes)."""
    if services.recorder.enabled and services.recorder.write_gate.blocked():
        raise HTTPException(503, OUTBOX_UNWRITABLE, headers={"Retry-After": "30"})


def require_api_key(request: Request, services: ServicesDep) -> None:
    """A FastAPI dependency: with TWINSELF_API_KEYS set, a request without one of them is a
    401 (tracked on the chat routes like any refusal)."""
    keys = services.settings.chat_api_keys
    if keys and valid_key(request, keys) is None:
        raise HTTPException(
            401,
            "A valid API key is needed: send Authorization: Bearer KEY or X-API-Key: KEY.",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_admin_key(request: Request, services: ServicesDep) -> None:
    """A FastAPI dependency of the /admin/ routes: off (403) until TWINSELF_ADMIN_KEY is set,
    then a 401 without it. A chat key never opens them."""
    admin_key = services.settings.admin_key
    if admin_key is None:
        raise HTTPException(
            403, "The admin API is off; set TWINSELF_ADMIN_KEY on the server to turn it on."
        )
    if valid_key(request, (admin_key.get_secret_value(),)) is None:
        raise HTTPException(
            401,
            "The admin key is needed: send Authorization: Bearer KEY or X-API-Key: KEY.",
            headers={"WWW-Authenticate": "Bearer"},
        )


def allow_origins(app: FastAPI, settings: Settings) -> None:
    """CORS for the owner's website: only the listed origins, no cookies or credentials (the
    API takes keys in headers), so never `*` with credentials."""
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            max_age=600,
        )
