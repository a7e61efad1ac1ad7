"""`twinself export-onnx`: run the embedding model on onnxruntime instead of torch, and train
the pair scorers the local judge and the offline answerer use beside their rules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from twinself.cli.common import console, err_console, handle_errors, load_settings, progress_bar
from twinself.config.settings import Settings

if TYPE_CHECKING:
    from twinself.cli.scorer_training import ScorerRecipe


def export_onnx(
    force: bool = typer.Option(
        False, "--force", help="Export and train again even when up to date."
    ),
) -> None:
    """Export the embedding model (EMBEDDING_MODEL, the bundled MiniLM by default) to ONNX
    under TWINSELF_HOME, once, from the weights on this machine; nothing is downloaded.

    Every twinself process that embeds (the API, the local judge, rebuild) then runs it on
    onnxruntime instead of torch: the same vectors (checked: cosine >= 0.9999), about 400 MB
    less memory in each. Without an export, or when the model changes, they go on with
    sentence-transformers.

    Then it trains the pair scorers (cross-encoders fine-tuned from the same weights on the
    package's own labelled pairs, a few minutes on 2 cores, once) that the offline judge and
    answerer use beside their rules; without them those use their rules alone.
    `make run` runs this command.

    Example:
        twinself export-onnx
    """
    from twinself.embedding.onnx_export import export_onnx as export
    from twinself.embedding.onnx_runtime import (
        OnnxExportMissing,
        open_onnx_embedder,
        transformer_folder,
    )
    from twinself.embedding.sentence_transformer import build_embedder, resolve_model_location

    settings = load_settings()
    location = Path(resolve_model_location(settings.embedding_model))
    up_to_date = False
    if not force:
        try:
            open_onnx_embedder(settings, transformer_folder(location))
            up_to_date = True
        except OnnxExportMissing:
            pass
    if up_to_date:
        console.print(f"The ONNX export of {settings.embedding_model} is up to date.")
    else:
        with err_console.status(f"Exporting {settings.embedding_model} to ONNX..."):
            folder = export(settings, build_embedder(settings), location)
        console.print(f"Exported {settings.embedding_model} to {folder}", highlight=False)
    train_scorers(settings, transformer_folder(location), force)


def train_scorers(settings: Settings, source: Path, force: bool) -> None:
    from twinself.cli.scorer_training import RECIPES, is_current

    for recipe in RECIPES:
        if not force and is_current(settings, recipe, source):
            console.print(f"The {recipe.name} scorer is up to date.")
        else:
            _train_with_progress(settings, recipe, source)


def _train_with_progress(settings: Settings, recipe: ScorerRecipe, source: Path) -> None:
    from twinself.cli.scorer_training import train

    with progress_bar() as report:
        begun: list[bool] = []

        def advance(done: int, total: int) -> None:
            if not begun:
                report(f"Training the {recipe.name} scorer", total)
                begun.append(True)
            report(None, 1)

        description = train(settings, recipe, source, advance)
    console.print(
        f"Trained the {recipe.name} scorer on {description.training_pairs} pairs: "
        f"{description.held_back_accuracy:.0%} of the pairs held back scored right.",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("export-onnx")(handle_errors(export_onnx))
