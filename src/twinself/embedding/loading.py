"""Which runtime runs the embedding model in this process: onnxruntime when `twinself
export-onnx` left an export of these very weights under TWINSELF_HOME, else
sentence-transformers on torch (the fallback, always there)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.embedding.sentence_transformer import build_embedder, resolve_model_location

logger = logging.getLogger(__name__)


def load_embedder(settings: Settings) -> Embedder:
    from twinself.embedding.onnx_runtime import OnnxExportMissing, export_folder

    if export_folder(settings).exists():
        try:
            return _onnx_embedder(settings)
        except OnnxExportMissing as why:
            # An export that exists but cannot serve: say so, it costs ~400 MB per process.
            logger.warning("Embedding with sentence-transformers (torch): %s", why)
    return build_embedder(settings)


def _onnx_embedder(settings: Settings) -> Embedder:
    from twinself.embedding.onnx_runtime import (
        OnnxExportMissing,
        open_onnx_embedder,
        transformer_folder,
    )
    from twinself.errors import MemoryUnavailable

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    location = Path(resolve_model_location(settings.embedding_model))
    try:
        return open_onnx_embedder(settings, transformer_folder(location))
    except OnnxExportMissing:
        raise
    except (MemoryUnavailable, OSError, ValueError) as exc:
        raise OnnxExportMissing(str(exc)) from exc
    except Exception as exc:  # onnxruntime's own errors (a damaged model file) have no base
        raise OnnxExportMissing(f"onnxruntime could not load the export: {exc}") from exc


def runtime_of(embedder: Embedder) -> str:
    """What runs the model, for `twinself doctor`: with the fix when it could be lighter."""
    from twinself.embedding.onnx_runtime import OnnxEmbedder

    if isinstance(embedder, OnnxEmbedder):
        return "on onnxruntime"
    return "on torch (`twinself export-onnx` runs it on onnxruntime, ~400 MB less)"
