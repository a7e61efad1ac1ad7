"""Immutable memory versions on the real embedded store and model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.factories import SettingsFactory
from tests.support.memory_data import add_bees
from tests.support.waiting import wait_until
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.errors import DataValidationError
from twinself.memory.manifest import load_manifest
from twinself.memory.version_builder import create_version
from twinself.memory.version_lifecycle import activate_version, diff_versions, remove_old_versions
from twinself.memory.versions import (
    BuildInProgress,
    RegistryCorrupt,
    VersionError,
    VersionRegistry,
)
from twinself.twin.factory import TwinRuntime


def test_a_new_version_embeds_only_what_changed_and_leaves_the_old_one_alone(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    first = create_version(settings, embedder)
    registry = VersionRegistry(settings.home)
    v1 = registry.location(first.version.id)
    v1_manifest = v1.manifest_path.read_bytes()
    add_bees(data_dir)

    second = create_version(settings, embedder)

    assert second.version.parent == first.version.id
    assert (
        second.report.embedded_chunks
        == load_manifest(registry.location(second.version.id).manifest_path)
        .files_of("semantic")["hobbies.md"]
        .chunks
    )  # type: ignore[union-attr, arg-type]
    assert v1.manifest_path.read_bytes() == v1_manifest  # the parent is never written
    state = registry.load()
    assert state.active == second.version.id
    assert [v.status for v in state.versions] == ["ready", "ready"]
    assert second.version.points["semantic"] == first.version.points["semantic"]
    assert (
        second.version.hashes["semantic"]["hobbies.md"]
        != (first.version.hashes["semantic"]["hobbies.md"])
    )
    diff = diff_versions(settings, first.version.id, second.version.id)
    assert diff["memories"]["semantic"]["changed"] == ["hobbies.md"]
    assert diff["memories"]["semantic"]["added"] == diff["memories"]["semantic"]["removed"] == []
    assert all(
        not any(m[k] for k in ("added", "removed", "changed"))
        for name, m in diff["memories"].items()
        if name != "semantic"
    )

    # Each version answers from its own facts.
    for version, knows_bees in ((second.version.id, True), (first.version.id, False)):
        activate_version(settings, version)
        runtime = TwinRuntime.open(settings, embedder)
        try:
            answer = runtime.twin().answer("Do you keep bees?")
            assert ("beehives" in answer.response) is knows_bees, answer.response
            assert runtime.data_version() == version
        finally:
            runtime.close()


def test_builds_are_one_at_a_time_and_bad_data_writes_nothing(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    registry = VersionRegistry(settings.home)
    with registry.build_lock(), pytest.raises(BuildInProgress, match="wait for it"):
        create_version(settings, embedder)

    (data_dir / "episodic_data" / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"broken\.json"):
        create_version(settings, embedder)
    assert registry.load().versions == []
    assert not any(p.is_dir() for p in registry.root.iterdir())


@pytest.mark.slow
def test_an_interrupted_build_is_reaped_and_cleanup_keeps_active_and_parent(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    registry = VersionRegistry(settings.home)
    ids = [create_version(settings, embedder).version.id]
    add_bees(data_dir)
    ids.append(create_version(settings, embedder).version.id)
    # A build that died half way: registered as building, folder half written.
    state = registry.load()
    from twinself.memory.versions import VersionInfo

    state.versions.append(VersionInfo("v9_20260101_000000", "2026-01-01T00:00:00", ids[-1]))
    registry.save(state)
    (registry.root / "v9_20260101_000000" / "qdrant").mkdir(parents=True)

    unchanged = create_version(settings, embedder)  # nothing changed: no empty version
    assert not unchanged.created and unchanged.version.id == ids[-1]
    ids.append(create_version(settings, embedder, force=True).version.id)

    state = registry.load()
    assert state.get("v9_20260101_000000").status == "failed"
    assert not (registry.root / "v9_20260101_000000").exists()
    assert state.active == ids[-1]

    activate_version(settings, ids[1])  # the active one is not the newest
    removed = remove_old_versions(settings, keep=1)
    kept = [v.id for v in registry.load().versions]
    assert set(kept) == {ids[1], ids[0], ids[2]} - set(removed)
    assert ids[1] in kept and ids[0] in kept  # active and its parent
    assert "v9_20260101_000000" in removed
    with pytest.raises(VersionError, match="No version"):
        activate_version(settings, "v9_20260101_000000")


def test_a_corrupt_or_missing_registry_is_explained_never_recreated(
    make_settings: SettingsFactory, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    version = create_version(settings, embedder).version.id
    registry = VersionRegistry(settings.home)
    registry.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RegistryCorrupt, match="never recreated"):
        create_version(settings, embedder)
    assert registry.path.read_text(encoding="utf-8") == "{not json"
    registry.path.unlink()
    with pytest.raises(RegistryCorrupt, match="holds version folders"):
        TwinRuntime.open(settings, embedder)
    assert (registry.root / version).is_dir()


@pytest.mark.slow
def test_kill_9_mid_build_keeps_the_active_version_and_the_next_build_succeeds(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    active = create_version(settings, embedder).version.id
    registry = VersionRegistry(settings.home)
    env = {**os.environ, "TWINSELF_HOME": str(settings.home), "TWINSELF_DATA_DIR": str(data_dir)}
    build = subprocess.Popen(
        [sys.executable, "-m", "twinself.cli", "rebuild", "--create-version", "--force"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(
        lambda: any(v.status == "building" for v in registry.load().versions),
        120,
        "the build to register its version",
    )
    build.send_signal(signal.SIGKILL)
    build.wait(30)

    state = registry.load()
    assert state.active == active
    assert [v.status for v in state.versions] == ["ready", "building"]
    runtime = TwinRuntime.open(settings, embedder)
    try:
        assert runtime.twin().answer("Where do you work?").response  # still answers
    finally:
        runtime.close()
    rebuilt = subprocess.run(
        [sys.executable, "-m", "twinself.cli", "rebuild", "--create-version", "--force", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    state = registry.load()
    assert [v.status for v in state.versions] == ["ready", "failed", "ready"]
    assert state.active == json.loads(rebuilt.stdout)["version"]


def test_a_version_keeps_its_system_prompt_and_data_only_rollback_keeps_todays(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    v1 = create_version(settings, embedder).version.id
    prompt = next((data_dir / "system_prompts").glob("*.md"))
    prompt.write_text(
        prompt.read_text(encoding="utf-8").replace("# Maya Lindqvist", "# Maya L.", 1),
        encoding="utf-8",
    )
    add_bees(data_dir)
    v2 = create_version(settings, embedder).version.id

    def persona_and_bees() -> tuple[str, bool]:
        runtime = TwinRuntime.open(settings, embedder)
        try:
            twin = runtime.twin()
            return twin.persona.name, "beehives" in twin.answer("Do you keep bees?").response
        finally:
            runtime.close()

    assert persona_and_bees() == ("Maya L.", True)
    activate_version(settings, v1, data_only=True)
    assert persona_and_bees() == ("Maya L.", False)  # v1's memory, today's prompt
    activate_version(settings, v1)
    assert persona_and_bees() == ("Maya Lindqvist", False)  # v1 whole
    activate_version(settings, v2)
    assert persona_and_bees() == ("Maya L.", True)


def test_a_system_prompt_edit_alone_makes_a_version_without_embedding(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings()
    create_version(settings, embedder)
    assert not create_version(settings, embedder).created  # nothing changed
    prompt = next((data_dir / "system_prompts").glob("*.md"))
    prompt.write_text("# Maya the Second\n\nYou are Maya.\n", encoding="utf-8")

    edited = create_version(settings, embedder)

    assert edited.created and edited.report is not None and edited.report.embedded_chunks == 0
    runtime = TwinRuntime.open(settings, embedder)
    try:
        assert runtime.twin().persona.name == "Maya the Second"
    finally:
        runtime.close()
