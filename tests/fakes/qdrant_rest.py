"""A stand-in Qdrant server: Qdrant's REST API served over qdrant-client's own local engine.

No Qdrant server binary can be installed on this machine, yet twinself's server mode (several
processes sharing one store through `QdrantClient(url=...)`) needs testing across real OS
processes. This module runs qdrant-client's local engine (`QdrantClient(path=...)` or in memory)
in its own process behind a small HTTP server, so the real REST client talks HTTP to it exactly
as it would to Qdrant.

Only the endpoints twinself uses are implemented. Replies use Qdrant's envelope,
`{"result": ..., "status": "ok", "time": ...}`; failures are `{"status": {"error": ...}}` with
Qdrant's status codes (404 for a missing collection, 400 for a rejected request, 401 for a
missing or wrong `api-key` header when started with one).

    python -m tests.fakes.qdrant_rest --port 0 [--path DIR] [--api-key KEY]

prints `READY <port>` once listening and serves until SIGTERM. Tests use `QdrantRestServer`.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, TypeAdapter
from qdrant_client import QdrantClient, models

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0

# The local engine's wording for an unknown collection or alias, whichever method raised it.
_MISSING_COLLECTION = re.compile(r"Collection (?P<name>.+) not found")
_NAME = r"(?P<name>[^/]+)"

_POINT_INSERT = TypeAdapter[models.PointInsertOperations](models.PointInsertOperations)
_POINTS_SELECTOR = TypeAdapter[models.PointsSelector](models.PointsSelector)
_FIELD_SCHEMA = TypeAdapter[models.PayloadFieldSchema](models.PayloadFieldSchema)

Params = dict[str, str]
Endpoint = Callable[[Params, Any], object]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Bare:
    """A reply sent as it is, outside the envelope (Qdrant's `GET /` does that)."""

    def __init__(self, document: object) -> None:
        self.document = document


def missing_collection(name: str) -> ApiError:
    return ApiError(404, f"Not found: Collection `{name}` doesn't exist!")


def to_json(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


class QdrantRestApp:
    """Routes a request to the engine and says what to reply: (HTTP status, JSON document)."""

    def __init__(
        self, engine: QdrantClient, api_key: str | None = None, index_file: Path | None = None
    ) -> None:
        self._engine = engine
        self._api_key = api_key
        # The engine accepts payload indexes but only keeps text ones, so Qdrant's report of
        # them (`payload_schema`) is kept here: {collection: {field: PayloadFieldSchema as JSON}}.
        self._index_file = index_file
        self._indexes: dict[str, dict[str, Any]] = {}
        if index_file is not None and index_file.exists():
            self._indexes = json.loads(index_file.read_text())
        # The local engine keeps plain dicts and one sqlite connection: one call at a time.
        self._lock = threading.Lock()
        collection = f"^/collections/{_NAME}"
        self._routes: list[tuple[str, re.Pattern[str], Endpoint]] = [
            ("GET", re.compile("^/$"), self._root),
            ("GET", re.compile("^/collections$"), self._list_collections),
            ("POST", re.compile("^/collections/aliases$"), self._update_aliases),
            ("GET", re.compile("^/aliases$"), self._list_aliases),
            ("GET", re.compile(f"{collection}$"), self._get_collection),
            ("PUT", re.compile(f"{collection}$"), self._create_collection),
            ("DELETE", re.compile(f"{collection}$"), self._delete_collection),
            ("GET", re.compile(f"{collection}/exists$"), self._collection_exists),
            ("GET", re.compile(f"{collection}/aliases$"), self._collection_aliases),
            ("PUT", re.compile(f"{collection}/index$"), self._create_index),
            ("PUT", re.compile(f"{collection}/points$"), self._upsert),
            ("POST", re.compile(f"{collection}/points/delete$"), self._delete_points),
            ("POST", re.compile(f"{collection}/points/query$"), self._query),
            ("POST", re.compile(f"{collection}/points/count$"), self._count),
            ("POST", re.compile(f"{collection}/points/scroll$"), self._scroll),
        ]

    def handle(
        self, method: str, target: str, api_key: str | None, body: bytes
    ) -> tuple[int, object]:
        started = time.perf_counter()

        def failure(status: int, message: str) -> tuple[int, object]:
            return status, {"status": {"error": message}, "time": time.perf_counter() - started}

        path = urlsplit(target).path
        # Like Qdrant, the version probe at `/` answers without a key.
        if self._api_key is not None and path != "/" and not self._key_matches(api_key):
            return failure(401, "Must provide an API key or an Authorization bearer token")
        endpoint, params = self._route(method, path)
        if endpoint is None:
            return failure(404, f"Not found: {method} {path}")
        try:
            document = json.loads(body) if body else None
            result = endpoint(params, document)
        except ApiError as exc:
            return failure(exc.status, exc.message)
        except ValueError as exc:  # also pydantic's ValidationError and bad JSON
            found = _MISSING_COLLECTION.fullmatch(str(exc))
            if found:
                return failure(404, missing_collection(found["name"]).message)
            return failure(400, f"Wrong input: {exc}")
        except Exception as exc:  # a bug in the shim or engine must not take the server down
            return failure(500, f"Service internal error: {type(exc).__name__}: {exc}")
        if isinstance(result, Bare):
            return 200, result.document
        elapsed = time.perf_counter() - started
        return 200, {"result": to_json(result), "status": "ok", "time": elapsed}

    def close(self) -> None:
        with self._lock:
            self._engine.close()

    def _key_matches(self, given: str | None) -> bool:
        assert self._api_key is not None
        return given is not None and hmac.compare_digest(given.encode(), self._api_key.encode())

    def _route(self, method: str, path: str) -> tuple[Endpoint | None, Params]:
        for verb, pattern, endpoint in self._routes:
            found = pattern.match(path)
            if verb == method and found:
                return endpoint, {key: unquote(value) for key, value in found.groupdict().items()}
        return None, {}

    def _root(self, params: Params, body: Any) -> object:
        with self._lock:
            return Bare(to_json(self._engine.info()))

    def _list_collections(self, params: Params, body: Any) -> object:
        with self._lock:
            return self._engine.get_collections()

    def _get_collection(self, params: Params, body: Any) -> object:
        with self._lock:
            info = self._engine.get_collection(params["name"])
            name = self._resolve(params["name"])
            schema = dict(info.payload_schema)
            for field, stored in self._indexes.get(name, {}).items():
                if field not in schema:
                    schema[field] = self._index_info(name, field, stored)
            return info.model_copy(update={"payload_schema": schema})

    def _collection_exists(self, params: Params, body: Any) -> object:
        with self._lock:
            return models.CollectionExistence(exists=self._engine.collection_exists(params["name"]))

    def _create_collection(self, params: Params, body: Any) -> object:
        request = models.CreateCollection.model_validate(body or {})
        with self._lock:
            # The engine ignores shard, HNSW, WAL and optimizer settings, as a single node may.
            return self._engine.create_collection(
                params["name"],
                vectors_config=request.vectors,
                sparse_vectors_config=request.sparse_vectors,
                metadata=request.metadata,
            )

    def _delete_collection(self, params: Params, body: Any) -> object:
        with self._lock:
            deleted = self._engine.delete_collection(params["name"])
            if self._indexes.pop(params["name"], None) is not None:
                self._save_indexes()
            return deleted

    def _create_index(self, params: Params, body: Any) -> object:
        request = models.CreateFieldIndex.model_validate(body)
        if request.field_schema is None:  # Qdrant infers a type from the data; twinself never asks
            raise ApiError(400, "Wrong input: field_schema is required")
        with self._lock:
            # The engine warns that payload indexes do nothing locally; the server has no reader.
            result = self._engine.create_payload_index(
                params["name"], request.field_name, field_schema=request.field_schema
            )
            collection = self._indexes.setdefault(self._resolve(params["name"]), {})
            collection[request.field_name] = to_json(request.field_schema)
            self._save_indexes()
            return result

    def _resolve(self, name: str) -> str:
        """The collection an alias points at (callers hold the lock)."""
        for alias in self._engine.get_aliases().aliases:
            if alias.alias_name == name:
                return alias.collection_name
        return name

    def _index_info(self, collection: str, field: str, stored: Any) -> models.PayloadIndexInfo:
        schema = _FIELD_SCHEMA.validate_python(stored)
        if isinstance(schema, models.PayloadSchemaType):
            data_type, index_params = schema, None
        else:
            data_type, index_params = models.PayloadSchemaType(schema.type), schema
        has_field = models.Filter(
            must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=field))]
        )
        indexed = self._engine.count(collection, count_filter=has_field, exact=True).count
        return models.PayloadIndexInfo(data_type=data_type, params=index_params, points=indexed)

    def _save_indexes(self) -> None:
        if self._index_file is not None:
            self._index_file.write_text(json.dumps(self._indexes))

    def _upsert(self, params: Params, body: Any) -> object:
        request = _POINT_INSERT.validate_python(body)
        points: models.Batch | list[models.PointStruct] = (
            request.points if isinstance(request, models.PointsList) else request.batch
        )
        with self._lock:
            return self._engine.upsert(
                params["name"],
                points=points,
                update_filter=request.update_filter,
                update_mode=request.update_mode,
            )

    def _delete_points(self, params: Params, body: Any) -> object:
        selector = _POINTS_SELECTOR.validate_python(body)
        with self._lock:
            return self._engine.delete(params["name"], points_selector=selector)

    def _query(self, params: Params, body: Any) -> object:
        request = models.QueryRequest.model_validate(body or {})
        with self._lock:
            return self._engine.query_points(
                params["name"],
                query=request.query,
                using=request.using,
                prefetch=request.prefetch,
                query_filter=request.filter,
                search_params=request.params,
                limit=request.limit if request.limit is not None else 10,
                offset=request.offset,
                # Qdrant's REST defaults differ from the Python method's: no payload unless asked.
                with_payload=request.with_payload if request.with_payload is not None else False,
                with_vectors=request.with_vector if request.with_vector is not None else False,
                score_threshold=request.score_threshold,
                lookup_from=request.lookup_from,
            )

    def _count(self, params: Params, body: Any) -> object:
        request = models.CountRequest.model_validate(body or {})
        with self._lock:
            return self._engine.count(
                params["name"],
                count_filter=request.filter,
                exact=request.exact if request.exact is not None else True,
            )

    def _scroll(self, params: Params, body: Any) -> object:
        request = models.ScrollRequest.model_validate(body or {})
        with self._lock:
            points, next_offset = self._engine.scroll(
                params["name"],
                scroll_filter=request.filter,
                limit=request.limit if request.limit is not None else 10,
                order_by=request.order_by,
                offset=request.offset,
                with_payload=request.with_payload if request.with_payload is not None else True,
                with_vectors=request.with_vector if request.with_vector is not None else False,
            )
        return models.ScrollResult(points=points, next_page_offset=next_offset)

    def _update_aliases(self, params: Params, body: Any) -> object:
        request = models.ChangeAliasesOperation.model_validate(body)
        with self._lock:
            # The engine applies the whole list or none of it, as Qdrant does.
            return self._engine.update_collection_aliases(request.actions)

    def _list_aliases(self, params: Params, body: Any) -> object:
        with self._lock:
            return self._engine.get_aliases()

    def _collection_aliases(self, params: Params, body: Any) -> object:
        with self._lock:
            return self._engine.get_collection_aliases(params["name"])


class _RestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, app: QdrantRestApp) -> None:
        self.app = app
        super().__init__(("127.0.0.1", port), _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _RestServer
    protocol_version = "HTTP/1.1"  # keep-alive, as qdrant-client's httpx pool may reuse sockets

    def do_GET(self) -> None:
        self._reply("GET")

    def do_PUT(self) -> None:
        self._reply("PUT")

    def do_POST(self) -> None:
        self._reply("POST")

    def do_DELETE(self) -> None:
        self._reply("DELETE")

    def do_PATCH(self) -> None:
        self._reply("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # stderr is kept for real failures, which QdrantRestServer reports

    def _reply(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, document = self.server.app.handle(
            method, self.path, self.headers.get("api-key"), body
        )
        encoded = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)


def open_engine(path: Path | None) -> QdrantClient:
    # Handler threads share the engine (under QdrantRestApp's lock), so sqlite must allow it.
    if path is None:
        return QdrantClient(location=":memory:", force_disable_check_same_thread=True)
    path.mkdir(parents=True, exist_ok=True)
    return QdrantClient(path=str(path), force_disable_check_same_thread=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--path", type=Path, help="an embedded store folder; in memory if unset")
    parser.add_argument("--api-key", help="require this `api-key` header")
    args = parser.parse_args(argv)

    # Beside the engine's own files, which it never lists as collections.
    index_file = args.path / "rest_payload_indexes.json" if args.path else None
    app = QdrantRestApp(open_engine(args.path), args.api_key, index_file)
    server = _RestServer(args.port, app)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # serve_forever in a thread: shutdown() deadlocks if called from the serving thread.
    # A short poll interval, so shutdown() on SIGTERM returns at once.
    serving = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="qdrant-rest", daemon=True
    )
    serving.start()
    print(f"READY {server.server_address[1]}", flush=True)
    while not stop.wait(1.0):
        pass
    server.shutdown()
    server.server_close()
    app.close()  # releases the folder's lock and flushes the engine's storage
    return 0


class QdrantRestServer:
    """`python -m tests.fakes.qdrant_rest` in a subprocess, for the duration of a `with` block."""

    def __init__(self, path: Path | None = None, api_key: str | None = None) -> None:
        self.path = path
        self.api_key = api_key
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("The Qdrant REST server is not running.")
        return self._process

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("The Qdrant REST server is not running.")
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> QdrantRestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.fakes.qdrant_rest", "--port", "0"]
        if self.path is not None:
            command += ["--path", str(self.path)]
        if self.api_key is not None:
            command += ["--api-key", self.api_key]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(REPO_ROOT), env.get("PYTHONPATH")) if part
        )
        # A file, not a pipe: nobody drains stderr while the server runs, and a full pipe blocks.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop())
        self._process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr
        )
        try:
            self._port = self._read_ready_port(self._process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process, self._port = self._process, None, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _read_ready_port(self, process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(self._failure("did not print READY within 30 s"))
            readable, _, _ = select.select([process.stdout], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(process.stdout.fileno(), 1)  # one byte: never read past the line
            if not chunk:
                process.wait(timeout=5)
                raise RuntimeError(self._failure(f"exited with {process.returncode}"))
            line += chunk
        found = re.fullmatch(rb"READY (\d+)\s*", line)
        if not found:
            raise RuntimeError(self._failure(f"printed {line!r} instead of READY"))
        return int(found[1])

    def _failure(self, what: str) -> str:
        stderr = ""
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.seek(0)
                stderr = self._stderr.read().decode(errors="replace")
        return f"The Qdrant REST server {what}. Its stderr:\n{stderr}"


if __name__ == "__main__":
    sys.exit(main())
