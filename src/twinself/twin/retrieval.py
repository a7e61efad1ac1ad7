"""Top-k retrieval from the three memories with one query embedding."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from twinself.embedding.embedder import Embedder
from twinself.errors import MemoryNotBuilt
from twinself.llm.base import Passage
from twinself.memory.documents import MemoryType, collection_name
from twinself.memory.vector_store import VectorStore
from twinself.text.lexical import bm25_scores

# Facts are re-ranked from a wider pool: the dense search's 7th-best chunk is often the one
# whose words the question names. Set on the sample persona's retrieval questions and the
# unseen personas' dev split.
RERANK_POOL = 20
LEXICAL_WEIGHT = 0.25  # of a chunk's BM25 (0..1) beside its cosine similarity
# Only chunks the embedding cannot clearly tell from the best one get the word bonus: a common
# word ("time" in "free time") must not lift a chunk far below it (set on the sample persona).
LEXICAL_MARGIN = 0.15


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

    def sources(self) -> list[Passage]:
        """The sources an answer shows: `passages()` with the chunks of one file section made
        one, at the best chunk's place and score, their texts joined so no context is lost."""
        merged: list[Passage] = []
        at: dict[tuple[str, str], int] = {}  # a semantic section's place in `merged`
        for passage in self.passages():
            key = (passage.source, passage.heading)
            if passage.memory != MemoryType.SEMANTIC.value or key not in at:
                if passage.memory == MemoryType.SEMANTIC.value:
                    at[key] = len(merged)
                merged.append(passage)
            else:
                best = merged[at[key]]
                merged[at[key]] = replace(best, text=joined_chunks(best.text, passage.text))
        return merged

    @property
    def seconds(self) -> float:
        if not self.timings:
            return 0.0
        return max(e for _, e in self.timings.values()) - min(s for s, _ in self.timings.values())


def joined_chunks(first: str, second: str) -> str:
    """Two chunks of one section as one text; chunks overlap, so the words they share (the end
    of one, the start of the other) appear once."""
    for a, b in ((first, second), (second, first)):
        for size in range(min(len(a), len(b)), 20, -1):
            if a.endswith(b[:size]):
                return a + b[size:]
    return f"{first}\n{second}"


def _passage(memory: MemoryType, score: float, payload: dict[str, Any]) -> Passage:
    return Passage(
        memory=memory.value,
        source=str(payload.get("source", "")),
        heading=str(payload.get("heading", "")),
        text=str(payload.get("text", "")),
        score=round(score, 4),
    )


def reranked(question: str, passages: list[Passage]) -> list[Passage]:
    """Best first by cosine similarity plus a share of BM25 over the pool (heading included:
    "Education > Master's" names what its chunks are about) for chunks within LEXICAL_MARGIN
    of the best; that sum becomes the score, so sources stay sorted by the score they show."""
    lexical = bm25_scores(question, [f"{p.heading} {p.text}" for p in passages])
    best = max((p.score for p in passages), default=0.0)
    blended = [
        replace(p, score=round(p.score + LEXICAL_WEIGHT * w, 4))
        if best - p.score <= LEXICAL_MARGIN
        else p
        for p, w in zip(passages, lexical, strict=True)
    ]
    return sorted(blended, key=lambda p: p.score, reverse=True)


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
            k = self._top_k.get(memory, 0)
            pool = max(k, RERANK_POOL) if memory is MemoryType.SEMANTIC and k else k
            hits = self._store.search(collection_name(self._prefix, memory), vector, pool)
            passages = [_passage(memory, h.score, h.payload) for h in hits]
            if memory is MemoryType.SEMANTIC:
                passages = reranked(question, passages)[:k]
            else:
                passages.sort(key=lambda p: p.score, reverse=True)
            found[memory] = tuple(passages)
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
