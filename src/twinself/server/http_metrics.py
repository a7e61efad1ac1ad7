"""Counts and times every HTTP request by its route template, streams to their last byte.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which buffers streamed bodies).
The route is read after routing, so the label is `/runs/{request_id}`, never a request's id.
Each request gets its id here (`request.state.request_id`): a chat request's duration then
carries its MLflow trace id as an exemplar, the same id its record and run have.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinself.pipeline.trace_ids import trace_id_for
from twinself.server.routes.chat import TRACKED_ENDPOINTS

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
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
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
                route = _route_template(scope)
                elapsed = self._clock() - started
                trace_id = trace_id_for(request_id) if route in TRACKED_ENDPOINTS else None
                services.metrics.observe_http(route, scope["method"], status, elapsed, trace_id)


def _route_template(scope: Scope) -> str:
    """The matched route's template. A request refused before routing (a body over the
    limit) has none: on a route without parameters its path is the template, so a 413 on
    /chat counts as /chat; any other path is `unmatched`."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    documented = scope["app"].openapi()["paths"]  # built once, then cached by FastAPI
    path = str(scope["path"])
    return path if path in documented and "{" not in path else UNMATCHED
