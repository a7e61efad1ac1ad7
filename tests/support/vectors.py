"""Tiny vectors and points for vector-store contract tests."""

from __future__ import annotations

from twinself.memory.vector_store import StoredPoint, point_id


def unit(i: int, dim: int = 4) -> list[float]:
    return [1.0 if j == i % dim else 0.0 for j in range(dim)]


def points(source: str, n: int) -> list[StoredPoint]:
    return [
        StoredPoint(
            point_id("c", source, i), [unit(i)], {"source": source, "text": f"{source}#{i}"}
        )
        for i in range(n)
    ]
