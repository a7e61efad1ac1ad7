"""Each layer imports only the layers below it, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "twinself"

BELOW: dict[str, set[str]] = {
    "config": set(),
    "memory": {"config"},
    "llm": {"config", "memory"},
    "twin": {"config", "memory", "llm"},
    "evaluation": {"config", "memory", "llm", "twin"},
    "pipeline": {"config", "memory", "llm", "twin", "evaluation"},
    "monitoring": {"config", "pipeline"},
    "server": {"config", "memory", "llm", "twin", "evaluation", "pipeline", "monitoring"},
}


def imported_layers(module: Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "twinself" and len(parts) > 1:
                layers.add(parts[1])
    return layers


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_only_layers_below_it(layer: str) -> None:
    allowed = BELOW[layer] | {layer, "errors"}
    wrong = {
        module.relative_to(PACKAGE).as_posix(): sorted(imported_layers(module) - allowed)
        for module in sorted((PACKAGE / layer).rglob("*.py"))
    }
    assert {module: layers for module, layers in wrong.items() if layers} == {}
