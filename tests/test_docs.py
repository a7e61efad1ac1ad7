"""The docs match the code: every setting is documented, the README's commands exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices

from twinself.config.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def setting_names() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.append(alias.choices[0] if isinstance(alias, AliasChoices) else str(alias))
    return names


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    missing = [name for name in setting_names() if name not in text]
    assert missing == [], f"{document} does not mention {missing}"


def test_readme_quick_start_is_the_two_make_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick_start.splitlines() if line.startswith("make ")]
    assert commands == ["make run", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
