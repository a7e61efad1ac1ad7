"""Only the documented names set a setting; generic variables another program exported never do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices, SecretStr, ValidationError

from twinself.cli.doctor_command import state_left_in
from twinself.config.loading import secret_values
from twinself.config.settings import Settings
from twinself.redaction import redact

DUMP = (
    "import json; from twinself.config.settings import Settings; "
    "print(json.dumps(Settings(_env_file=None).model_dump(mode='json')))"
)


def settings_in_subprocess(env: dict[str, str], cwd: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", DUMP], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def documented_names() -> list[str]:
    names: list[str] = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names += [c for c in choices if isinstance(c, str)]
    return names


def test_every_setting_has_a_documented_name() -> None:
    # A field without one would be read from the environment under its bare field name.
    assert [name for name, f in Settings.model_fields.items() if f.validation_alias is None] == []


def test_generic_variables_change_nothing(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWINSELF_", "MLFLOW_"))}
    base["HOME"] = str(tmp_path / "user")
    clean = settings_in_subprocess(base, tmp_path)
    assert clean["home"] == str(tmp_path / "user" / ".twinself")
    # Every field name that is not itself a documented name (names are case-insensitive).
    documented = {alias.upper() for alias in documented_names()}
    noisy = dict(base)
    for name in Settings.model_fields:
        if name.upper() not in documented:
            noisy[name] = noisy[name.upper()] = "9"
    noisy |= {"HOST": "0.0.0.0", "PORT": "9999", "DATA_DIR": str(tmp_path), "HOME": base["HOME"]}
    assert settings_in_subprocess(noisy, tmp_path) == clean


def test_documented_names_and_field_keywords_both_work(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSELF_")}
    env |= {"TWINSELF_HOME": str(tmp_path / "h"), "TWINSELF_PORT": "8123", "USER_PREFIX": "alice"}
    loaded = settings_in_subprocess(env, tmp_path)
    assert (loaded["home"], loaded["port"], loaded["user_prefix"]) == (
        str(tmp_path / "h"),
        8123,
        "alice",
    )
    built = Settings(_env_file=None, home=tmp_path / "x", port=8124)  # type: ignore[call-arg]
    assert (built.home, built.port) == (tmp_path / "x", 8124)
    prefix = Settings.model_fields["user_prefix"].validation_alias
    assert isinstance(prefix, AliasChoices)


def test_doctor_hints_at_state_left_in_the_home_directory(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    settings = Settings(_env_file=None, home=user_home / ".twinself")  # type: ignore[call-arg]
    assert state_left_in(user_home, settings) is None
    (user_home / "mlflow.db").touch()
    assert state_left_in(user_home, settings) is None  # may be another tool's
    (user_home / "outbox.sqlite3").touch()
    (user_home / "qdrant").mkdir()
    hint = state_left_in(user_home, settings)
    assert hint is not None
    assert (
        f"mv {user_home / 'outbox.sqlite3'} {user_home / 'mlflow.db'} {user_home / 'qdrant'}"
        in hint
    )
    assert hint.endswith(f"{user_home / '.twinself'}/")
    same = Settings(_env_file=None, home=user_home)  # type: ignore[call-arg]
    assert state_left_in(user_home, same) is None


def test_a_rate_limit_that_does_not_parse_says_how_to_write_one() -> None:
    with pytest.raises(ValidationError, match="20/minute;300/day"):
        Settings(_env_file=None, rate_limit="twenty a minute")  # type: ignore[call-arg]
    assert Settings(_env_file=None, rate_limit="").rate_limit == ""  # type: ignore[call-arg]


def test_every_secret_setting_is_known_to_the_redactor() -> None:
    names = [
        str(field.validation_alias if isinstance(field.validation_alias, str) else name)
        for name, field in Settings.model_fields.items()
        if field.annotation == SecretStr | None
    ]
    assert "TWINSELF_ADMIN_KEY" in names and len(names) >= 7
    values = {name: f"secret-{index}" for index, name in enumerate(names)}
    values["TWINSELF_API_KEYS"] = "first-key, second-key"
    found = secret_values(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    assert set(values.values()) - {"first-key, second-key"} <= set(found)
    leaked = "refused: key=first-key via https://u:secret-0@host"
    assert redact(leaked, found) == "refused: key=*** via https://***@host"
