"""Shared fixtures: a private TWINSELF_HOME and data copy per test, one embedding model per run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import SettingsFactory
from tests.support.memory_data import build_runtime
from twinself.config.settings import Settings, sample_data_dir
from twinself.embedding.pair_scorer import PairScorer
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder, build_embedder
from twinself.llm.answer_match import ANSWER_MATCH
from twinself.memory.store import QdrantVectorStore, build_vector_store
from twinself.twin.factory import TwinRuntime


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or exported variable leaks into a test."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "TWINSELF_HOME",
        "TWINSELF_DATA_DIR",
        "GOOGLE_API_KEY",
        "QDRANT_URL",
        "EMBEDDING_MODEL",
        "TWINSELF_LLM_PROVIDER",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "GEMINI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private copy of the sample persona, safe to edit."""
    target = tmp_path / "data"
    shutil.copytree(sample_data_dir(), target)
    return target


@pytest.fixture
def make_settings(tmp_path: Path, data_dir: Path) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"home": tmp_path / "home", "data_dir": data_dir}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return build_embedder(Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def trained_scorers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every registered pair scorer, trained once per run with its real recipe as `twinself
    export-onnx` trains it: the folder to copy into a home (`pair-scorers/`)."""
    from twinself.cli.scorer_training import RECIPES, train
    from twinself.embedding.onnx_runtime import transformer_folder
    from twinself.embedding.pair_scorer import SCORER_DIRECTORY
    from twinself.embedding.sentence_transformer import resolve_model_location

    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("scorers"))  # type: ignore[call-arg]
    source = transformer_folder(Path(resolve_model_location(settings.embedding_model)))
    for recipe in RECIPES:
        train(settings, recipe, source)
    folder = settings.home / SCORER_DIRECTORY
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def store(make_settings: SettingsFactory) -> Iterator[QdrantVectorStore]:
    opened = build_vector_store(make_settings())
    yield opened
    opened.close()


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
    runtime = build_runtime(settings, embedder)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def sqlite_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store for the session (its migrations take seconds); tests use their own
    experiment or look their runs up by id."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow_sqlite') / 'mlflow.db'}"


@pytest.fixture(scope="session")
def answer_match_scorer(trained_scorers: Path) -> PairScorer:
    """The real answer-match scorer (llm/answer_match.py), as `twinself export-onnx` trains it."""
    return PairScorer(trained_scorers / ANSWER_MATCH)
