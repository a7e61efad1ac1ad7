"""The vector store on Qdrant, embedded or a server.

Memory versions are kept apart differently in the two modes. Embedded, each version is its own
store folder (qdrant-client locks a folder to one process). On a Qdrant server, a version's
collections carry its id as a suffix (`alice_semantic__v3_20261127_101500`), and the plain
names are aliases switched to the active version in one atomic alias update.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from qdrant_client import QdrantClient, models

from twinself.config.settings import Settings
from twinself.errors import MemoryUnavailable, MemoryVersionMissing
from twinself.memory.edge_store import EdgeVectorStore
from twinself.memory.vector_store import ScoredPayload, StoredPoint, copy_points
from twinself.memory.versions import MemoryLocation

logger = logging.getLogger(__name__)

# The engine of the embedded store (no QDRANT_URL). "edge": Qdrant Edge, the default.
# "qdrant-local": qdrant-client's embedded mode, as releases before it stored the memory
# (kept for comparison in benchmarks/memory_scale.py, and as a fallback where qdrant-edge-py
# has no wheel). Wants to become a setting (TWINSELF_EMBEDDED_ENGINE).
EMBEDDED_ENGINE: Literal["edge", "qdrant-local"] = "edge"


class QdrantVectorStore:
    """Multivector points (MaxSim) on normalised vectors, so a point scores as its best vector.

    `source` is indexed on a server, so a file's chunks are deleted at once.
    """

    def __init__(
        self,
        client: QdrantClient,
        location: str,
        *,
        remote: bool,
        version: str | None = None,
        upsert_batch: int = 256,
    ) -> None:
        """`version`: on a server, the memory version whose collections this store reads and
        writes (callers keep using the plain names)."""
        self._client = client
        self._remote = remote
        self._suffix = f"__{version}" if version else ""
        self.location = f"{location} ({version})" if version else location
        self._upsert_batch = upsert_batch

    def physical_name(self, name: str) -> str:
        return name + self._suffix

    def collection_exists(self, name: str) -> bool:
        return bool(self._client.collection_exists(self.physical_name(name)))

    def collection_names(self) -> list[str]:
        """Every collection the client sees, by its physical name."""
        return [c.name for c in self._client.get_collections().collections]

    def ensure_collection(self, name: str, dimension: int) -> None:
        if self.collection_exists(name):
            vectors = self._client.get_collection(self.physical_name(name)).config.params.vectors
            size = vectors.size if isinstance(vectors, models.VectorParams) else None
            ours = isinstance(vectors, models.VectorParams) and vectors.multivector_config
            if size != dimension or not ours:
                raise MemoryUnavailable(
                    f"Collection {name} was not built for this embedding model ({size}-d, "
                    f"{dimension}-d expected) or by this version of twinself; run "
                    "`twinself rebuild --force` to rebuild it."
                )
            return
        self._client.create_collection(
            self.physical_name(name),
            vectors_config=models.VectorParams(
                size=dimension,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
            ),
        )
        if self._remote:  # embedded mode has no payload indexes and warns about them
            self._client.create_payload_index(
                self.physical_name(name), "source", models.PayloadSchemaType.KEYWORD
            )

    def delete_collection(self, name: str) -> None:
        if self.collection_exists(name):
            self._client.delete_collection(self.physical_name(name))

    def upsert(self, name: str, points: Sequence[StoredPoint]) -> None:
        for start in range(0, len(points), self._upsert_batch):
            batch = points[start : start + self._upsert_batch]
            self._client.upsert(
                self.physical_name(name),
                points=[
                    models.PointStruct(id=p.id, vector=p.vectors, payload=p.payload) for p in batch
                ],
                wait=True,
            )

    def delete_sources(self, name: str, sources: Iterable[str]) -> None:
        wanted = sorted(set(sources))
        if not wanted or not self.collection_exists(name):
            return
        self._client.delete(
            self.physical_name(name),
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[models.FieldCondition(key="source", match=models.MatchAny(any=wanted))]
                )
            ),
            wait=True,
        )

    def search(self, name: str, vector: Sequence[float], limit: int) -> list[ScoredPayload]:
        if limit <= 0 or not self.collection_exists(name):
            return []
        response = self._client.query_points(
            self.physical_name(name), query=[list(vector)], limit=limit, with_payload=True
        )
        return [ScoredPayload(float(p.score), dict(p.payload or {})) for p in response.points]

    def count(self, name: str) -> int:
        if not self.collection_exists(name):
            return 0
        return int(self._client.count(self.physical_name(name), exact=True).count)

    def points(self, name: str) -> Iterator[StoredPoint]:
        """Every point with its vectors, page by page: copies a memory into a new version."""
        if not self.collection_exists(name):
            return
        offset: models.ExtendedPointId | None = None
        while True:
            records, offset = self._client.scroll(
                self.physical_name(name),
                limit=self._upsert_batch,
                offset=offset,
                with_payload=True,
                with_vectors=True,
            )
            for record in records:
                raw = record.vector if isinstance(record.vector, list) else []
                vectors = [list(v) for v in raw if isinstance(v, list)]
                if not vectors or len(vectors) != len(raw):
                    raise MemoryUnavailable(
                        f"Collection {self.physical_name(name)} was not built by twinself (its "
                        "points are not multivectors); run `twinself rebuild --force`."
                    )
                yield StoredPoint(str(record.id), vectors, dict(record.payload or {}))
            if offset is None:
                return

    def publish(self, names: Sequence[str]) -> None:
        """Point each plain name, as an alias, at this version's collection, in one alias
        update that the server applies atomically: readers of the plain names switch at once.

        A real collection under a plain name (the memory from before versions, which the first
        version was copied from) is dropped first; an alias cannot share its name.
        """
        if not self._remote or not self._suffix:
            return  # embedded versions are folders; nothing reads them by a plain name
        existing = {a.alias_name for a in self._client.get_aliases().aliases}
        operations: list[models.AliasOperations] = []
        for name in names:
            if name in existing:
                operations.append(
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=name))
                )
            elif self._client.collection_exists(name):
                self._client.delete_collection(name)
            if self.collection_exists(name):
                operations.append(
                    models.CreateAliasOperation(
                        create_alias=models.CreateAlias(
                            collection_name=self.physical_name(name), alias_name=name
                        )
                    )
                )
        if operations:
            self._client.update_collection_aliases(change_aliases_operations=operations)

    def stale_aliases(self, names: Sequence[str]) -> list[str]:
        """The plain names whose alias does not point at this version (after a failed
        `publish`); always none when embedded."""
        if not self._remote or not self._suffix:
            return []
        current = {a.alias_name: a.collection_name for a in self._client.get_aliases().aliases}
        return [
            name
            for name in names
            if self.collection_exists(name) and current.get(name) != self.physical_name(name)
        ]

    def close(self) -> None:
        self._client.close()


def build_vector_store(
    settings: Settings, location: MemoryLocation | None = None
) -> QdrantVectorStore | EdgeVectorStore:
    """`location`: a memory version's store; default the unversioned memory."""
    version = location.version if location else None
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = QdrantClient(
            url=settings.qdrant_url, api_key=api_key, timeout=10, check_compatibility=False
        )
        try:
            client.get_collections()
        except Exception as exc:  # the client raises several transport types
            raise MemoryUnavailable(
                f"Qdrant at {settings.qdrant_url} is unreachable ({type(exc).__name__}); start "
                "it, check QDRANT_URL / QDRANT_API_KEY, or unset QDRANT_URL to use the embedded "
                "store."
            ) from exc
        return QdrantVectorStore(client, settings.qdrant_url, remote=True, version=version)
    where = location or MemoryLocation(settings.home, None)
    if EMBEDDED_ENGINE == "qdrant-local":
        return _open_local(where.qdrant_path)
    return open_edge_store(where)


def _open_local(path: Path) -> QdrantVectorStore:
    """qdrant-client's embedded mode: releases before Qdrant Edge stored the memory here."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        client = QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise MemoryUnavailable(
            f"The embedded store at {path} is in use by another twinself process (the server or "
            "a rebuild). Stop that process first, or run a Qdrant server and set QDRANT_URL so "
            "several processes can share it."
        ) from exc
    return QdrantVectorStore(client, str(path), remote=False)


def open_edge_store(location: MemoryLocation) -> EdgeVectorStore:
    """The embedded store of `location`; a memory an earlier release kept in qdrant-client's
    embedded format is converted first, once (same ids, vectors and payloads; no embedding)."""
    if not location.edge_path.exists() and (location.qdrant_path / "collection").is_dir():
        _convert_local(location)
    return EdgeVectorStore(location.edge_path)


def _convert_local(location: MemoryLocation) -> None:
    """Copy every point of the old store into a new Edge store beside it, then rename that into
    place: a crash half way leaves the old store as it was, and a second process converting at
    the same time loses the rename harmlessly. The old folder is never changed, so an earlier
    release can still open it."""
    logger.warning(
        "Converting the embedded memory at %s to Qdrant Edge (once; the old folder is kept)",
        location.qdrant_path,
    )
    old = _open_local(location.qdrant_path)
    partial = location.root / f".qdrant_edge.converting-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    new = EdgeVectorStore(partial)
    try:
        copy_points(old, new, old.collection_names())
    except BaseException:
        new.close()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        old.close()
    new.close()
    try:
        partial.rename(location.edge_path)
    except OSError:  # another process converted it first
        shutil.rmtree(partial, ignore_errors=True)


VERSION_REPAIR = (
    "Restore that folder, or go to another ready version (`twinself versions list`, then "
    "`twinself versions rollback ID`), or build one with `twinself rebuild --create-version`."
)


class MissingVersionStore:
    """Stands in for a memory version whose embedded store folder is gone: every read raises
    MemoryVersionMissing, so a server keeps running (and answers 503) until the owner restores
    the folder or activates another version, instead of quietly creating an empty store there.
    """

    def __init__(self, location: MemoryLocation) -> None:
        self.location = location
        self.path = str(location.edge_path)
        logger.error(
            "The active memory version %s has no store at %s; answers are refused with 503. %s",
            location.version,
            self.path,
            VERSION_REPAIR,
        )

    def _missing(self, *_: object) -> Any:
        # Clients see no server path; `twinself doctor` shows the owner where and how.
        raise MemoryVersionMissing(
            f"The twin's memory version {self.location.version} is missing on the server; "
            "its owner can repair it (`twinself doctor` says how)."
        )

    ensure_collection = collection_exists = delete_collection = upsert = _missing
    delete_sources = search = count = points = stale_aliases = _missing

    def restored(self) -> bool:
        """Is the version's folder back (either store format)?"""
        return self.location.has_embedded_store

    def close(self) -> None:
        pass


def open_version_store(
    settings: Settings, location: MemoryLocation
) -> QdrantVectorStore | EdgeVectorStore | MissingVersionStore:
    """For readers (the server, ask, chat): a version's store, never created on the way. Only
    the embedded store has a folder to lose; on a Qdrant server a missing collection is
    reported by the store itself."""
    versioned_folder = not settings.qdrant_url and location.version is not None
    if versioned_folder and not location.has_embedded_store:
        return MissingVersionStore(location)
    return build_vector_store(settings, location)
