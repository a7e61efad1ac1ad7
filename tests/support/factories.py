"""The types of the factory fixtures, for tests' annotations (the fixtures are in conftest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only names for annotations: importing this loads neither FastAPI nor MLflow
    from fastapi.testclient import TestClient

    from twinself.config.settings import Settings
    from twinself.pipeline.mlflow_sink import MlflowRunSink

SettingsFactory = Callable[..., "Settings"]  # make_settings, tests/conftest.py
ClientFactory = Callable[..., "TestClient"]  # make_client, tests/server/conftest.py
SinkFactory = Callable[..., "MlflowRunSink"]  # make_sink, tests/pipeline/conftest.py
