"""`python -m twinself.mlflow_server.one_process server ARGS`: `mlflow server ARGS` as one
process instead of two.

`mlflow server` checks its arguments, migrates the store, then starts uvicorn as a child and
waits for it: the waiting parent keeps everything it imported, about 250 MB of RSS doing
nothing. Here MLflow's own command runs unchanged, but its last step replaces this process
with that uvicorn command (exec) instead of spawning it: same arguments, same environment,
same checks before, one process after. The kernel's death signal `serve` sets survives exec.

The trade-off: it swaps `mlflow.server._exec_cmd`, a private name. If an MLflow release
renames it, nothing breaks: the patch is skipped and the server runs as two processes again
(tests/cli/test_footprint.py notices). MLflow's background job runner, started after the
spawn, cannot run here; `serve` turns it off anyway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def _exec_instead(
    command: Sequence[str], *, extra_env: Mapping[str, str] | None = None, **_: Any
) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], list(command), {**os.environ, **(extra_env or {})})


def main() -> None:
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    import mlflow.server
    from mlflow.cli import cli

    if hasattr(mlflow.server, "_exec_cmd"):
        mlflow.server._exec_cmd = _exec_instead
    cli(prog_name="mlflow")


if __name__ == "__main__":
    main()
