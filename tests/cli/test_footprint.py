"""What keeps `twinself serve`'s processes small (benchmarks/footprint.py measures them): only
the processes that embed load the embedding model, and the shipper, or the worker that ships
and asks an LLM judge, never loads torch. Structural checks on real processes, not sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.records import make_records
from twinself.cli import serve_command
from twinself.config.settings import Settings
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue

# The embedding model's runtimes: ~200 MB (torch, with sentence-transformers ~450 MB) and
# ~100 MB with the model (onnxruntime).
MODEL_RUNTIMES = ["torch", "transformers", "sentence_transformers", "onnxruntime", "tokenizers"]


def imported(profile: str) -> set[str]:
    """The top-level packages named in `-X importtime` output."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in profile.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def run_worker(home: Path, *args: str, **env: str) -> tuple[str, set[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "twinself.cli", "worker", "--once", *args],
        env={**os.environ, "TWINSELF_HOME": str(home), "PYTHONPROFILEIMPORTTIME": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    modules = imported(result.stderr)
    assert "mlflow" in modules  # the profile was read, and the worker did its work
    return result.stdout, modules


def test_the_shipper_process_never_loads_the_embedding_model(tmp_path: Path) -> None:
    home = tmp_path / "home"
    outbox = Outbox(home / "outbox.sqlite3")
    for record in make_records(2):
        RequestQueue(outbox).append(record)
    outbox.close()
    output, modules = run_worker(home, "--no-evaluator")
    assert "Shipped 2 request(s)" in output
    assert sorted(modules & set(MODEL_RUNTIMES)) == []


def test_a_worker_with_an_llm_judge_never_loads_the_embedding_model(tmp_path: Path) -> None:
    output, modules = run_worker(
        tmp_path / "home", EVAL_JUDGE="gemini", GOOGLE_API_KEY_4DEEPEVAL="not-a-real-key"
    )
    assert "Evaluated 0 answer(s) with gemini" in output
    assert "deepeval" in modules  # the judge was built
    assert sorted(modules & set(MODEL_RUNTIMES)) == []


@pytest.mark.parametrize(
    ("judge", "names"),
    [
        ("local", ["shipper", "evaluator"]),
        ("gemini", ["shipper+evaluator"]),
        ("openai", ["shipper+evaluator"]),
        ("none", ["shipper"]),
    ],
)
def test_an_llm_judge_shares_the_shipper_s_process(
    tmp_path: Path, judge: str, names: list[str]
) -> None:
    settings = Settings(_env_file=None, home=tmp_path, eval_judge=judge)  # type: ignore[call-arg]
    commands = dict(serve_command.worker_commands(settings))
    assert list(commands) == names
    flags = {name: [a for a in command if a.startswith("--")] for name, command in commands.items()}
    expected = {"shipper": ["--no-evaluator"], "evaluator": ["--no-shipper"]}
    assert flags == {name: expected.get(name, []) for name in names}
