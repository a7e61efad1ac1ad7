"""The embedding model on onnxruntime: the same weights as the sentence-transformers model,
exported once by `twinself export-onnx`, run without torch.

A process that loads it never imports torch, transformers or sentence-transformers: measured
on the API, about 660 MB of RSS with torch against about 300 MB without (benchmarks/footprint).
The vectors are the same to cosine >= 0.9999 (the export checks it, and a test does).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from twinself.config.settings import Settings
from twinself.embedding.cpu_threads import one_cpu_thread
from twinself.embedding.embedder import ProgressCallback, embed_in_batches
from twinself.errors import MemoryUnavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Under TWINSELF_HOME: one folder per embedding model.
EXPORT_DIRECTORY = "embedding-onnx"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# Written last by the export: a folder without it is an export that did not finish.
DESCRIPTION_FILE = "export.json"
# The source files whose hash the export records: other weights or tokens, another export.
SOURCE_FILES = ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json")
# The sentence-transformers layout the runtime reproduces (a Normalize module may follow).
_LAYOUT = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling")


class OnnxExportMissing(MemoryUnavailable):
    """No usable export for this model: the caller falls back to sentence-transformers."""


def export_folder(settings: Settings) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in settings.embedding_model)
    return settings.home / EXPORT_DIRECTORY / slug


def transformer_folder(model_folder: Path) -> Path:
    """The folder of the model's Transformer module (the model folder itself, usually)."""
    modules_file = model_folder / "modules.json"
    if not modules_file.is_file():
        raise MemoryUnavailable(f"{model_folder} holds no sentence-transformers modules.json")
    modules = json.loads(modules_file.read_text())
    kinds = tuple(m["type"] for m in modules)
    if kinds[:2] != _LAYOUT or kinds[2:] not in ((), ("sentence_transformers.models.Normalize",)):
        raise MemoryUnavailable(f"cannot export a model made of {', '.join(kinds)}")
    pooling = json.loads((model_folder / modules[1]["path"] / "config.json").read_text())
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True}
    if modes != {"pooling_mode_mean_tokens"}:
        raise MemoryUnavailable(f"cannot export pooling {sorted(modes)}: only mean pooling")
    return model_folder / str(modules[0]["path"])


def source_fingerprint(transformer_folder: Path) -> str:
    """A hash of the weights, config and tokenizer the export came from."""
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        path = transformer_folder / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


class JsonDescription:
    """A frozen dataclass kept as a JSON file beside an ONNX graph (tuples as lists)."""

    FILE: ClassVar[str]

    def write(self, folder: Path) -> None:
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}
        (folder / self.FILE).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Self:
        data = json.loads((folder / cls.FILE).read_text())
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def cpu_session(model_file: Path) -> Any:
    """An onnxruntime session as twinself's processes run one on a small shared box."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if one_cpu_thread():  # a long-running process that embeds a few sentences at a time
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # The arena keeps the largest batch's memory for good: +180 MB RSS after one
        # batch of 32 long texts, which freed memory gives back.
        options.enable_cpu_mem_arena = False
    # No busy-waiting threads: on a small box the API, the evaluator and MLflow share the
    # cores, and a spinning pool burns the time the others need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        str(model_file), options, providers=["CPUExecutionProvider"]
    )


def encoded_columns(encodings: Sequence[Any], input_names: Sequence[str]) -> dict[str, Any]:
    """The model's inputs from `tokenizers` encodings of one padded batch."""
    import numpy as np

    columns = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    return {name: columns[name] for name in input_names}


@dataclass(frozen=True)
class ExportDescription(JsonDescription):
    """What the runtime needs besides the graph, as the export found it in the model."""

    FILE: ClassVar[str] = DESCRIPTION_FILE

    model_name: str
    source_fingerprint: str
    dimension: int
    max_seq_length: int
    do_lower_case: bool
    pad_token: str
    pad_token_id: int
    input_names: tuple[str, ...]


class OnnxEmbedder:
    """Tokenizer (the model's own tokenizer.json, Rust `tokenizers`), the exported transformer,
    then what sentence-transformers does after it: mean pooling over the real tokens and L2
    normalisation, so cosine similarity is a dot product."""

    def __init__(self, folder: Path, description: ExportDescription, batch_size: int = 32):
        from tokenizers import Tokenizer

        self.model_name = description.model_name
        self.dimension = description.dimension
        self._description = description
        self._batch_size = batch_size
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        # The file's own truncation and fixed padding (128) are not what sentence-transformers
        # uses: its max_seq_length, and padding to the longest text of the batch.
        tokenizer.enable_truncation(max_length=description.max_seq_length)
        tokenizer.enable_padding(pad_id=description.pad_token_id, pad_token=description.pad_token)
        self._tokenizer = tokenizer
        self._session = cpu_session(folder / MODEL_FILE)

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        # sentence-transformers strips each text before tokenising it.
        prepared = [t.strip() for t in texts]
        if self._description.do_lower_case:
            prepared = [t.lower() for t in prepared]
        encodings = self._tokenizer.encode_batch(prepared)
        feed = encoded_columns(encodings, self._description.input_names)
        (hidden,) = self._session.run(["last_hidden_state"], feed)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)[:, :, None]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = pooled / np.clip(norms, 1e-12, None)
        return result

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        return embed_in_batches(texts, self._batch_size, self._encode, on_progress)

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._encode([text])[0]]


def open_onnx_embedder(settings: Settings, transformer_folder: Path) -> OnnxEmbedder:
    """The export of `settings.embedding_model`, if there is one made from the very files in
    `transformer_folder`; else OnnxExportMissing says why."""
    folder = export_folder(settings)
    if not (folder / DESCRIPTION_FILE).is_file():
        raise OnnxExportMissing(f"no ONNX export in {folder} (`twinself export-onnx` makes one)")
    try:
        description = ExportDescription.read(folder)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise OnnxExportMissing(f"the ONNX export in {folder} is unreadable: {exc}") from exc
    if description.source_fingerprint != source_fingerprint(transformer_folder):
        raise OnnxExportMissing(
            f"the ONNX export in {folder} was made from other files than {transformer_folder} "
            "holds now: run `twinself export-onnx` again"
        )
    try:
        return OnnxEmbedder(folder, description)
    except ImportError as exc:
        raise OnnxExportMissing(f"onnxruntime is not installed: {exc}") from exc
