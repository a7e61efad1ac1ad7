"""The import graph as the architecture says: each layer imports only the layers below it (lazy
imports inside functions included), the CLI's command modules never import each other, and no
module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "twinself"

# Bottom to top. Each layer may import the layers before it in its own set.
BELOW: dict[str, set[str]] = {
    "config": set(),
    "text": set(),
    "embedding": {"config"},
    "memory": {"config", "text", "embedding"},
    "llm": {"config", "text", "embedding"},
    "twin": {"config", "text", "embedding", "memory", "llm"},
    "evaluation": {"config", "text", "embedding", "memory", "llm", "twin"},
    "release": {"config", "text", "embedding", "memory", "llm", "twin", "evaluation"},
    "pipeline": {"config", "text", "embedding", "memory", "llm", "twin", "evaluation"},
    "mlflow_server": {"config"},
    "monitoring": {
        "config", "text", "embedding", "memory", "llm", "twin", "evaluation", "pipeline",
    },
    "reporting": {
        "config", "text", "embedding", "memory", "llm", "twin", "evaluation", "pipeline",
    },
    "server": {
        "config", "text", "embedding", "memory", "llm", "twin", "evaluation", "pipeline",
        "monitoring", "reporting",
    },
}  # fmt: skip
# Single modules at the package root that every layer may use; they import no layer.
FOUNDATION = {"errors", "backoff", "redaction", "file_lock"}
MAX_LINES = 400
# Modules of twinself.cli that are not commands: the app that assembles them and what they share.
CLI_NOT_COMMANDS = {"app", "common", "supervisor", "scorer_training", "__init__", "__main__"}


def imported_modules(module: Path) -> set[str]:
    """Every `twinself.*` module it imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name.startswith("twinself.")}


def imported_layers(module: Path) -> set[str]:
    return {name.split(".")[1] for name in imported_modules(module)}


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_only_layers_below_it(layer: str) -> None:
    allowed = BELOW[layer] | {layer} | FOUNDATION
    wrong = {
        module.relative_to(PACKAGE).as_posix(): sorted(imported_layers(module) - allowed)
        for module in sorted((PACKAGE / layer).rglob("*.py"))
    }
    assert {module: layers for module, layers in wrong.items() if layers} == {}


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert packages - {"cli", "sample_data"} <= set(BELOW)
    assert modules <= FOUNDATION


@pytest.mark.parametrize("name", sorted(FOUNDATION))
def test_foundation_modules_import_no_layer(name: str) -> None:
    module = PACKAGE / f"{name}.py"
    if module.exists():
        assert imported_layers(module) <= FOUNDATION


def test_command_modules_never_import_each_other() -> None:
    cli = PACKAGE / "cli"
    commands = {p.stem for p in cli.glob("*.py")} - CLI_NOT_COMMANDS
    wrong = {
        module.name: sorted(
            {
                name.split(".")[2]
                for name in imported_modules(module)
                if name.startswith("twinself.cli.") and name.split(".")[2] in commands | {"app"}
            }
        )
        for module in sorted(cli.glob("*.py"))
        if module.stem not in {"app", "__main__"}
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        module.relative_to(PACKAGE).as_posix(): len(module.read_text(encoding="utf-8").splitlines())
        for module in PACKAGE.rglob("*.py")
    }
    assert {module: lines for module, lines in sizes.items() if lines > MAX_LINES} == {}


def test_test_modules_import_no_other_test_module() -> None:
    """What tests share lives in tests/support (helpers) or a conftest (fixtures)."""
    tests = PACKAGE.parents[1] / "tests"
    wrong = {}
    for module in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
                last = node.module.rsplit(".", 1)[-1]
                if last.startswith("test_") or last == "conftest":
                    wrong[module.relative_to(tests).as_posix()] = node.module
    assert wrong == {}
