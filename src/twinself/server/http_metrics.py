"""Counts and times every HTTP request by its route template, streams to their last byte.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which buffers streamed bodies).
The route is read after routing, so the label is `/runs/{request_id}`, never a request's id.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"  # 404s for any path share one label


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self._clock()
        status = 500  # what the client gets if the app raises before answering

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            services = getattr(scope["app"].state, "services", None)
            if services is not None:  # not before the lifespan built them
                route = getattr(scope.get("route"), "path", UNMATCHED)
                elapsed = self._clock() - started
                services.metrics.observe_http(route, scope["method"], status, elapsed)
