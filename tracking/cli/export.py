from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("export")
@click.argument("pipeline", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory to write."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["torchscript", "onnx", "triton"]),
    default="onnx",
    show_default=True,
    help="TorchScript (.pt) or ONNX (.onnx) edge classifiers, or a Triton model repository.",
)
def export(pipeline: Path | None, output: Path, fmt: str) -> None:
    """Export PIPELINE (a YAML file or fitted pipeline directory; the shipped pipeline when omitted).

    Writes each edge classifier twice -- with its features inside (inputs: hits [N, 5] = r, phi, z, x, y
    and edge_index [2, E]) and alone (x, edge_index, edge_attr), the input conventions of the ACTS GNN
    plugin -- the module map as CSV, and manifest.json (cuts, tensors, files); --format triton adds the
    config.pbtxt files and a Python-backend model for graph and track building. ONNX needs the export
    extra: pip install "trackpipe[export]". File layouts: docs/export.md.
    """
    from tqdm import tqdm

    from ..export import export_pipeline

    with tqdm(desc="export", unit="file", leave=False) as bar:

        def progress(msg: str) -> None:
            bar.set_postfix_str(msg)
            bar.update(1)

        manifest = export_pipeline(pipeline, output, fmt, progress=progress)
    for model in manifest["models"]:
        ins = ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in model["inputs"])
        click.echo(f"{model['file']}: ({ins}) -> {model['output']['name']} {model['output']['shape']}")
    click.echo(f"manifest: {output / 'manifest.json'}")
    if fmt == "triton":
        click.echo(json.dumps(manifest["triton"]))
