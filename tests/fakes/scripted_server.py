"""A real HTTP server on loopback whose answers a test can script, and which records requests.

Subclasses say what a normal answer looks like (`normal_reply`); tests queue exceptions to it
with `plan(...)`: an error status, headers such as Retry-After, a garbage body, or a delay.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON, or None when the body was not JSON

    @property
    def is_stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream")) or (
            "stream" in self.path.lower()
        )


@dataclass(frozen=True)
class PlannedResponse:
    """One scripted answer. `body=None` with status 200 means "the normal answer", late."""

    status: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class Reply:
    status: int
    pieces: Iterable[bytes]  # written and flushed one by one, so streams arrive in parts
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, [json.dumps(payload).encode()])


def sse_reply(events: Iterable[Any], done_marker: bool = False) -> Reply:
    pieces = [f"data: {json.dumps(event)}\n\n".encode() for event in events]
    if done_marker:
        pieces.append(b"data: [DONE]\n\n")
    return Reply(200, pieces, content_type="text/event-stream")


def split_into_pieces(text: str, count: int) -> list[str]:
    """`count` (or fewer) consecutive pieces of `text`, split at word boundaries."""
    words = re.findall(r"\S+\s*", text)
    size = max(1, -(-len(words) // count))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


class ScriptedServer(ABC):
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay_seconds = 0.0  # applied to every request without its own planned delay
        self._planned: deque[PlannedResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: _LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ----------------------------------------------------------------------

    def plan(
        self,
        status: int = 200,
        body: str | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        delay_seconds: float = 0.0,
        times: int = 1,
    ) -> None:
        text = json.dumps(body) if isinstance(body, dict) else body
        planned = PlannedResponse(status, text, dict(headers or {}), delay_seconds)
        with self._lock:
            self._planned.extend([planned] * times)

    @abstractmethod
    def normal_reply(self, request: RecordedRequest) -> Reply:
        """The answer when nothing is planned: what the real API would say."""

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._http is None:
            raise RuntimeError("start() the server first")
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._http = _LoopbackServer(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a delay
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- called from handler threads ----------------------------------------------------

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            planned = self._planned.popleft() if self._planned else None
        delay = planned.delay_seconds if planned and planned.delay_seconds else self.delay_seconds
        if delay:
            self._stopping.wait(delay)
        if planned is None or (planned.status == 200 and planned.body is None):
            reply = self.normal_reply(request)
            extra_headers = planned.headers if planned else {}
            return Reply(
                reply.status, reply.pieces, {**reply.headers, **extra_headers}, reply.content_type
            )
        return Reply(planned.status, [(planned.body or "").encode()], planned.headers)


class _LoopbackServer(ThreadingHTTPServer):
    def __init__(self, owner: ScriptedServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _LoopbackServer
    # HTTP/1.0: the connection closes after each answer, which ends streams without chunking.
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        reply = self.server.owner._answer(request)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            for piece in reply.pieces:
                self.wfile.write(piece)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer
