from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private home and data copy with the offline provider, set for this process; the
    values are returned for subprocesses' environments."""
    values = {
        "TWINSELF_HOME": str(tmp_path / "home"),
        "TWINSELF_DATA_DIR": str(data_dir),
        "TWINSELF_LLM_PROVIDER": "offline",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
