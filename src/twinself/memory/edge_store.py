"""The embedded vector store on Qdrant Edge (`qdrant-edge-py`): Qdrant's own Rust engine,
in process, one shard folder per collection.

qdrant-client's embedded mode keeps every point in Python and scores them all on each query
(about 200 ms at 100k chunks); an Edge shard builds an HNSW index when it is written, keeps its
vectors memory-mapped, and answers in about a millisecond at that size. See README, "How far
the embedded memory goes".

Layout: `<root>/<collection>/` is one shard (its segments and configuration); `<root>/.lock` is
held while a process has the store open, so a second process gets a clear error.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import qdrant_edge as edge

from twinself.errors import MemoryUnavailable
from twinself.memory.vector_store import ScoredPayload, StoredPoint

LOCK_FILE = ".lock"
# Below this many points written in one session, closing the store does not run the
# optimizer: a small change stays in a small plain segment (scanned in well under a
# millisecond) instead of re-planning segments of a large memory on every incremental version.
OPTIMIZE_AFTER_POINTS = 2_000
_PAGE = 256


def _config(dimension: int) -> edge.EdgeConfig:
    # Memory.Cold: vectors, graph and ids are memory-mapped and read on demand, so opening a
    # version (the switch a running server makes) reads almost nothing up front.
    cold = edge.Memory.Cold
    return edge.EdgeConfig(
        vectors=edge.EdgeVectorParams(
            size=dimension,
            distance=edge.Distance.Cosine,
            multivector_config=edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim),
            memory=cold,
        ),
        hnsw_config=edge.HnswIndexConfig(
            m=16, ef_construct=100, full_scan_threshold=10_000, memory=cold
        ),
        payload_memory=cold,
        id_tracker_memory=cold,
        # No write-ahead log: a version is written once by one build and flushed when it is
        # closed, and a build that dies is reaped (its folder deleted), so the log would only
        # be replayed on every open: 10x the open time at 5k points (154 vs 12 ms), seconds
        # at 100k, with the GIL held while a server switches versions, and copied with every
        # new version. The folder `.lock` keeps other processes out instead.
        wal_enabled=False,
    )


def _in_use(path: Path) -> MemoryUnavailable:
    return MemoryUnavailable(
        f"The embedded store at {path} is in use by another twinself process (the server or "
        "a rebuild). Stop that process first, or run a Qdrant server and set QDRANT_URL so "
        "several processes can share it."
    )


class EdgeVectorStore:
    """Multivector points (MaxSim) on normalised vectors, so a point scores as its best vector;
    the same contract as the Qdrant server store (tests/memory/test_store.py)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        root.mkdir(parents=True, exist_ok=True)
        self._lock: IO[str] | None = _hold_lock(root)
        self._shards: dict[str, edge.EdgeShard] = {}
        self._written: dict[str, int] = {}
        try:
            # Every shard is opened now, not on the first question: a server opens a new
            # version in its watcher thread, before any request is sent to it.
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                self._shards[folder.name] = _load(folder)
        except BaseException:
            self.close()
            raise

    def collection_exists(self, name: str) -> bool:
        return name in self._shards

    def ensure_collection(self, name: str, dimension: int) -> None:
        shard = self._shards.get(name)
        if shard is not None:
            size, multivector = _stored_vectors(self.root / name)
            if size != dimension or not multivector:
                raise MemoryUnavailable(
                    f"Collection {name} was not built for this embedding model ({size}-d, "
                    f"{dimension}-d expected) or by this version of twinself; run "
                    "`twinself rebuild --force` to rebuild it."
                )
            return
        self._shards[name] = edge.EdgeShard.create(str(self.root / name), _config(dimension))
        self._written[name] = 0  # flushed on close, even empty

    def delete_collection(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        self._written.pop(name, None)
        shutil.rmtree(self.root / name, ignore_errors=True)

    def upsert(self, name: str, points: Sequence[StoredPoint]) -> None:
        shard = self._shard(name)
        for start in range(0, len(points), _PAGE):
            batch = [edge.Point(p.id, p.vectors, p.payload) for p in points[start : start + _PAGE]]
            shard.update(edge.UpdateOperation.upsert_points(batch))
        self._written[name] = self._written.get(name, 0) + len(points)

    def delete_sources(self, name: str, sources: Iterable[str]) -> None:
        wanted = sorted(set(sources))
        shard = self._shards.get(name)
        if not wanted or shard is None:
            return
        condition = edge.FieldCondition(key="source", match=edge.MatchAny(any=wanted))
        shard.update(edge.UpdateOperation.delete_points_by_filter(edge.Filter(must=[condition])))
        self._written.setdefault(name, 0)

    def search(self, name: str, vector: Sequence[float], limit: int) -> list[ScoredPayload]:
        shard = self._shards.get(name)
        if limit <= 0 or shard is None:
            return []
        hits = shard.query(
            edge.QueryRequest(
                query=edge.Query.Nearest([list(vector)]), limit=limit, with_payload=True
            )
        )
        return [ScoredPayload(float(h.score), dict(h.payload or {})) for h in hits]

    def count(self, name: str) -> int:
        shard = self._shards.get(name)
        return int(shard.count(edge.CountRequest(exact=True))) if shard is not None else 0

    def points(self, name: str) -> Iterator[StoredPoint]:
        """Every point with its vectors, page by page."""
        shard = self._shards.get(name)
        if shard is None:
            return
        offset: edge.PointId | None = None
        while True:
            records, offset = shard.scroll(
                edge.ScrollRequest(offset=offset, limit=_PAGE, with_payload=True, with_vector=True)
            )
            for record in records:
                raw = record.vector if isinstance(record.vector, list) else []
                vectors = [list(v) for v in raw if isinstance(v, list)]
                yield StoredPoint(str(record.id), vectors, dict(record.payload or {}))
            if offset is None:
                return

    def publish(self, names: Sequence[str]) -> None:
        """Nothing reads an embedded version by a plain name."""

    def stale_aliases(self, names: Sequence[str]) -> list[str]:
        return []  # no aliases: a version is a folder

    def close(self) -> None:
        """Index what this session wrote (the HNSW graph is built here, once per build), make
        it durable, and let another process open the folder."""
        shards, self._shards = self._shards, {}
        try:
            for name, shard in shards.items():
                try:
                    if self._written.get(name, 0) >= OPTIMIZE_AFTER_POINTS:
                        shard.optimize()
                    if name in self._written:
                        shard.flush()
                finally:
                    shard.close()
        finally:
            self._written.clear()
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def _shard(self, name: str) -> edge.EdgeShard:
        shard = self._shards.get(name)
        if shard is None:
            raise MemoryUnavailable(f"Collection {name} does not exist in {self.root}.")
        return shard


def _hold_lock(root: Path) -> IO[str]:
    handle = (root / LOCK_FILE).open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise _in_use(root) from None
    return handle


def _load(folder: Path) -> edge.EdgeShard:
    try:
        return edge.EdgeShard.load(str(folder))
    except Exception as exc:  # the binding raises plain Exception with the engine's text
        if "WouldBlock" in str(exc):
            raise _in_use(folder.parent) from None
        raise MemoryUnavailable(
            f"The embedded store {folder} cannot be opened ({exc}); run `twinself rebuild "
            "--force` (or `twinself rebuild --create-version --force`) to rebuild it."
        ) from exc


def _stored_vectors(folder: Path) -> tuple[int | None, bool]:
    """The dimension a shard was created with, and whether its points are multivectors, from
    the configuration the engine keeps beside its segments."""
    try:
        stored = json.loads((folder / "edge_config.json").read_text(encoding="utf-8"))
        vectors = stored["vectors"][""]
        return int(vectors["size"]), bool(vectors.get("multivector_config"))
    except (OSError, ValueError, KeyError, TypeError):
        return None, False
