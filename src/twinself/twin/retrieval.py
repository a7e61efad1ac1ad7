"""Top-k retrieval from the three memories with one query embedding."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from twinself.embedding.embedder import Embedder
from twinself.errors import MemoryNotBuilt
from twinself.llm.base import Passage
from twinself.memory.documents import MemoryType, collection_name
from twinself.memory.vector_store import VectorStore


@dataclass(frozen=True)
class RetrievedMemory:
    semantic: tuple[Passage, ...]
    episodic: tuple[Passage, ...]
    procedural: tuple[Passage, ...]
    # Wall-clock windows (perf_counter start, end) for tracing; "embed" plus one per memory.
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)
    embedding_model: str = ""  # the model that embedded the question (the "embed" window)

    def passages(self) -> list[Passage]:
        """Every source, each memory's in descending score."""
        return [*self.semantic, *self.episodic, *self.procedural]

    @property
    def seconds(self) -> float:
        if not self.timings:
            return 0.0
        return max(e for _, e in self.timings.values()) - min(s for s, _ in self.timings.values())


def _passage(memory: MemoryType, score: float, payload: dict[str, Any]) -> Passage:
    return Passage(
        memory=memory.value,
        source=str(payload.get("source", "")),
        heading=str(payload.get("heading", "")),
        text=str(payload.get("text", "")),
        score=round(score, 4),
    )


class MemoryRetriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        collection_prefix: str,
        top_k: dict[MemoryType, int],
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._prefix = collection_prefix
        self._top_k = top_k
        # The embedded Qdrant and the model are not documented as thread-safe; the server
        # answers from a thread pool, so retrieval (~30 ms) runs one at a time.
        self._lock = threading.Lock()

    def check_ready(self) -> None:
        if self._store.count(collection_name(self._prefix, MemoryType.SEMANTIC)) == 0:
            raise MemoryNotBuilt(
                "The memory is empty: run `twinself rebuild` to build it from your data."
            )

    def retrieve(self, question: str) -> RetrievedMemory:
        with self._lock:
            return self._retrieve(question)

    def _retrieve(self, question: str) -> RetrievedMemory:
        timings: dict[str, tuple[float, float]] = {}
        start = time.perf_counter()
        vector = self._embedder.embed_query(question)
        timings["embed"] = (start, time.perf_counter())
        found: dict[MemoryType, tuple[Passage, ...]] = {}
        for memory in MemoryType:
            start = time.perf_counter()
            hits = self._store.search(
                collection_name(self._prefix, memory), vector, self._top_k.get(memory, 0)
            )
            found[memory] = tuple(
                sorted(
                    (_passage(memory, h.score, h.payload) for h in hits),
                    key=lambda p: p.score,
                    reverse=True,
                )
            )
            timings[memory.value] = (start, time.perf_counter())
        if not found[MemoryType.SEMANTIC] and self._top_k.get(MemoryType.SEMANTIC, 0) > 0:
            self.check_ready()  # no facts at all: an unbuilt memory, not an odd question
        return RetrievedMemory(
            semantic=found[MemoryType.SEMANTIC],
            episodic=found[MemoryType.EPISODIC],
            procedural=found[MemoryType.PROCEDURAL],
            timings=timings,
            embedding_model=self._embedder.model_name,
        )
