"""The FastAPI application factory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import twinself
from twinself.config.loading import load_settings
from twinself.config.settings import Settings
from twinself.pipeline.request_recorder import RequestContext
from twinself.server.access import (
    allow_origins,
    enforce_spend_cap,
    limit_rate,
    require_admin_key,
    require_api_key,
    require_writable_outbox,
)
from twinself.server.body_limit import BodyLimitMiddleware
from twinself.server.http_errors import INTERNAL_ERROR
from twinself.server.http_metrics import HttpMetricsMiddleware
from twinself.server.routes import admin, chat, feedback, status
from twinself.server.routes.chat import TRACKED_ENDPOINTS
from twinself.server.services import ServerServices, build_services
from twinself.server.web_page import mount_page

ServicesFactory = Callable[[Settings], ServerServices]


def create_app(settings: Settings, services_factory: ServicesFactory = build_services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services_factory(settings)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(
        title="twinself",
        version=twinself.__version__,
        description="A digital twin that answers as one person, grounded in their own data.",
        lifespan=lifespan,
    )
    # The last added runs first: metrics (and the request's id) around the body limit.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    allow_origins(app, settings)
    app.include_router(status.router)
    # The visitor-facing routes: rate-limited, and behind TWINSELF_API_KEYS when it is set.
    visitors = [Depends(limit_rate), Depends(require_api_key)]
    chat_guards = [Depends(enforce_spend_cap), Depends(require_writable_outbox)]
    app.include_router(chat.router, dependencies=[*visitors, *chat_guards])
    app.include_router(feedback.router, dependencies=visitors)
    app.include_router(admin.router, dependencies=[Depends(limit_rate), Depends(require_admin_key)])
    # The chat page: public static files (no key needed to load them; the API calls need one).
    mount_page(app, settings)

    def track_refusal(request: Request, error_type: str, status: int) -> str:
        """A chat request refused before its handler ran: recorded like every other."""
        request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
        endpoint = TRACKED_ENDPOINTS.get(request.url.path)
        if endpoint is not None:
            services: ServerServices = request.app.state.services
            ctx = RequestContext(request_id, "unknown", endpoint, "", 0)
            llm = services.twin.llm
            services.recorder.failed(ctx, error_type, status, llm.name, llm.model)
        return request_id

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        """422 as FastAPI words it, and tracked like every other error on the chat routes."""
        request_id = track_refusal(request, "RequestValidationError", 422)
        errors = [{k: v for k, v in e.items() if k != "input"} for e in error.errors()]
        return JSONResponse({"detail": errors, "request_id": request_id}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, error: StarletteHTTPException) -> JSONResponse:
        """FastAPI's own refusals (a body that is not UTF-8 JSON is a 400; 404, 405): with
        the request's id, and tracked on the chat routes."""
        kind = "InvalidBody" if error.status_code == 400 else f"HTTP{error.status_code}"
        request_id = track_refusal(request, kind, error.status_code)
        return JSONResponse(
            {"detail": error.detail, "request_id": request_id},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)

    return app


def create_app_from_environment() -> FastAPI:
    """uvicorn's factory in each worker process of `twinself serve --workers N`: a spawned
    worker inherits no objects, only the environment, so its settings come from there."""
    from twinself.embedding.cpu_threads import use_one_cpu_thread

    use_one_cpu_thread()
    return create_app(load_settings())
