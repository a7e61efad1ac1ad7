"""Edits to a test's private copy of the sample data, what the outbox recorded about them, and
memory built from a data folder for the tests to read."""

from __future__ import annotations

from pathlib import Path

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.memory.builder import build_memory_builder
from twinself.memory.store import build_vector_store
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue
from twinself.twin.factory import TwinRuntime

BEES = "I also keep two beehives on the roof of our building in Majorna since 2021.\n"


def add_bees(data_dir: Path) -> None:
    """A fact only the next memory version knows."""
    with (data_dir / "semantic_data" / "hobbies.md").open("a", encoding="utf-8") as f:
        f.write("\n" + BEES)


def answered_versions(home: Path) -> dict[str, tuple[str, bool]]:
    """Per recorded request: the data version it records, and whether its answer knows the
    beehives (only the version after `add_bees` has them)."""
    outbox = Outbox(home / "outbox.sqlite3")
    try:
        return {
            p.record.request_id: (p.record.params["data_version"], "beehives" in p.record.response)
            for p in RequestQueue(outbox).due(100_000)
        }
    finally:
        outbox.close()


def build_runtime(settings: Settings, embedder: Embedder) -> TwinRuntime:
    """The settings' data folder built into their home's (unversioned) memory, opened; the
    caller closes it."""
    store = build_vector_store(settings)
    builder = build_memory_builder(settings)
    builder.apply(builder.plan(store, embedder.model_name, embedder.dimension), store, embedder)
    return TwinRuntime(settings, store, embedder)
