"""The evaluation gate: a new memory version is activated only if its answers pass.

The question set runs on the candidate version (and, for comparison, on the active one when
its store can be opened: a running server holds the embedded store's lock). Both sets of
aggregates go to one MLflow run in the evaluation-sets experiment.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.errors import MemoryUnavailable
from twinself.evaluation.judges import build_judge
from twinself.evaluation.question_set import QuestionSetReport, SetQuestion, run_question_set
from twinself.memory.store import build_vector_store
from twinself.memory.version_storage import build_version_storage
from twinself.memory.versions import MemoryLocation
from twinself.twin.factory import TwinRuntime


class SummaryRunLogger(Protocol):
    """Where the comparison is logged (the pipeline's MLflow sink)."""

    def log_summary_run(
        self,
        run_name: str,
        params: dict[str, str],
        metrics: dict[str, float],
        artifacts: dict[str, str],
    ) -> str: ...


@dataclass(frozen=True)
class GateThresholds:
    min_faithfulness: float | None = None
    min_relevancy: float | None = None
    min_fact_recall: float | None = None

    def failures(self, aggregates: dict[str, float]) -> list[str]:
        checks = (
            ("faithfulness_mean", self.min_faithfulness),
            ("answer_relevancy_mean", self.min_relevancy),
            ("fact_recall", self.min_fact_recall),
        )
        failed = []
        for name, minimum in checks:
            if minimum is None:
                continue
            value = aggregates.get(name)
            if value is None or value < minimum:
                shown = "missing (no expected_facts)" if value is None else f"{value:.3f}"
                failed.append(f"{name} {shown} < {minimum}")
        return failed


@dataclass
class GateResult:
    candidate: QuestionSetReport
    active: QuestionSetReport | None
    failures: list[str] = field(default_factory=list)
    run_id: str | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "failures": self.failures,
            "candidate": self.candidate.aggregates(),
            "active": self.active.aggregates() if self.active else None,
            "run_id": self.run_id,
            "note": self.note,
        }


def _report(
    settings: Settings,
    embedder: Embedder,
    location: MemoryLocation,
    questions: list[SetQuestion],
) -> QuestionSetReport:
    store = build_vector_store(settings, location)
    runtime = TwinRuntime(settings, store, embedder, location)
    try:
        judge = build_judge(settings, lambda: embedder)
        return asyncio.run(
            run_question_set(runtime.twin(), judge, questions, runtime.data_version())
        )
    finally:
        runtime.close()


def run_gate(
    settings: Settings,
    embedder: Embedder,
    candidate: MemoryLocation,
    active: MemoryLocation | None,
    questions: list[SetQuestion],
    thresholds: GateThresholds,
    question_file: Path,
    sink: SummaryRunLogger,
) -> GateResult:
    result = GateResult(_report(settings, embedder, candidate, questions), None)
    if active is not None and build_version_storage(settings).exists(active):
        try:
            result.active = _report(settings, embedder, active, questions)
        except MemoryUnavailable:
            result.note = f"the active version {active.version} is in use (a server?): not compared"
    result.failures = thresholds.failures(result.candidate.aggregates())
    metrics = {f"candidate_{k}": v for k, v in result.candidate.aggregates().items()}
    if result.active is not None:
        metrics |= {f"active_{k}": v for k, v in result.active.aggregates().items()}
    metrics["gate_passed"] = float(result.passed)
    result.run_id = sink.log_summary_run(
        f"gate {candidate.version}",
        {
            "question_set": question_file.name,
            "data_version": candidate.version or "",
            "compared_with": (active.version or "unversioned") if result.active and active else "",
            "judge": result.candidate.judge,
            "min_faithfulness": str(thresholds.min_faithfulness),
            "min_relevancy": str(thresholds.min_relevancy),
            "min_fact_recall": str(thresholds.min_fact_recall),
        },
        metrics,
        {
            "gate_results.json": json.dumps(
                {
                    "summary": result.summary(),
                    "candidate": result.candidate.to_json(),
                    "active": result.active.to_json() if result.active else None,
                },
                indent=2,
            )
        },
    )
    return result
