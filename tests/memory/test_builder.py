"""Incremental rebuild against the real embedded Qdrant and the real embedding model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.factories import SettingsFactory
from twinself.config.settings import Settings
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.errors import DataValidationError
from twinself.memory.builder import MemoryBuilder, RebuildReport, build_memory_builder
from twinself.memory.documents import (
    MemoryType,
    chunk_file,
    collection_name,
    list_source_files,
)
from twinself.memory.store import QdrantVectorStore

SEMANTIC = MemoryType.SEMANTIC


class CountingEmbedder:
    """The real model, counting what it is asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self.embedded: list[str] = []

    def embed_documents(self, texts, on_progress=None):  # type: ignore[no-untyped-def]
        self.embedded.extend(texts)
        return self.inner.embed_documents(texts, on_progress)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


KEEP = {
    "about_me.md",
    "hobbies.md",
    "talks_and_writing.md",
    "greetings_and_smalltalk.json",
    "rules.json",
    "system_prompt.md",
}


@pytest.fixture
def data_dir(data_dir: Path) -> Path:
    """A smaller persona keeps every rebuild here to about a second."""
    for path in list(data_dir.rglob("*.*")):
        if path.name not in KEEP:
            path.unlink()
    return data_dir


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def builder(settings: Settings) -> MemoryBuilder:
    return build_memory_builder(settings)


@pytest.fixture
def counting(embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def rebuild(
    builder: MemoryBuilder,
    store: QdrantVectorStore,
    embedder: CountingEmbedder,
    force: bool = False,
) -> RebuildReport:
    embedder.embedded.clear()
    plan = builder.plan(store, embedder.model_name, embedder.dimension, force=force)
    return builder.apply(plan, store, embedder)


def file_texts(builder: MemoryBuilder, path: Path) -> list[str]:
    """Every text the builder embeds for one semantic file: its chunks and their paragraphs."""
    [source] = [s for s in list_source_files(builder.data_dir, SEMANTIC) if s.path == path]
    chunks = chunk_file(source, builder.chunk_size, builder.chunk_overlap)
    return [t for c in chunks for t in c.all_embedding_texts]


def sources_in_store(store: QdrantVectorStore, settings: Settings) -> dict[str, int]:
    name = collection_name(settings.user_prefix, SEMANTIC)
    counts: dict[str, int] = {}
    for hit in store.search(name, [0.0] * 383 + [1.0], 10_000):
        counts[hit.payload["source"]] = counts.get(hit.payload["source"], 0) + 1
    return counts


def test_first_build_then_nothing_to_do(builder, store, counting, settings) -> None:  # type: ignore[no-untyped-def]
    first = rebuild(builder, store, counting)
    assert first.points[SEMANTIC] > 10 and first.embedded_chunks == sum(first.points.values())
    assert len(counting.embedded) > first.embedded_chunks  # paragraphs are embedded too
    second = rebuild(builder, store, counting)
    assert not second.plan.has_changes
    assert counting.embedded == []
    assert second.points == first.points


def test_modify_add_delete_touch_only_that_file(
    builder, store, counting, settings, data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    rebuild(builder, store, counting)
    before = sources_in_store(store, settings)
    semantic = data_dir / "semantic_data"

    # Modify: one file gets a new section; only its chunks are embedded again.
    hobbies = semantic / "hobbies.md"
    hobbies.write_text(
        hobbies.read_text(encoding="utf-8") + "\n## Chess\nI play chess on Sundays.\n",
        encoding="utf-8",
    )
    report = rebuild(builder, store, counting)
    assert report.plan.changes[SEMANTIC].modified == ["hobbies.md"]
    after_modify = sources_in_store(store, settings)
    assert after_modify["hobbies.md"] == before["hobbies.md"] + 1
    assert {k: v for k, v in after_modify.items() if k != "hobbies.md"} == {
        k: v for k, v in before.items() if k != "hobbies.md"
    }
    assert report.embedded_chunks == after_modify["hobbies.md"]
    assert counting.embedded == file_texts(builder, data_dir / "semantic_data" / "hobbies.md")
    assert any("I play chess on Sundays." in t for t in counting.embedded)

    # Add: exactly the new file's chunks.
    (semantic / "pets.md").write_text("# Pets\nI have a cat called Pixel.\n", encoding="utf-8")
    report = rebuild(builder, store, counting)
    assert report.plan.changes[SEMANTIC].added == ["pets.md"]
    assert counting.embedded == ["Pets\nI have a cat called Pixel."]
    assert report.points[SEMANTIC] == sum(after_modify.values()) + 1

    # Delete: its points go, nothing is embedded.
    (semantic / "pets.md").unlink()
    (semantic / "talks_and_writing.md").unlink()
    report = rebuild(builder, store, counting)
    assert sorted(report.plan.changes[SEMANTIC].deleted) == ["pets.md", "talks_and_writing.md"]
    assert counting.embedded == []
    expected = {k: v for k, v in after_modify.items() if k != "talks_and_writing.md"}
    assert sources_in_store(store, settings) == expected
    assert report.points[SEMANTIC] == sum(expected.values())


def test_episodic_file_change_leaves_other_memories_alone(
    builder, store, counting, data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    first = rebuild(builder, store, counting)
    path = data_dir / "episodic_data" / "greetings_and_smalltalk.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries.append({"user_query": "Tea or coffee?", "your_response": "Coffee, always."})
    path.write_text(json.dumps(entries), encoding="utf-8")
    report = rebuild(builder, store, counting)
    assert report.points[MemoryType.EPISODIC] == first.points[MemoryType.EPISODIC] + 1
    assert report.points[SEMANTIC] == first.points[SEMANTIC]
    assert report.embedded_chunks == len(entries) == len(counting.embedded)


def test_dry_run_plan_writes_nothing(builder, settings, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    plan = builder.plan(None, settings.embedding_model, None)
    assert len(plan.changes[SEMANTIC].added) == len(list((data_dir / "semantic_data").glob("*.md")))
    assert not settings.home.exists()


def test_invalid_data_stops_before_anything_is_written(
    builder, store, counting, settings, data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    first = rebuild(builder, store, counting)
    manifest_before = builder.manifest_path.read_bytes()
    (data_dir / "semantic_data" / "hobbies.md").write_text(
        "# Changed\nNew text.\n", encoding="utf-8"
    )
    (data_dir / "episodic_data" / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"broken\.json:1"):
        rebuild(builder, store, counting)
    assert builder.manifest_path.read_bytes() == manifest_before
    assert {
        m: store.count(collection_name(settings.user_prefix, m)) for m in MemoryType
    } == first.points


def test_force_and_out_of_sync_store_rebuild_the_whole_memory(
    builder, store, counting, settings
) -> None:  # type: ignore[no-untyped-def]
    first = rebuild(builder, store, counting)
    texts = list(counting.embedded)
    forced = rebuild(builder, store, counting, force=True)
    assert counting.embedded == texts and forced.points == first.points

    # Someone wiped a collection behind our back: that memory is rebuilt whole.
    store.delete_collection(collection_name(settings.user_prefix, MemoryType.PROCEDURAL))
    report = rebuild(builder, store, counting)
    reason = report.plan.changes[MemoryType.PROCEDURAL].rebuild_reason
    assert reason is not None and "out of sync" in reason
    assert report.plan.changes[SEMANTIC].rebuild_reason is None
    assert report.points == first.points
    assert report.embedded_chunks == first.points[MemoryType.PROCEDURAL]


def test_changed_chunk_size_rebuilds_everything(make_settings, store, counting) -> None:  # type: ignore[no-untyped-def]
    rebuild(build_memory_builder(make_settings()), store, counting)
    report = rebuild(
        build_memory_builder(make_settings(chunk_size=400, chunk_overlap=50)), store, counting
    )
    assert "chunk_size" in (report.plan.changes[SEMANTIC].rebuild_reason or "")
    assert max(len(t) for t in counting.embedded) <= 400 + 200  # chunk + its heading path


def test_corrupt_manifest_means_a_full_rebuild_not_a_crash(
    builder, store, counting, settings
) -> None:  # type: ignore[no-untyped-def]
    first = rebuild(builder, store, counting)
    builder.manifest_path.write_text("{not json", encoding="utf-8")
    report = rebuild(builder, store, counting)
    assert "unreadable" in (report.plan.changes[SEMANTIC].rebuild_reason or "")
    assert report.points == first.points
