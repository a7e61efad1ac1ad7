"""One contract for the vector store, run against each way of opening Qdrant we can run here:
Qdrant Edge (the embedded default), qdrant-client's embedded mode (releases before it, and the
fallback engine) on a folder and in memory. The Qdrant server path runs the same operations in
test_versions_on_qdrant_server.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from tests.support.vectors import points, unit
from twinself.errors import MemoryUnavailable
from twinself.memory.edge_store import EdgeVectorStore
from twinself.memory.store import QdrantVectorStore, build_vector_store
from twinself.memory.vector_store import StoredPoint, VectorStore, point_id


@pytest.fixture(params=["edge", "local-folder", "local-in-memory"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    store: VectorStore
    if request.param == "edge":
        store = EdgeVectorStore(tmp_path / "edge")
    elif request.param == "local-folder":
        store = QdrantVectorStore(QdrantClient(path=str(tmp_path / "q")), "q", remote=False)
    else:
        store = QdrantVectorStore(QdrantClient(location=":memory:"), "m", remote=False)
    yield store
    store.close()


def test_upsert_count_search(any_store: VectorStore) -> None:
    any_store.ensure_collection("c", 4)
    any_store.upsert("c", points("a.md", 3) + points("b.md", 2))
    assert any_store.count("c") == 5
    hits = any_store.search("c", unit(1), 2)
    assert hits[0].payload["text"] in {"a.md#1", "b.md#1"}
    assert hits[0].score == pytest.approx(1.0)
    assert hits[0].score >= hits[1].score


def test_upsert_is_idempotent_by_deterministic_id(any_store: VectorStore) -> None:
    any_store.ensure_collection("c", 4)
    any_store.upsert("c", points("a.md", 3))
    any_store.upsert("c", points("a.md", 3))
    assert any_store.count("c") == 3
    assert point_id("c", "a.md", 0) == point_id("c", "a.md", 0) != point_id("c", "a.md", 1)


def test_delete_sources_removes_only_that_file(any_store: VectorStore) -> None:
    any_store.ensure_collection("c", 4)
    any_store.upsert("c", points("a.md", 3) + points("b.md", 2))
    any_store.delete_sources("c", ["a.md"])
    assert any_store.count("c") == 2
    assert {h.payload["source"] for h in any_store.search("c", unit(0), 10)} == {"b.md"}


def test_a_point_scores_as_its_best_vector(any_store: VectorStore) -> None:
    any_store.ensure_collection("c", 4)
    any_store.upsert("c", [StoredPoint(point_id("c", "m", 0), [unit(0), unit(2)], {"source": "m"})])
    any_store.upsert("c", [StoredPoint(point_id("c", "s", 0), [unit(1)], {"source": "s"})])
    assert any_store.search("c", unit(2), 1)[0].payload["source"] == "m"
    assert any_store.search("c", unit(2), 1)[0].score == pytest.approx(1.0)
    assert any_store.search("c", unit(1), 1)[0].payload["source"] == "s"


def test_missing_collection_reads_as_empty(any_store: VectorStore) -> None:
    assert any_store.count("nothing") == 0
    assert any_store.search("nothing", unit(0), 3) == []
    any_store.delete_sources("nothing", ["a.md"])
    any_store.delete_collection("nothing")


def test_dimension_mismatch_says_how_to_fix(any_store: VectorStore) -> None:
    any_store.ensure_collection("c", 4)
    with pytest.raises(MemoryUnavailable, match="rebuild --force"):
        any_store.ensure_collection("c", 8)


def test_points_round_trip_with_vectors_and_payload(any_store: VectorStore) -> None:
    any_store.ensure_collection("c", 4)
    stored = [StoredPoint(point_id("c", "m", 0), [unit(0), unit(3)], {"source": "m", "n": 2})]
    any_store.upsert("c", stored + points("a.md", 300))  # more than one page
    read = {p.id: p for p in any_store.points("c")}
    assert len(read) == 301
    assert read[stored[0].id] == stored[0]


def test_written_memory_survives_reopening(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "edge")
    store.ensure_collection("c", 4)
    store.upsert("c", points("a.md", 3))
    store.delete_sources("c", ["nothing.md"])
    store.close()
    reopened = EdgeVectorStore(tmp_path / "edge")
    try:
        assert reopened.count("c") == 3
        assert reopened.search("c", unit(2), 1)[0].payload["text"] == "a.md#2"
        with pytest.raises(MemoryUnavailable, match="rebuild --force"):
            reopened.ensure_collection("c", 8)
    finally:
        reopened.close()


def test_second_process_on_embedded_folder_gets_a_clear_error(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    first = build_vector_store(settings)
    try:
        with pytest.raises(MemoryUnavailable, match="in use by another twinself process"):
            build_vector_store(settings)
    finally:
        first.close()


def test_unreachable_server_says_how_to_fix(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(qdrant_url="http://127.0.0.1:9")
    with pytest.raises(MemoryUnavailable, match="unset QDRANT_URL"):
        build_vector_store(settings)
