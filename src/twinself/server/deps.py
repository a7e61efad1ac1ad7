"""FastAPI dependencies: handlers ask for what they use."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from twinself.server.services import ServerServices


def get_services(request: Request) -> ServerServices:
    services: ServerServices = request.app.state.services
    return services


ServicesDep = Annotated[ServerServices, Depends(get_services)]
