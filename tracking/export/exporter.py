"""``trackpipe export``: a pipeline's edge classifiers as TorchScript / ONNX, its module map as CSV, and a
Triton model repository. The layout of every file is documented in ``docs/export.md``.

Each edge classifier stage ``k`` (position in the pipeline) gives two graphs, both returning logits:

- ``<k>_<plugin>`` (features inside, :class:`.EdgeClassifierWithFeatures`): inputs ``hits`` float32
  ``[N, 5]`` (r, phi, z, x, y) and ``edge_index`` int64 ``[2, E]`` -- the two-input convention of the
  ACTS GNN plugin's ``TorchEdgeClassifier`` / ``OnnxEdgeClassifier``;
- ``<k>_<plugin>_model`` (:class:`.ModelOnly`): inputs ``x`` float32 ``[N, 4]`` (scaled r, phi, z, eta),
  ``edge_index`` and ``edge_attr`` float32 ``[E, width]`` -- the three-input convention, for consumers
  that compute the features themselves (and for the onnxruntime backend, which reuses ours).

ONNX goes through the dynamo exporter (``dynamo=True``, opset 18, dynamic ``N`` and ``E``): the legacy
exporter turns ``index_add`` into a scatter that does not sum repeated destinations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_output
from ..errors import ConfigError
from .features_model import HIT_COLUMNS, EdgeClassifierWithFeatures, ModelOnly, triplet_best_dense

__all__ = [
    "FORMATS",
    "ONNX_OPSET",
    "ExportedModel",
    "example_graph",
    "export_pipeline",
    "write_module_map_csv",
]

FORMATS: tuple[str, ...] = ("torchscript", "onnx", "triton")
ONNX_OPSET = 18
FULL_INPUTS: tuple[str, ...] = ("hits", "edge_index")
MODEL_INPUTS: tuple[str, ...] = ("x", "edge_index", "edge_attr")
OUTPUT = "logits"


@dataclass
class ExportedModel:
    """One exported graph: its file, inputs ``(name, dtype, shape)`` and output, and the stage it came from."""

    name: str
    path: Path
    format: str  # "torchscript" | "onnx"
    inputs: list[tuple[str, str, list[str | int]]]
    output: tuple[str, str, list[str | int]]
    stage: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, root: Path) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": os.path.relpath(self.path, root),
            "format": self.format,
            "inputs": [{"name": n, "dtype": d, "shape": s} for n, d, s in self.inputs],
            "output": {"name": self.output[0], "dtype": self.output[1], "shape": self.output[2]},
            "stage": self.stage,
        }


def example_graph(num_nodes: int = 60, num_edges: int = 240, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hits [N, 5], edge_index [2, E])``: a random hit graph with repeated destinations (inner -> outer
    by radius), the example input of the exports."""
    g = torch.Generator().manual_seed(seed)
    r = 30 + 970 * torch.rand(num_nodes, generator=g)
    phi = (torch.rand(num_nodes, generator=g) * 2 - 1) * torch.pi
    z = (torch.rand(num_nodes, generator=g) * 2 - 1) * 1000
    hits = torch.stack([r, phi, z, r * torch.cos(phi), r * torch.sin(phi)], dim=1).float()
    a = torch.randint(0, num_nodes, (num_edges,), generator=g)
    b = torch.randint(0, max(num_nodes // 4, 1), (num_edges,), generator=g)  # few targets: repeated destinations
    b = torch.where(a == b, (b + 1) % num_nodes, b)
    inner = r[a] <= r[b]
    edge_index = torch.stack([torch.where(inner, a, b), torch.where(inner, b, a)])
    return hits, edge_index


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # TorchScript's deprecation notice and the tracer's notes about shape checks are expected here, and
    # the dynamo exporter's log lines about operators of packages we do not use (torchvision)
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        registration.setLevel(level)


def _model_inputs(wrapper: EdgeClassifierWithFeatures, hits, edge_index):
    with torch.no_grad():
        x, attr = wrapper.features(hits, edge_index)
    if attr is None:
        attr = torch.zeros(edge_index.shape[1], 0)
    return x, edge_index, attr


class _ModelNoAttr(ModelOnly):
    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return self.model(x, edge_index, None)


Signature = tuple[str, str, list[str | int]]


def _signature(full: bool, edge_width: int) -> tuple[list[Signature], Signature]:
    inputs: list[Signature]
    if full:
        inputs = [("hits", "float32", ["N", len(HIT_COLUMNS)]), ("edge_index", "int64", [2, "E"])]
    else:
        inputs = [
            ("x", "float32", ["N", 4]),
            ("edge_index", "int64", [2, "E"]),
            ("edge_attr", "float32", ["E", edge_width]),
        ]
    output: Signature = (OUTPUT, "float32", ["E"])
    return inputs, output


def _export_torchscript(module: Any, args: tuple, path: Path, full: bool) -> None:
    with _quiet():
        if full:
            module.triplet_best = torch.jit.script(triplet_best_dense)
        try:
            traced = torch.jit.trace(module, args, check_trace=False)
        finally:
            if full:
                module.triplet_best = triplet_best_dense
        with atomic_output(path, suffix=".pt") as tmp:
            traced.save(str(tmp))


def _export_onnx(module: torch.nn.Module, args: tuple, path: Path, full: bool) -> None:
    from ..extras import require

    require("onnxscript")
    nodes, edges = torch.export.Dim("N", min=2), torch.export.Dim("E", min=2)
    if full:
        names = list(FULL_INPUTS)
        shapes: dict[str, Any] = {"hits": {0: nodes}, "edge_index": {1: edges}}
    else:
        names = list(MODEL_INPUTS)
        shapes = {"x": {0: nodes}, "edge_index": {1: edges}, "edge_attr": {0: edges}}
    with _quiet():
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=names,
            output_names=[OUTPUT],
            dynamic_shapes=shapes,
            verbose=False,
        )
    assert program is not None
    with atomic_output(path, suffix=".onnx") as tmp:
        program.save(str(tmp))


def _classifier_stages(pipeline) -> list[tuple[str, Any]]:
    found = []
    for k, stage in enumerate(pipeline.stages):
        if getattr(stage, "plugin_kind", "") == "edge_classifier" and hasattr(stage, "model"):
            found.append((f"{k}_{stage.plugin_name}", stage))
    return found


def export_classifier(
    name: str, stage: Any, out_dir: Path, formats: tuple[str, ...], progress=None
) -> list[ExportedModel]:
    """Both graphs of one edge classifier stage in each of ``formats`` (``torchscript``, ``onnx``)."""
    wrapper = EdgeClassifierWithFeatures(stage.model, stage.detector).eval()
    width = wrapper.edge_width
    model_only: torch.nn.Module = ModelOnly(stage.model) if width else _ModelNoAttr(stage.model)
    hits, edge_index = example_graph()
    info = {
        "plugin": stage.plugin_name,
        "score_cut": float(stage.config.score_cut),
        "prune": bool(stage.config.prune),
        "model": type(stage.model).__name__,
        "hparams": stage.model.hparams,
        "edge_features": width,
    }
    out: list[ExportedModel] = []
    suffix = {"torchscript": ".pt", "onnx": ".onnx"}
    for fmt in formats:
        for full in (True, False):
            module = wrapper if full else model_only
            args = (hits, edge_index) if full else _model_inputs(wrapper, hits, edge_index)
            file_name = f"{name}{'' if full else '_model'}"
            path = out_dir / f"{file_name}{suffix[fmt]}"
            if progress:
                progress(f"{fmt}: {path.name}")
            (_export_torchscript if fmt == "torchscript" else _export_onnx)(module, args, path, full)
            inputs, output = _signature(full, width)
            out.append(ExportedModel(file_name, path, fmt, inputs, output, info))
    return out


def write_module_map_csv(module_map, path: Path) -> Path:
    """The connection map as CSV (one header line, one map entry per row; see docs/export.md)."""
    from ..io.module_keys import unpack_keys
    from ..ops import CUT_VARIABLES

    volume, layer, module = unpack_keys(module_map.group_key)
    columns = {
        "src_volume": volume[module_map.src],
        "src_layer": layer[module_map.src],
        "src_module": module[module_map.src],
        "dst_volume": volume[module_map.dst],
        "dst_layer": layer[module_map.dst],
        "dst_module": module[module_map.dst],
    }
    for k, var in enumerate(CUT_VARIABLES):
        columns[f"{var}_min"] = module_map.cut_min[:, k]
        columns[f"{var}_max"] = module_map.cut_max[:, k]
    header = ",".join(columns)
    ints = np.stack([np.asarray(columns[c], dtype=np.int64) for c in list(columns)[:6]], axis=1)
    floats = np.concatenate([module_map.cut_min, module_map.cut_max], axis=1)
    order = [i for k in range(len(CUT_VARIABLES)) for i in (k, k + len(CUT_VARIABLES))]
    floats = floats[:, order].astype(np.float32)
    with atomic_output(path, suffix=".csv") as tmp, open(tmp, "w") as f:
        f.write(header + "\n")
        for row_i, row_f in zip(ints.tolist(), floats.tolist()):
            # %.9g: every float32 reads back bit for bit
            f.write(",".join(map(str, row_i)) + "," + ",".join(f"{v:.9g}" for v in row_f) + "\n")
    return path


def export_pipeline(
    source: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str], fmt: str, progress=None
) -> dict[str, Any]:
    """Export the pipeline ``source`` (a YAML file or fitted pipeline directory; the shipped one when None)
    to ``out_dir`` in ``fmt`` (one of :data:`FORMATS`). Returns the manifest (also ``manifest.json``)."""
    from ..pipeline import Pipeline
    from ..runner import DEFAULT_PIPELINE

    if fmt not in FORMATS:
        raise ConfigError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    pipeline = Pipeline.from_yaml(source if source is not None else DEFAULT_PIPELINE, device="cpu")
    classifiers = _classifier_stages(pipeline)
    if not classifiers:
        raise ConfigError(f"pipeline {source or DEFAULT_PIPELINE} has no edge classifier stage with a model to export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "models" if fmt == "triton" else out
    model_dir.mkdir(parents=True, exist_ok=True)
    formats = ("onnx",) if fmt == "triton" else (fmt,)
    models: list[ExportedModel] = []
    for name, stage in classifiers:
        models.extend(export_classifier(name, stage, model_dir, formats, progress))
    stages = []
    for k, stage in enumerate(pipeline.stages):
        entry: dict[str, Any] = {"index": k, "kind": stage.plugin_kind, "plugin": stage.plugin_name}
        cfg = stage.config
        for key in ("score_cut", "walk_cut", "recovery_cut", "min_hits", "prune", "junction_removal", "module_ids"):
            if hasattr(cfg, key):
                value = getattr(cfg, key)
                entry[key] = value if isinstance(value, (int, float, bool, str)) or value is None else str(value)
        if hasattr(stage, "map"):
            map_path = write_module_map_csv(stage.map, out / f"{k}_{stage.plugin_name}.csv")
            entry["map_csv"] = map_path.name
            entry["map_granularity"] = stage.map.granularity
        stages.append(entry)
    manifest: dict[str, Any] = {
        "format": fmt,
        "pipeline": str(source) if source is not None else DEFAULT_PIPELINE,
        "hit_columns": list(HIT_COLUMNS),
        "onnx_opset": ONNX_OPSET if "onnx" in formats else None,
        "stages": stages,
        "models": [m.as_dict(out) for m in models],
    }
    if fmt == "triton":
        from .triton import write_triton_repository

        manifest["triton"] = write_triton_repository(out, models, stages)
    with atomic_output(out / "manifest.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
