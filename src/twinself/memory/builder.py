"""Build or incrementally update the three memories from a data folder.

Only files whose content hash changed are re-chunked and re-embedded; their old points are
removed by source. Everything is embedded before the store is touched, so a failure while
embedding (the slow part) leaves the store as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.errors import DataValidationError
from twinself.memory.documents import (
    MemoryChunk,
    MemoryType,
    SourceFile,
    chunk_file,
    collection_name,
    list_source_files,
)
from twinself.memory.manifest import (
    BuildSettings,
    FileRecord,
    Manifest,
    ManifestCorrupt,
    load_manifest,
    save_manifest,
)
from twinself.memory.validation import validate_data_dir
from twinself.memory.vector_store import StoredPoint, VectorStore, point_id
from twinself.memory.versions import MemoryLocation

# (description, total) starts a phase; then (None, n) advances it by n.
ProgressReporter = Callable[[str | None, int], None]


@dataclass
class MemoryChanges:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Set when this memory is rebuilt whole (forced, settings changed, store out of sync).
    rebuild_reason: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.modified or self.deleted or self.rebuild_reason)

    def to_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "modified": self.modified,
            "deleted": self.deleted,
            "unchanged": len(self.unchanged),
            "rebuild_reason": self.rebuild_reason,
        }


@dataclass
class RebuildPlan:
    changes: dict[MemoryType, MemoryChanges]
    files: dict[MemoryType, list[SourceFile]]
    build: BuildSettings
    # What the store holds now, per file: kept as is for unchanged files.
    previous: dict[MemoryType, dict[str, FileRecord]]

    @property
    def has_changes(self) -> bool:
        return any(c.has_changes for c in self.changes.values())


@dataclass
class RebuildReport:
    plan: RebuildPlan
    points: dict[MemoryType, int]
    embedded_chunks: int
    seconds: float


class MemoryBuilder:
    def __init__(
        self,
        data_dir: Path,
        manifest_path: Path,
        collection_prefix: str,
        chunk_size: int,
        chunk_overlap: int,
    ) -> None:
        self.data_dir = data_dir
        self.manifest_path = manifest_path
        self.collection_prefix = collection_prefix
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap

    def collection(self, memory: MemoryType) -> str:
        return collection_name(self.collection_prefix, memory)

    def validate(self) -> None:
        errors = [p for p in validate_data_dir(self.data_dir) if p.severity == "error"]
        if errors:
            raise DataValidationError([p.render(self.data_dir) for p in errors])

    def plan(
        self,
        store: VectorStore | None,
        embedding_model: str,
        dimension: int | None,
        force: bool = False,
    ) -> RebuildPlan:
        """What a rebuild would do. `store` (optional) lets it notice a store out of sync.

        `dimension=None` (a dry run that does not load the model) trusts the last build's
        dimension when the model name is unchanged.
        """
        self.validate()
        try:
            manifest = load_manifest(self.manifest_path)
            unreadable = None
        except ManifestCorrupt as exc:
            manifest, unreadable = None, str(exc)
        if dimension is None:
            same_model = manifest is not None and manifest.build.embedding_model == embedding_model
            dimension = manifest.build.dimension if manifest and same_model else 0
        build = BuildSettings(
            embedding_model, dimension, self.chunk_size, self.chunk_overlap, self.collection_prefix
        )
        files = {memory: list_source_files(self.data_dir, memory) for memory in MemoryType}
        previous = {m: manifest.files_of(m) if manifest else {} for m in MemoryType}
        changes: dict[MemoryType, MemoryChanges] = {}
        for memory in MemoryType:
            change = _diff_files(files[memory], previous[memory])
            change.rebuild_reason = _whole_rebuild_reason(
                force, manifest, unreadable, build, store, self.collection(memory), memory
            )
            changes[memory] = change
        return RebuildPlan(changes, files, build, previous)

    def apply(
        self,
        plan: RebuildPlan,
        store: VectorStore,
        embedder: Embedder,
        progress: ProgressReporter | None = None,
    ) -> RebuildReport:
        started = time.perf_counter()
        report = progress or (lambda _description, _n: None)
        pending: dict[MemoryType, list[MemoryChunk]] = {}
        records: dict[MemoryType, dict[str, FileRecord]] = {}
        for memory, change in plan.changes.items():
            rebuild_all = change.rebuild_reason is not None
            redo = set(change.added) | set(change.modified)
            chunks: list[MemoryChunk] = []
            records[memory] = {}
            for source in plan.files[memory]:
                if rebuild_all or source.name in redo:
                    file_chunks = chunk_file(source, self.chunk_size, self.chunk_overlap)
                    chunks.extend(file_chunks)
                    records[memory][source.name] = FileRecord(source.content_hash, len(file_chunks))
                else:
                    records[memory][source.name] = plan.previous[memory][source.name]
            pending[memory] = chunks

        total = sum(len(c) for c in pending.values())
        texts = {
            memory: [text for chunk in chunks for text in chunk.all_embedding_texts]
            for memory, chunks in pending.items()
        }
        vectors: dict[MemoryType, list[list[list[float]]]] = {}
        if total:
            count = sum(len(t) for t in texts.values())
            report(f"Embedding {total} chunks ({count} texts)", count)
            for memory, chunks in pending.items():
                flat = iter(embedder.embed_documents(texts[memory], lambda n: report(None, n)))
                vectors[memory] = [
                    [next(flat) for _ in chunk.all_embedding_texts] for chunk in chunks
                ]

        for memory, change in plan.changes.items():
            name = self.collection(memory)
            if change.rebuild_reason is not None:
                store.delete_collection(name)
            store.ensure_collection(name, plan.build.dimension)
            store.delete_sources(name, change.modified + change.deleted)
            store.upsert(name, _points(name, pending[memory], vectors.get(memory, [])))

        save_manifest(
            self.manifest_path,
            Manifest(
                build=plan.build,
                files=records,
                built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        points = {memory: store.count(self.collection(memory)) for memory in MemoryType}
        return RebuildReport(plan, points, total, time.perf_counter() - started)


def build_memory_builder(
    settings: Settings, location: MemoryLocation | None = None
) -> MemoryBuilder:
    """`location`: the memory to build; default the unversioned one under TWINSELF_HOME."""
    return MemoryBuilder(
        data_dir=settings.resolved_data_dir,
        manifest_path=(location or MemoryLocation(settings.home, None)).manifest_path,
        collection_prefix=settings.user_prefix,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )


def _diff_files(current: list[SourceFile], known: dict[str, FileRecord]) -> MemoryChanges:
    change = MemoryChanges()
    for source in current:
        record = known.get(source.name)
        if record is None:
            change.added.append(source.name)
        elif record.hash != source.content_hash:
            change.modified.append(source.name)
        else:
            change.unchanged.append(source.name)
    present = {s.name for s in current}
    change.deleted = sorted(name for name in known if name not in present)
    return change


def _whole_rebuild_reason(
    force: bool,
    manifest: Manifest | None,
    unreadable: str | None,
    build: BuildSettings,
    store: VectorStore | None,
    collection: str,
    memory: MemoryType,
) -> str | None:
    if force:
        return "--force"
    if unreadable is not None:
        return f"file hashes unreadable: {unreadable}"
    if manifest is None:
        return None  # first build: every file is simply "added"
    if manifest.build != build:
        changed = [k for k, v in vars(build).items() if getattr(manifest.build, k) != v]
        return f"settings changed: {', '.join(changed)}"
    if store is not None:
        stored, expected = store.count(collection), manifest.chunk_count(memory)
        if stored != expected:
            return f"store out of sync: {stored} points stored, {expected} expected"
    return None


def _points(
    collection: str, chunks: list[MemoryChunk], vectors: list[list[list[float]]]
) -> list[StoredPoint]:
    return [
        StoredPoint(
            id=point_id(collection, chunk.source, chunk.chunk_index),
            vectors=vector,
            payload={
                "memory": chunk.memory.value,
                "source": chunk.source,
                "chunk_index": chunk.chunk_index,
                "heading": chunk.heading,
                "text": chunk.text,
                "content_hash": chunk.content_hash,
                **chunk.extra,
            },
        )
        for chunk, vector in zip(chunks, vectors, strict=True)
    ]
