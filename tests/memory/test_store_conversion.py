"""Memory that releases before Qdrant Edge kept in qdrant-client's embedded format still opens:
converted once into the Edge store beside it, with the old folder left as it was."""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from tests.support.vectors import points, unit
from twinself.memory.store import QdrantVectorStore, build_vector_store, open_version_store
from twinself.memory.vector_store import StoredPoint, point_id
from twinself.memory.versions import MemoryLocation


def _write_old_format(location: MemoryLocation, stored: list[StoredPoint]) -> None:
    old = QdrantVectorStore(QdrantClient(path=str(location.qdrant_path)), "old", remote=False)
    old.ensure_collection("alice_semantic", 4)
    old.upsert("alice_semantic", stored)
    old.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_unversioned_memory_from_an_earlier_release_is_converted_once(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    location = MemoryLocation(settings.home, None)
    two_vectors = StoredPoint(point_id("c", "m", 0), [unit(0), unit(3)], {"source": "m"})
    stored = [*points("a.md", 3), two_vectors]
    _write_old_format(location, stored)
    before = _files(location.qdrant_path)

    store = build_vector_store(settings)
    try:
        assert store.location == str(location.edge_path)
        assert store.count("alice_semantic") == 4
        assert {p.id: p for p in store.points("alice_semantic")} == {p.id: p for p in stored}
        assert store.search("alice_semantic", unit(3), 1)[0].payload["source"] == "m"
    finally:
        store.close()
    assert _files(location.qdrant_path) == before  # an earlier release can still open it
    assert not list(settings.home.glob(".qdrant_edge.converting-*"))

    (location.qdrant_path / "collection").rename(location.qdrant_path / "moved")
    again = build_vector_store(settings)  # converted already: the old folder is not read
    try:
        assert again.count("alice_semantic") == 4
    finally:
        again.close()


def test_a_version_built_by_an_earlier_release_opens_for_the_server(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    location = MemoryLocation(
        settings.home / "versions" / "v1_20260101_000000", "v1_20260101_000000"
    )
    location.qdrant_path.mkdir(parents=True)
    _write_old_format(location, points("a.md", 2))
    store = open_version_store(settings, location)
    try:
        assert store.count("alice_semantic") == 2
    finally:
        store.close()
