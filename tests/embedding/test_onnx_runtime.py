"""The embedding model on onnxruntime: exported once from the shipped MiniLM weights, the same
vectors as sentence-transformers on torch, and torch again whenever the export cannot serve."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from twinself.config.settings import Settings, sample_data_dir
from twinself.embedding.loading import load_embedder
from twinself.embedding.onnx_export import MIN_COSINE, cosine, export_onnx
from twinself.embedding.onnx_runtime import (
    DESCRIPTION_FILE,
    MODEL_FILE,
    OnnxEmbedder,
    export_folder,
    open_onnx_embedder,
    transformer_folder,
)
from twinself.embedding.sentence_transformer import (
    SentenceTransformerEmbedder,
    resolve_model_location,
)


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Settings:
    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("home"))  # type: ignore[call-arg]
    location = Path(resolve_model_location(settings.embedding_model))
    export_onnx(settings, embedder, location)
    return settings


def persona_texts() -> list[str]:
    """Every paragraph of the sample persona, and texts that test the edges."""
    paragraphs = [
        p
        for f in sorted(sample_data_dir().rglob("*.md"))
        for p in f.read_text(encoding="utf-8").split("\n\n")
    ]
    edges = [
        "",
        "   leading and trailing blanks   ",
        "MIXED Case, ünïcødé and an emoji 🙂",
        " ".join(["a long text past the model's 256 tokens"] * 80),
    ]
    return paragraphs[:40] + edges  # enough to cover the lengths; each costs torch time


def test_onnx_and_torch_vectors_agree(
    exported: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    onnx = load_embedder(exported)
    assert isinstance(onnx, OnnxEmbedder)
    assert (onnx.model_name, onnx.dimension) == (embedder.model_name, embedder.dimension)
    texts = persona_texts()
    assert len(texts) == 44
    pairs = zip(onnx.embed_documents(texts), embedder.embed_documents(texts), strict=True)
    lowest = min(cosine(a, b) for a, b in pairs)
    assert lowest >= MIN_COSINE
    query = "What do you do in your free time?"
    assert cosine(onnx.embed_query(query), embedder.embed_query(query)) >= MIN_COSINE
    assert abs(sum(x * x for x in onnx.embed_query(query)) - 1.0) < 1e-5  # normalised


def test_without_an_export_torch_runs_the_model(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path / "home")  # type: ignore[call-arg]
    assert not export_folder(settings).exists()
    assert isinstance(load_embedder(settings), SentenceTransformerEmbedder)


@pytest.mark.parametrize("damage", ["other weights", "damaged model file", "unfinished"])
def test_an_export_that_cannot_serve_falls_back_to_torch_and_says_why(
    exported: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    settings = exported.model_copy(update={"home": tmp_path / "home"})
    copy = export_folder(settings)
    copy.parent.mkdir(parents=True)
    source = export_folder(exported)
    copy.mkdir()
    for item in source.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    if damage == "other weights":
        description = json.loads((copy / DESCRIPTION_FILE).read_text())
        description["source_fingerprint"] = "0" * 64
        (copy / DESCRIPTION_FILE).write_text(json.dumps(description))
    elif damage == "damaged model file":
        (copy / MODEL_FILE).write_bytes(b"not an onnx graph")
    else:
        (copy / DESCRIPTION_FILE).unlink()
    with caplog.at_level(logging.WARNING, logger="twinself.embedding.loading"):
        embedder = load_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert "sentence-transformers (torch)" in caplog.text


def test_the_export_is_refused_for_a_model_the_runtime_would_not_reproduce(
    tmp_path: Path,
) -> None:
    from twinself.errors import MemoryUnavailable

    model = tmp_path / "cls-pooled"
    (model / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (model / "modules.json").write_text(json.dumps(modules))
    (model / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(MemoryUnavailable, match="only mean pooling"):
        transformer_folder(model)


def test_an_up_to_date_export_opens_and_embeds_alike(exported: Settings) -> None:
    location = Path(resolve_model_location(exported.embedding_model))
    opened = open_onnx_embedder(exported, transformer_folder(location))
    assert opened.embed_query("hello") == pytest.approx(
        OnnxEmbedder(export_folder(exported), opened._description).embed_query("hello")
    )
