from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import ClientFactory
from twinself.config.settings import Settings
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue
from twinself.server.app import create_app
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime


@pytest.fixture
def server_settings(built_runtime: TwinRuntime, tmp_path: Path) -> Settings:
    """The sample memory built once per run; a private home for the outbox of each test."""
    return built_runtime.settings.model_copy(update={"home": tmp_path / "server_home"})


@pytest.fixture
def make_client(built_runtime: TwinRuntime, server_settings: Settings) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = server_settings.model_copy(update=overrides)

        def services(s: Settings) -> ServerServices:
            return build_services(s, runtime=built_runtime)

        client = TestClient(create_app(settings, services), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


@pytest.fixture
def outbox(server_settings: Settings) -> Iterator[Outbox]:
    """The server's outbox, opened beside it (a second connection, as another process would)."""
    box = Outbox(server_settings.home / "outbox.sqlite3")
    yield box
    box.close()


@pytest.fixture
def request_queue(outbox: Outbox) -> RequestQueue:
    return RequestQueue(outbox)


@pytest.fixture
def feedback_queue(outbox: Outbox) -> FeedbackQueue:
    return FeedbackQueue(outbox)


@pytest.fixture
def evaluation_queue(outbox: Outbox) -> EvaluationQueue:
    return EvaluationQueue(outbox)
