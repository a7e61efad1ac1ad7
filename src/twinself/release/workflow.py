"""Release a new memory version: validate the data, build the version beside the active one,
run the evaluation gate on it when asked, then activate it, or keep it with its verdict when it
fails the gate.

The CLI (`twinself rebuild`) calls `release_new_version` and only renders the result; whoever
calls it decides how slow steps are shown (`ReleaseDisplay`) and where the gate logs its run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.errors import TwinselfError
from twinself.evaluation.gate import GateResult, GateThresholds, SummaryRunLogger, run_gate
from twinself.evaluation.question_set import SetQuestion, load_question_set
from twinself.memory.builder import (
    ProgressReporter,
    RebuildPlan,
    RebuildReport,
    build_memory_builder,
)
from twinself.memory.version_builder import create_version
from twinself.memory.version_lifecycle import activate_version, record_gate_verdict
from twinself.memory.versions import VersionInfo, VersionRegistry


@dataclass(frozen=True)
class GateRequest:
    """The question set a new version must pass before it is activated."""

    question_file: Path
    thresholds: GateThresholds
    # Called only once a version is built and gated, so MLflow loads only then.
    run_logger: Callable[[], SummaryRunLogger]


class ReleaseDisplay(Protocol):
    """How the slow steps are shown (the CLI: a progress bar, then a spinner)."""

    def building(self) -> AbstractContextManager[ProgressReporter | None]: ...

    def gating(self, questions: int) -> AbstractContextManager[object]: ...


class QuietDisplay:
    """Shows nothing: for callers without a terminal."""

    @contextmanager
    def building(self) -> Iterator[ProgressReporter | None]:
        yield None

    @contextmanager
    def gating(self, questions: int) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class ReleaseResult:
    version: VersionInfo  # the new version, or the active one when nothing changed
    plan: RebuildPlan
    report: RebuildReport | None  # None: nothing changed, no version was built
    verdict: GateResult | None  # None: no gate was asked for, or nothing was built
    activated: bool

    @property
    def created(self) -> bool:
        return self.report is not None


class GateFailed(TwinselfError):
    """A new version did not pass the evaluation gate; it is kept, not activated."""

    def __init__(self, result: ReleaseResult) -> None:
        self.result = result
        version, verdict = result.version, result.verdict
        failures = "; ".join(verdict.failures) if verdict else ""
        run_id = verdict.run_id if verdict else None
        super().__init__(
            f"Version {version.id} failed the gate ({failures}) and was not activated; "
            f"{version.parent or 'the previous memory'} stays active. Results: MLflow run "
            f"{run_id}. `twinself versions activate {version.id}` uses it anyway."
        )


def release_new_version(
    settings: Settings,
    load_embedder: Callable[[], Embedder],
    *,
    force: bool = False,
    gate: GateRequest | None = None,
    display: ReleaseDisplay | None = None,
) -> ReleaseResult:
    """Validate, build, gate (when `gate`), activate. Raises `GateFailed`, which carries the
    result, when the new version fails the gate.

    The data and the question set are checked before `load_embedder` (the slow model load).
    """
    shown = display or QuietDisplay()
    build_memory_builder(settings).validate()
    questions = load_question_set(gate.question_file) if gate is not None else None
    embedder = load_embedder()
    with shown.building() as progress:
        build = create_version(
            settings, embedder, force=force, progress=progress, activate=gate is None
        )
    if gate is None or questions is None or not build.created:
        return ReleaseResult(build.version, build.plan, build.report, None, build.activated)
    with shown.gating(len(questions)):
        verdict = _run_gate(settings, embedder, build.version, gate, questions)
    version = record_gate_verdict(settings, build.version.id, verdict.summary())
    if not verdict.passed:
        raise GateFailed(ReleaseResult(version, build.plan, build.report, verdict, False))
    activate_version(settings, version.id)
    return ReleaseResult(version, build.plan, build.report, verdict, True)


def _run_gate(
    settings: Settings,
    embedder: Embedder,
    version: VersionInfo,
    gate: GateRequest,
    questions: list[SetQuestion],
) -> GateResult:
    """The question set on the new version, compared with its parent (active when it was
    built); both are logged to one run."""
    registry = VersionRegistry(settings.home)
    return run_gate(
        settings,
        embedder,
        registry.location(version.id),
        registry.location(version.parent) if version.parent else None,
        questions,
        gate.thresholds,
        gate.question_file,
        gate.run_logger(),
    )
