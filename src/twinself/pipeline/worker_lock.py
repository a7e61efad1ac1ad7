"""One background worker per role and TWINSELF_HOME."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal

from twinself.errors import TwinselfError
from twinself.file_lock import exclusive_lock

WorkerRole = Literal["shipper", "evaluator"]


class WorkerAlreadyRunning(TwinselfError):
    """Another worker has the same role on the same TWINSELF_HOME."""


def single_worker_lock(home: Path, role: WorkerRole = "shipper") -> AbstractContextManager[None]:
    """Two shippers could both create a run for the same request, two evaluators could judge
    the same job: one process per role holds `worker.lock` / `evaluator.lock`."""
    name = "worker.lock" if role == "shipper" else f"{role}.lock"
    return exclusive_lock(
        home / name,
        lambda: WorkerAlreadyRunning(
            f"Another twinself {role} is already running on {home}; stop it first, or give "
            "this one another TWINSELF_HOME."
        ),
    )
