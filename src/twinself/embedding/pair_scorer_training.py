"""Training a pair scorer (embedding/pair_scorer.py): the embedding model's transformer, already
on this machine, with a one-logit head, fine-tuned on labelled text pairs and exported to ONNX.

Torch is imported here only, at training time (`twinself export-onnx`); the processes that
score pairs load the export on onnxruntime. Training is seeded, so the same package, weights
and torch build give the same scorer.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from twinself.embedding.onnx_runtime import TOKENIZER_FILE as SOURCE_TOKENIZER_FILE
from twinself.embedding.onnx_runtime import source_fingerprint
from twinself.embedding.pair_scorer import (
    MODEL_FILE,
    TOKENIZER_FILE,
    PairScorer,
    ScorerDescription,
)
from twinself.errors import MemoryUnavailable

# The export is refused when onnxruntime's logits stray further than this from torch's.
MAX_LOGIT_GAP = 1e-3
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class TrainingPair:
    first: str
    second: str
    label: float  # 1.0: a match; 0.0: not


@dataclass(frozen=True)
class TrainingPlan:
    """How a scorer is trained; part of its fingerprint."""

    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 3e-5
    max_length: int = 256
    seed: int = 0
    held_back_share: float = 0.1  # scored after training, reported, never trained on


def training_fingerprint(source: Path, pairs: Sequence[TrainingPair], plan: TrainingPlan) -> str:
    digest = hashlib.sha256(source_fingerprint(source).encode())
    digest.update(json.dumps(plan.__dict__, sort_keys=True).encode())
    for pair in pairs:
        digest.update(json.dumps([pair.first, pair.second, pair.label]).encode())
    return digest.hexdigest()


def train_pair_scorer(
    name: str,
    source: Path,
    pairs: Sequence[TrainingPair],
    target: Path,
    plan: TrainingPlan = TrainingPlan(),
    on_progress: Callable[[int, int], None] | None = None,
) -> ScorerDescription:
    """Fine-tune the transformer in `source` on `pairs`, export it into `target` (replaced
    whole, once the export checks out); `on_progress(done, total)` counts training steps."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # "Newly initialised: classifier" is the point of training, not news.
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    if not (source / SOURCE_TOKENIZER_FILE).is_file():
        raise MemoryUnavailable(f"cannot train on {source}: it has no {SOURCE_TOKENIZER_FILE}")
    shuffled = list(pairs)
    random.Random(plan.seed).shuffle(shuffled)
    held = max(1, int(len(shuffled) * plan.held_back_share))
    held_back, training = shuffled[:held], shuffled[held:]
    torch.manual_seed(plan.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    network = AutoModelForSequenceClassification.from_pretrained(
        str(source), num_labels=1, attn_implementation="eager"
    )
    _train(torch, network, tokenizer, training, plan, on_progress)
    network.eval()
    input_names = tuple(n for n in tokenizer.model_input_names if n in _INPUTS)
    description = ScorerDescription(
        name=name,
        fingerprint=training_fingerprint(source, pairs, plan),
        max_length=plan.max_length,
        pad_token=str(tokenizer.pad_token),
        pad_token_id=int(tokenizer.pad_token_id),
        input_names=input_names,
        training_pairs=len(training),
        held_back_accuracy=0.0,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".train-", dir=target.parent))
    staging.chmod(0o755)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes; the check tells
            _export(torch, network, input_names, staging / MODEL_FILE)
        shutil.copyfile(source / SOURCE_TOKENIZER_FILE, staging / TOKENIZER_FILE)
        description.write(staging)
        exported = PairScorer(staging)
        _check_agreement(torch, network, tokenizer, exported, held_back[:16], plan)
        right = sum(
            (score >= 0.5) == (pair.label >= 0.5)
            for pair, score in zip(
                held_back, exported.scores([(p.first, p.second) for p in held_back]), strict=True
            )
        )
        description = replace(description, held_back_accuracy=round(right / len(held_back), 4))
        description.write(staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return description


def _train(
    torch: Any,
    network: Any,
    tokenizer: Any,
    pairs: Sequence[TrainingPair],
    plan: TrainingPlan,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    order = random.Random(plan.seed + 1)
    batches_per_epoch = (len(pairs) + plan.batch_size - 1) // plan.batch_size
    total = batches_per_epoch * plan.epochs
    optimiser = torch.optim.AdamW(network.parameters(), lr=plan.learning_rate)
    # Linear warm-up over the first tenth, then linear decay: the usual fine-tuning schedule.
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
    )
    network.train()
    done = 0
    for _ in range(plan.epochs):
        epoch = list(pairs)
        order.shuffle(epoch)
        for start in range(0, len(epoch), plan.batch_size):
            batch = epoch[start : start + plan.batch_size]
            inputs = _tokenized(tokenizer, [(p.first, p.second) for p in batch], plan)
            labels = torch.tensor([p.label for p in batch], dtype=torch.float32)
            logits = network(**inputs).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            done += 1
            if on_progress is not None:
                on_progress(done, total)


def _tokenized(tokenizer: Any, pairs: Sequence[tuple[str, str]], plan: TrainingPlan) -> Any:
    """A padded batch of pairs as torch tensors, truncated as the runtime truncates them."""
    return tokenizer(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        truncation="longest_first",
        max_length=plan.max_length,
        padding=True,
        return_tensors="pt",
    )


def _export(torch: Any, network: Any, input_names: Sequence[str], path: Path) -> None:
    class Logits(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: Any) -> Any:
            return self.network(**dict(zip(input_names, inputs, strict=True))).logits

    # Some padding in the sample: traced on an all-ones mask, the graph can lose its masking.
    sample = {
        "input_ids": torch.ones(2, 8, dtype=torch.long),
        "attention_mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
        "token_type_ids": torch.tensor([[0] * 4 + [1] * 4, [0] * 3 + [1] * 2 + [0] * 3]),
    }
    # The exporter puts a module back in the mode it found it in: a new wrapper is in
    # training mode, which would leave dropout on in `network` after the export.
    torch.onnx.export(
        Logits().eval(),
        tuple(sample[name] for name in input_names),
        str(path),
        input_names=list(input_names),
        output_names=["logits"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in input_names}
        | {"logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter: no onnxscript needed
    )


def _check_agreement(
    torch: Any,
    network: Any,
    tokenizer: Any,
    exported: PairScorer,
    pairs: Sequence[TrainingPair],
    plan: TrainingPlan,
) -> None:
    texts = [(p.first.strip(), p.second.strip()) for p in pairs]
    with torch.no_grad():
        inputs = _tokenized(tokenizer, texts, plan)
        reference = network(**inputs).logits.reshape(-1).tolist()
    gap = max(abs(a - b) for a, b in zip(reference, exported.logits(texts), strict=True))
    if gap > MAX_LOGIT_GAP:
        raise MemoryUnavailable(
            f"the ONNX export's logits differ from torch's by {gap:.5f}; scorer not installed"
        )
