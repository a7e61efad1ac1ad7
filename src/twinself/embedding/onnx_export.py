"""`twinself export-onnx`: the sentence-transformers model's transformer exported once to ONNX,
from the weights already on this machine (nothing is fetched), and checked against torch.

Only the layout the runtime reproduces is exported: a Transformer module, then mean pooling
(a Normalize module may follow; the runtime always normalises). Anything else keeps running
on sentence-transformers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twinself.config.settings import Settings
from twinself.embedding.onnx_runtime import (
    DESCRIPTION_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    ExportDescription,
    OnnxEmbedder,
    export_folder,
    source_fingerprint,
    transformer_folder,
)
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.errors import MemoryUnavailable

# The export is refused when the ONNX vectors of these texts stray further from torch's.
MIN_COSINE = 0.9999
CHECK_TEXTS = (
    "Where do you work?",
    "  I grew up by the sea, and I still swim there every summer.  ",
    "What is your favourite book? " * 60,  # longer than max_seq_length: truncated alike
    "Ünïcødé, emoji 🙂 and CAPITALS",
    "",
)


def export_onnx(settings: Settings, model: SentenceTransformerEmbedder, location: Path) -> Path:
    """Export `model` (loaded from `location`) into `export_folder(settings)`; return it."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = transformer_folder(location)
    if not (source / TOKENIZER_FILE).is_file():
        raise MemoryUnavailable(f"cannot export: {source} has no {TOKENIZER_FILE}")
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    network = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    input_names = tuple(n for n in tokenizer.model_input_names if n in _INPUTS)
    config = json.loads((location / "sentence_bert_config.json").read_text())
    description = ExportDescription(
        model_name=settings.embedding_model,
        source_fingerprint=source_fingerprint(source),
        dimension=model.dimension,
        max_seq_length=int(config["max_seq_length"]),
        do_lower_case=bool(config.get("do_lower_case", False)),
        pad_token=str(tokenizer.pad_token),
        pad_token_id=int(tokenizer.pad_token_id),
        input_names=input_names,
    )
    target = export_folder(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    staging.chmod(0o755)
    try:
        sample = torch.ones(2, 8, dtype=torch.long)
        with warnings.catch_warnings():
            # The tracer's notes on shapes it fixes: the check below is what tells.
            warnings.simplefilter("ignore")
            _export(torch, network, input_names, sample, staging / MODEL_FILE)
        shutil.copyfile(source / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        description.write(staging)
        check_agreement(model, OnnxEmbedder(staging, description), CHECK_TEXTS)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert (target / DESCRIPTION_FILE).is_file()
    return target


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export(torch: Any, network: Any, input_names: Sequence[str], sample: Any, path: Path) -> None:
    torch.onnx.export(
        _last_hidden_state(network, input_names),
        tuple(sample for _ in input_names),
        str(path),
        input_names=list(input_names),
        output_names=["last_hidden_state"],
        dynamic_axes={
            name: {0: "batch", 1: "tokens"} for name in (*input_names, "last_hidden_state")
        },
        opset_version=17,
        dynamo=False,  # the TorchScript exporter: no onnxscript needed
    )


def _last_hidden_state(network: Any, input_names: Sequence[str]) -> Any:
    """The transformer with positional inputs and one output, as the exporter wants it."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            output = self.network(**dict(zip(input_names, inputs, strict=True)))
            hidden: torch.Tensor = output.last_hidden_state
            return hidden

    return LastHiddenState()


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(x * x for x in b)))


def check_agreement(
    reference: SentenceTransformerEmbedder, exported: OnnxEmbedder, texts: Sequence[str]
) -> float:
    """The lowest cosine between the two runtimes' vectors of `texts`; below MIN_COSINE the
    export is refused."""
    lowest = min(
        cosine(a, b)
        for a, b in zip(
            reference.embed_documents(list(texts)),
            exported.embed_documents(list(texts)),
            strict=True,
        )
    )
    if lowest < MIN_COSINE:
        raise MemoryUnavailable(
            f"the ONNX export's vectors differ from torch's (cosine {lowest:.6f} < "
            f"{MIN_COSINE}); keeping sentence-transformers"
        )
    return lowest
