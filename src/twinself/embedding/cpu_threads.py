"""How many CPU threads the embedding runtime (torch or onnxruntime) may use in this process."""

from __future__ import annotations

import sys

_one_thread = False


def use_one_cpu_thread() -> None:
    """One thread, for long-running processes that embed a few sentences at a time (the API
    server, the evaluation worker). Sharing two cores with each other and MLflow, torch's
    default of one spinning thread per core made each process burn the other's time: with
    it, 30 chat requests took 43 s and 30 s of API CPU under background load; with one
    thread, 10.5 s and 3 s. Bulk embedding (`twinself rebuild`) keeps every core.

    Call it before the model loads (an onnxruntime session takes its threads when it is
    created). It imports torch only when torch is already loaded: a process that runs the
    model on onnxruntime never pays torch's ~200 MB."""
    global _one_thread
    _one_thread = True
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(1)


def one_cpu_thread() -> bool:
    return _one_thread
