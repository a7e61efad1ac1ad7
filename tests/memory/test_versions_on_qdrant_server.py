"""Memory versions on a Qdrant server: each version's collections carry its id, and the plain
collection names are aliases that follow the active version.

No Qdrant server can be installed here, so `QdrantRestServer` serves Qdrant's REST API over
qdrant-client's own engine in another process; twinself talks to it through the real client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from tests.fakes.qdrant_rest import QdrantRestServer
from tests.support.factories import SettingsFactory
from tests.support.memory_data import add_bees
from twinself.cli.app import app
from twinself.config.settings import Settings
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.memory.builder import build_memory_builder
from twinself.memory.documents import MemoryType, collection_name
from twinself.memory.store import build_vector_store
from twinself.memory.version_builder import create_version
from twinself.memory.version_lifecycle import activate_version, remove_old_versions
from twinself.memory.versions import VersionInfo, VersionRegistry
from twinself.twin.factory import TwinRuntime

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def qdrant() -> Iterator[QdrantRestServer]:
    with QdrantRestServer() as server:
        yield server


@pytest.fixture
def client(qdrant: QdrantRestServer) -> Iterator[QdrantClient]:
    opened = QdrantClient(url=qdrant.url, check_compatibility=False)
    yield opened
    opened.close()


def collections(client: QdrantClient) -> set[str]:
    return {c.name for c in client.get_collections().collections}


def aliases(client: QdrantClient) -> dict[str, str]:
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases}


def top_text(client: QdrantClient, name: str, embedder: SentenceTransformerEmbedder) -> str:
    vector = embedder.embed_query("Do you keep bees?")
    hit = client.query_points(name, query=[vector], limit=1, with_payload=True).points[0]
    return str((hit.payload or {})["text"])


def build_unversioned(settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    store = build_vector_store(settings)
    builder = build_memory_builder(settings)
    try:
        builder.apply(builder.plan(store, embedder.model_name, embedder.dimension), store, embedder)
    finally:
        store.close()


def test_versions_are_suffixed_collections_behind_aliases_switched_on_activation(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    qdrant: QdrantRestServer,
    client: QdrantClient,
) -> None:
    settings = make_settings(qdrant_url=qdrant.url, llm_provider="offline")
    semantic = collection_name(settings.user_prefix, MemoryType.SEMANTIC)
    build_unversioned(settings, embedder)  # a TwinSelf user's memory from before versions
    legacy_points = client.count(semantic, exact=True).count

    v1 = create_version(settings, embedder)
    assert v1.report is not None and v1.report.embedded_chunks == 0  # copied, not re-embedded
    assert client.count(f"{semantic}__{v1.version.id}", exact=True).count == legacy_points
    add_bees(data_dir)
    v2 = create_version(settings, embedder)
    assert v2.report is not None and 0 < v2.report.embedded_chunks < legacy_points  # hobbies.md

    names = collections(client)
    for memory in MemoryType:
        plain = collection_name(settings.user_prefix, memory)
        assert {f"{plain}__{v1.version.id}", f"{plain}__{v2.version.id}"} <= names
        assert plain not in names  # the pre-version collection became an alias
        assert aliases(client)[plain] == f"{plain}__{v2.version.id}"
    # A reader that knows nothing of versions reads the active one through the plain name.
    assert "beehives" in top_text(client, semantic, embedder)

    activate_version(settings, v1.version.id)  # rollback
    assert aliases(client)[semantic] == f"{semantic}__{v1.version.id}"
    assert "beehives" not in top_text(client, semantic, embedder)
    runtime = TwinRuntime.open(settings, embedder)
    try:
        assert runtime.data_version() == v1.version.id
        assert "beehives" not in runtime.twin().answer("Do you keep bees?").response
    finally:
        runtime.close()
    # v2 is untouched by the rollback and still answers when asked for by id.
    runtime = TwinRuntime.open(settings, embedder, version=v2.version.id)
    try:
        assert "beehives" in runtime.twin().answer("Do you keep bees?").response
    finally:
        runtime.close()


def test_doctor_notices_aliases_left_behind_and_activate_repairs_them(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    qdrant: QdrantRestServer,
    client: QdrantClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(qdrant_url=qdrant.url)
    v1 = create_version(settings, embedder).version.id
    add_bees(data_dir)
    v2 = create_version(settings, embedder).version.id
    semantic = collection_name(settings.user_prefix, MemoryType.SEMANTIC)
    # What a `publish` that failed half way (Qdrant went away) would leave: the registry says
    # v2, the alias still says v1.
    client.update_collection_aliases(
        change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=semantic)),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(
                    collection_name=f"{semantic}__{v1}", alias_name=semantic
                )
            ),
        ]
    )
    for name, value in {
        "TWINSELF_HOME": str(settings.home),
        "TWINSELF_DATA_DIR": str(data_dir),
        "QDRANT_URL": qdrant.url,
        "TWINSELF_LLM_PROVIDER": "offline",
        "EVAL_JUDGE": "none",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)

    broken = runner.invoke(app, ["doctor"])
    assert broken.exit_code == 1
    assert f"FAIL qdrant aliases: {semantic} do not point at the active version {v2}" in (
        broken.stdout
    )
    assert f"fix: Run `twinself versions activate {v2}`." in broken.stdout

    assert runner.invoke(app, ["versions", "activate", v2]).exit_code == 0
    repaired = runner.invoke(app, ["doctor"])
    assert f"ok   qdrant aliases: point at {v2}" in repaired.stdout, repaired.stdout
    assert repaired.exit_code == 0, repaired.stdout


def test_failed_builds_and_cleanup_drop_their_collections_never_the_active_ones(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    qdrant: QdrantRestServer,
    client: QdrantClient,
) -> None:
    settings = make_settings(qdrant_url=qdrant.url)
    registry = VersionRegistry(settings.home)
    v1 = create_version(settings, embedder).version.id
    add_bees(data_dir)
    v2 = create_version(settings, embedder).version.id
    # A build that died half way: registered as building, one collection half written.
    dead = "v9_20260101_000000"
    state = registry.load()
    state.versions.append(VersionInfo(dead, "2026-01-01T00:00:00", v2))
    registry.save(state)
    dead_store = build_vector_store(settings, registry.location(dead))
    dead_store.ensure_collection(collection_name(settings.user_prefix, MemoryType.SEMANTIC), 384)
    dead_store.close()
    assert any(name.endswith(dead) for name in collections(client))

    (data_dir / "semantic_data" / "hobbies.md").write_text("# Hobbies\n\nI sail.\n")
    v3 = create_version(settings, embedder).version.id
    assert registry.load().get(dead).status == "failed"
    assert not any(name.endswith(dead) for name in collections(client))

    removed = remove_old_versions(settings, keep=1)
    assert set(removed) == {v1, dead}  # v3 active and newest, v2 its parent
    left = collections(client)
    assert not any(name.endswith(v1) for name in left)
    assert any(name.endswith(v2) for name in left) and any(name.endswith(v3) for name in left)
    assert set(aliases(client).values()) == {
        f"{collection_name(settings.user_prefix, m)}__{v3}" for m in MemoryType
    }


def test_a_build_on_a_server_reads_the_active_version_while_a_reader_has_it_open(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    qdrant: QdrantRestServer,
) -> None:
    """What the embedded store's folder lock forbids: the reader and the builder share one
    store, so the new version is copied on the server, not from a folder."""
    settings = make_settings(qdrant_url=qdrant.url, llm_provider="offline")
    v1 = create_version(settings, embedder).version.id
    reader = TwinRuntime.open(settings, embedder)
    try:
        add_bees(data_dir)
        v2 = create_version(settings, embedder).version.id
        assert "beehives" not in reader.twin().answer("Do you keep bees?").response
        assert reader.data_version() == v1
    finally:
        reader.close()
    assert VersionRegistry(settings.home).load().active == v2
