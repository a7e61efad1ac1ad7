from __future__ import annotations

from collections.abc import Iterator

import pytest

from twinself.config.settings import Settings, sample_data_dir
from twinself.memory.embedding import SentenceTransformerEmbedder
from twinself.memory.store import build_vector_store
from twinself.twin.factory import TwinRuntime, build_memory_builder


@pytest.fixture(scope="session")
def built_runtime(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Iterator[TwinRuntime]:
    """The sample persona's memory, built for real once per run, with the offline provider.

    Tests only read it; the sample data itself is never modified.
    """
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path_factory.mktemp("sample_home"),
        data_dir=sample_data_dir(),
        llm_provider="offline",
    )
    store = build_vector_store(settings)
    builder = build_memory_builder(settings)
    builder.apply(builder.plan(store, embedder.model_name, embedder.dimension), store, embedder)
    runtime = TwinRuntime(settings, store, embedder)
    yield runtime
    runtime.close()
