"""Wire a Twin from the settings. The CLI and the server both call this."""

from __future__ import annotations

from dataclasses import dataclass

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.embedding.loading import load_embedder
from twinself.llm.factory import build_llm
from twinself.memory.documents import MemoryType
from twinself.memory.manifest import ManifestCorrupt, data_version, load_manifest
from twinself.memory.store import open_version_store
from twinself.memory.vector_store import VectorStore
from twinself.memory.versions import MemoryLocation, VersionRegistry, active_location
from twinself.twin.persona import load_persona
from twinself.twin.prompt import PromptBuilder
from twinself.twin.retrieval import MemoryRetriever
from twinself.twin.twin import Twin


def top_k(settings: Settings) -> dict[MemoryType, int]:
    return {
        MemoryType.SEMANTIC: settings.top_k_semantic,
        MemoryType.EPISODIC: settings.top_k_episodic,
        MemoryType.PROCEDURAL: settings.top_k_procedural,
    }


def build_twin(
    settings: Settings,
    store: VectorStore,
    embedder: Embedder,
    location: MemoryLocation | None = None,
) -> Twin:
    """The persona comes from the memory version's system prompt snapshot when it has one."""
    prompts = location.prompt_root if location and location.prompt_root else None
    persona = load_persona(
        prompts or settings.resolved_data_dir, settings.system_prompt_file, settings.bot_name
    )
    retriever = MemoryRetriever(store, embedder, settings.user_prefix, top_k(settings))
    return Twin(
        persona=persona,
        retriever=retriever,
        prompt_builder=PromptBuilder(persona, settings.history_turns),
        llm=build_llm(settings, embedder),
        max_question_chars=settings.max_message_chars,
    )


@dataclass
class TwinRuntime:
    """The heavy parts one process owns: the embedding model and the store handle."""

    settings: Settings
    store: VectorStore
    embedder: Embedder
    location: MemoryLocation | None = None  # None: the unversioned memory

    @classmethod
    def open(
        cls, settings: Settings, embedder: Embedder | None = None, version: str | None = None
    ) -> TwinRuntime:
        """`version`, or the active memory version (the unversioned memory when there are
        none)."""
        embedder = embedder or load_embedder(settings)
        location = (
            VersionRegistry(settings.home).version_location(version)
            if version is not None
            else active_location(settings)
        )
        store = open_version_store(settings, location)
        return cls(settings, store, embedder, location)

    def twin(self) -> Twin:
        return build_twin(self.settings, self.store, self.embedder, self.location)

    def data_version(self) -> str:
        """The version id, or for unversioned memory a hash of its files."""
        if self.location is not None and self.location.version is not None:
            return self.location.version
        try:
            unversioned = MemoryLocation(self.settings.home, None)
            return data_version(load_manifest(unversioned.manifest_path))
        except ManifestCorrupt:
            return "unknown"

    def close(self) -> None:
        self.store.close()
