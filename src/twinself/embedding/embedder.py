"""What every part that embeds text needs: the memory builder, the retriever, the offline
answerer and the offline judge all take an `Embedder`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

ProgressCallback = Callable[[int], None]
T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def embed_in_batches(
    texts: Sequence[str],
    size: int,
    encode: Callable[[list[str]], Iterable[Sequence[float]]],
    on_progress: ProgressCallback | None,
) -> list[list[float]]:
    """What every embedder's embed_documents does: `encode` a batch at a time, reporting each."""
    vectors: list[list[float]] = []
    for batch in batches(texts, size):
        vectors.extend([float(x) for x in v] for v in encode(batch))
        if on_progress is not None:
            on_progress(len(batch))
    return vectors


class Embedder(Protocol):
    model_name: str
    dimension: int

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two embeddings; they are normalised, so it is their dot product."""
    return sum(x * y for x, y in zip(a, b, strict=True))


class CachedEmbedder:
    """An LRU cache of document embeddings in front of an embedder; thread-safe.

    Retrieved passages come from a fixed memory, so the same few hundred sentences recur in
    every answer and every evaluation: embedding each once turns ~300 ms into ~10 ms.
    """

    def __init__(self, embedder: Embedder, size: int = 8192) -> None:
        self._embedder = embedder
        self._size = size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.model_name = embedder.model_name
        self.dimension = embedder.dimension

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
            for text in known:
                self._cache.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            embedded = self._embedder.embed_documents(missing, on_progress)
            fresh = dict(zip(missing, embedded, strict=True))
            known.update(fresh)
            with self._lock:
                self._cache.update(fresh)
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return [known[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed_query(text)
