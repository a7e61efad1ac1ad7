"""The docs match the code: every setting is documented, the README's commands exist."""

from __future__ import annotations

import re
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


PACKAGE = REPO / "src" / "twinself"
# A backticked lower-case name (`outbox`, `routes/`) in the table is a module or subpackage.
_MODULE_NAME = re.compile(r"`([a-z][a-z0-9_]*/?)`")


def layout_rows() -> dict[str, str]:
    """`twinself/<package>` (or `twinself/*.py`) -> what its row says, from the README."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `twinself/([^`]*)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def modules_of(folder: Path, with_subpackages: bool = True) -> set[str]:
    names = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__"}
    if with_subpackages:
        names |= {f"{p.name}/" for p in folder.iterdir() if (p / "__init__.py").exists()}
    return names


def test_the_readme_package_table_matches_the_code() -> None:
    rows = layout_rows()
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(rows) == packages | {"*.py"}
    for name, text in rows.items():
        present = (
            modules_of(PACKAGE, with_subpackages=False)
            if name == "*.py"
            else modules_of(PACKAGE / name)
        )
        listed = set(_MODULE_NAME.findall(text))
        assert present - listed == set(), f"twinself/{name}: not in the README"
        assert listed - present == set(), f"twinself/{name}: the README names what is gone"
