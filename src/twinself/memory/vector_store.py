"""What the memory needs from a vector store: points, their ids, and the store protocol.

Kept apart from the Qdrant implementation so that code which only plans or describes memory
(and every CLI command that never opens a store) does not load qdrant_client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Fixed namespace: the same (collection, source, chunk) always gets the same point id.
_POINT_NAMESPACE = uuid.UUID("6c1b2f4e-8a51-4a0e-9d0c-7d2f3b9e1a10")
_COPY_PAGE = 256  # points per upsert while copying a memory


def point_id(collection: str, source: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{collection}\x1f{source}\x1f{chunk_index}"))


@dataclass(frozen=True)
class StoredPoint:
    id: str
    # One or more vectors; a query scores against the best of them (late interaction).
    vectors: list[list[float]]
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScoredPayload:
    score: float
    payload: dict[str, Any]


class VectorStore(Protocol):
    def ensure_collection(self, name: str, dimension: int) -> None: ...

    def collection_exists(self, name: str) -> bool: ...

    def delete_collection(self, name: str) -> None: ...

    def upsert(self, name: str, points: Sequence[StoredPoint]) -> None: ...

    def delete_sources(self, name: str, sources: Iterable[str]) -> None: ...

    def search(self, name: str, vector: Sequence[float], limit: int) -> list[ScoredPayload]: ...

    def count(self, name: str) -> int: ...

    def points(self, name: str) -> Iterator[StoredPoint]: ...

    def stale_aliases(self, names: Sequence[str]) -> list[str]: ...

    def close(self) -> None: ...


def copy_points(source: VectorStore, target: VectorStore, names: Sequence[str]) -> None:
    """Every point of `source`'s collections into `target`'s (replaced), page by page, with
    their vectors: a version copied on a server, or a memory moved to another engine."""
    for name in names:
        target.delete_collection(name)  # left by an earlier try
        batch: list[StoredPoint] = []
        for point in source.points(name):
            if not batch and not target.collection_exists(name):
                target.ensure_collection(name, len(point.vectors[0]))
            batch.append(point)
            if len(batch) == _COPY_PAGE:
                target.upsert(name, batch)
                batch = []
        if batch:
            target.upsert(name, batch)
