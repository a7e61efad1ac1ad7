"""The active version's store folder is gone: the server keeps running and answers a tracked
503 that names no server path, /health says so, `twinself doctor` says how to repair it, and
once the folder is back the server answers from it without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.support.factories import SettingsFactory
from tests.support.waiting import wait_until
from twinself.cli.app import app
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.memory.version_builder import create_version
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue
from twinself.server.app import create_app
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime

ASK = {"session_id": "s", "message": "Where do you work?"}


@pytest.mark.slow
def test_a_missing_version_folder_is_a_503_until_it_is_restored(
    make_settings: SettingsFactory,
    embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(llm_provider="offline", eval_judge="none", rate_limit="")
    version = create_version(settings, embedder).version.id
    folder = settings.home / "versions" / version
    aside = tmp_path / "aside"
    shutil.move(folder, aside)
    runtime = TwinRuntime.open(settings, embedder)

    def services(s: object) -> ServerServices:
        return build_services(settings, runtime=runtime)

    with TestClient(create_app(settings, services)) as client:
        refused = client.post("/chat", json=ASK)
        health = client.get("/health").json()
        assert not folder.exists(), "opening the version must not create an empty store"
        monkeypatch.setenv("TWINSELF_HOME", str(settings.home))
        monkeypatch.setenv("TWINSELF_DATA_DIR", str(settings.resolved_data_dir))
        doctor = CliRunner().invoke(app, ["doctor"])

        shutil.move(aside, folder)
        wait_until(lambda: client.get("/health").json()["memory"] == "ok", 15, "the restore")
        answered = client.post("/chat", json=ASK)

    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert version in refused.json()["detail"] and "doctor" in refused.json()["detail"]
    assert str(settings.home) not in refused.text
    assert (health["status"], health["memory"]) == ("unavailable", "missing")
    assert doctor.exit_code == 1
    assert f"the active version {version} has no store" in doctor.stdout
    assert "twinself versions rollback" in doctor.stdout
    assert answered.status_code == 200 and "Solvik" in answered.json()["response"]
    outbox = Outbox(settings.home / "outbox.sqlite3")
    statuses = {p.record.request_id: p.record.http_status for p in RequestQueue(outbox).due(10)}
    outbox.close()
    assert statuses[refused.json()["request_id"]] == 503
