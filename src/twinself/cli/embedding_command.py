"""`twinself export-onnx`: run the embedding model on onnxruntime instead of torch."""

from __future__ import annotations

from pathlib import Path

import typer

from twinself.cli.common import console, err_console, handle_errors, load_settings


def export_onnx(
    force: bool = typer.Option(False, "--force", help="Export again even when up to date."),
) -> None:
    """Export the embedding model (EMBEDDING_MODEL, the bundled MiniLM by default) to ONNX
    under TWINSELF_HOME, once, from the weights on this machine; nothing is downloaded.

    Every twinself process that embeds (the API, the local judge, rebuild) then runs it on
    onnxruntime instead of torch: the same vectors (checked: cosine >= 0.9999), about 400 MB
    less memory in each. Without an export, or when the model changes, they go on with
    sentence-transformers. `make run` runs this command.

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
    if not force:
        try:
            open_onnx_embedder(settings, transformer_folder(location))
        except OnnxExportMissing:
            pass
        else:
            console.print(f"The ONNX export of {settings.embedding_model} is up to date.")
            return
    with err_console.status(f"Exporting {settings.embedding_model} to ONNX..."):
        folder = export(settings, build_embedder(settings), location)
    console.print(f"Exported {settings.embedding_model} to {folder}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export-onnx")(handle_errors(export_onnx))
