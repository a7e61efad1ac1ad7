"""A request's trace and span ids, derived from its request_id: shipping a record twice writes
the same trace, and the API can name a request's trace (metric exemplars) without MLflow.
No MLflow import here, so the server can use it."""

from __future__ import annotations

import hashlib


def trace_id_for(request_id: str) -> str:
    """The MLflow trace id of a request: derived from it, so every re-ship hits the same trace."""
    return "tr-" + otel_trace_id(request_id).to_bytes(16, "big").hex()


def derived_id(request_id: str, part: str, size: int) -> int:
    raw = hashlib.blake2b(f"twinself:{request_id}:{part}".encode(), digest_size=size).digest()
    return int.from_bytes(raw, "big") or 1  # OpenTelemetry ids must not be zero


def otel_trace_id(request_id: str) -> int:
    return derived_id(request_id, "trace", 16)
