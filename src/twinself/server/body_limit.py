"""Refuse a request body over TWINSELF_MAX_BODY_BYTES before anything parses it.

A plain ASGI middleware: a declared Content-Length over the limit is refused after its first
chunk; otherwise the body is read here, at most the limit, and handed to the app as it came. A
refused chat request is recorded like every other, with its size and its first characters.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twinself.pipeline.request_recorder import RequestContext
from twinself.server.http_errors import HttpProblem, error_response
from twinself.server.routes.chat import TRACKED_ENDPOINTS
from twinself.server.services import ServerServices


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: ServerServices | None = getattr(scope["app"].state, "services", None)
        if scope["type"] != "http" or services is None:
            await self.app(scope, receive, send)
            return
        limit = services.settings.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            first = await receive()  # one chunk, for the record's start; the rest is never read
            start = first.get("body", b"") if first["type"] == "http.request" else b""
            await self._refuse(scope, receive, send, services, int(declared), start)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nothing to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._refuse(scope, receive, send, services, size, b"".join(chunks))
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    @staticmethod
    async def _refuse(
        scope: Scope,
        receive: Receive,
        send: Send,
        services: ServerServices,
        size: int,
        start: bytes,
    ) -> None:
        limit = services.settings.max_body_bytes
        problem = HttpProblem(
            413,
            f"The request body has {size} bytes or more; the limit is {limit} "
            "(TWINSELF_MAX_BODY_BYTES).",
        )
        request_id = scope.get("state", {}).get("request_id", "")
        endpoint = TRACKED_ENDPOINTS.get(scope["path"])
        if endpoint is not None:
            text = start[:4096].decode("utf-8", "replace")
            ctx = RequestContext(request_id, "unknown", endpoint, text, 0)
            llm = services.twin.llm
            services.recorder.failed(
                ctx, "RequestTooLarge", 413, llm.name, llm.model, problem.detail
            )
        await error_response(problem, request_id or None)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read above, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
