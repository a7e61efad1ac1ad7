"""How long the `twinself` command takes to start, side by side with bare Python, in one run.

Each command runs in a fresh process, the runs interleaved; the median of RUNS is printed.
`versions list` runs on an empty TWINSELF_HOME and on one with a registry of 5 versions.
Target: `twinself --help` and `twinself versions list` well under 1.5 s (were ~5 s when every
command module imported Qdrant and MLflow at start-up).

    .venv/bin/python benchmarks/cli_startup.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twinself.memory.versions import Registry, VersionInfo, VersionRegistry

RUNS = 5


def registry_with_versions(home: Path, count: int) -> None:
    versions = [
        VersionInfo(
            id=f"v{n}_20261127_12000{n}",
            created_at=f"2026-11-27T12:00:0{n}",
            parent=f"v{n - 1}_20261127_12000{n - 1}" if n > 1 else None,
            status="ready",
            points={"semantic": 64, "episodic": 29, "procedural": 10},
            changes={"semantic": {"modified": ["hobbies.md"]}},
        )
        for n in range(1, count + 1)
    ]
    VersionRegistry(home).save(Registry(active=versions[-1].id, versions=versions))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    work = Path(tempfile.mkdtemp(prefix="twinself-startup-bench-"))
    empty, versioned = work / "empty", work / "versioned"
    registry_with_versions(versioned, 5)
    twinself = str(Path(sys.executable).with_name("twinself"))
    env = {k: v for k, v in os.environ.items() if k != "TWINSELF_DATA_DIR"}
    commands: dict[str, tuple[list[str], Path]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], empty),
        "python -c 'import twinself.cli.app'": (
            [sys.executable, "-c", "import twinself.cli.app"],
            empty,
        ),
        "twinself --help": ([twinself, "--help"], empty),
        "twinself versions list (no versions)": ([twinself, "versions", "list"], empty),
        "twinself versions list (5 versions)": ([twinself, "versions", "list"], versioned),
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, home) in commands.items():
            started = time.perf_counter()
            subprocess.run(
                command,
                env={**env, "TWINSELF_HOME": str(home)},
                cwd=work,  # no developer .env
                stdout=subprocess.DEVNULL,
                check=True,
            )
            seconds[name].append(time.perf_counter() - started)
    shutil.rmtree(work, ignore_errors=True)

    baseline = statistics.median(seconds["python -c pass"])
    print(f"start-up, median of {runs} fresh processes:")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"  {name:<40} {median:6.3f} s  ({median / baseline:5.1f}x python -c pass)")


if __name__ == "__main__":
    main()
