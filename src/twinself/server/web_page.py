"""The chat page: static files under /ui/, served by the API itself (no bundler, no CDN).

A browser asking for `/` is sent here (content negotiation: API clients keep the JSON). The
files carry a strict Content-Security-Policy: scripts and styles from this origin only, no
inline code, requests to this origin only; pages of the origins in TWINSELF_CORS_ORIGINS (the
owner's sites, already allowed to call the API) may frame it, which the widget does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from twinself.config.settings import Settings

PAGE_PATH = "/ui/"
STATIC_DIR = Path(str(files("twinself.server") / "static"))


def content_security_policy(frame_origins: list[str]) -> str:
    ancestors = " ".join(["'self'", *frame_origins])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


def page_headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings.cors_origin_list),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Revalidated on each load (ETag): a new release's files are picked up at once.
        "Cache-Control": "no-cache",
    }


class PageFiles(StaticFiles):
    """StaticFiles with the page's security headers on every file it serves."""

    def __init__(self, directory: Path, headers: dict[str, str]) -> None:
        super().__init__(directory=directory, html=True)
        self._headers = headers

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(self._headers)
        return response


def mount_page(app: FastAPI, settings: Settings) -> None:
    """Mounted routes stay out of the OpenAPI schema: the page is not part of the API."""
    app.mount(PAGE_PATH.rstrip("/"), PageFiles(STATIC_DIR, page_headers(settings)), name="page")


def _quality(accept: str, media_type: str) -> float:
    """The q Accept gives `media_type`: its most specific matching range (type/subtype, then
    type/*, then */*), 0 when none matches."""
    kind = media_type.split("/")[0]
    best, best_rank = 0.0, -1
    for part in accept.split(","):
        range_, *params = (p.strip() for p in part.split(";"))
        rank = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(range_.lower(), -1)
        if rank <= best_rank:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best, best_rank = q, rank
    return best


def prefers_html(accept: str) -> bool:
    """A browser's navigation (text/html ranked above JSON); curl's */* and API clients'
    application/json keep the JSON."""
    return _quality(accept, "text/html") > _quality(accept, "application/json")
