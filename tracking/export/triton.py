"""A Triton Inference Server model repository for ``trackpipe export --format triton``.

Layout (``DIR``)::

    <k>_<plugin>/1/model.onnx          edge classifier, features inside (onnxruntime backend)
    <k>_<plugin>/config.pbtxt
    <k>_<plugin>_model/1/model.onnx    the model alone (x, edge_index, edge_attr)
    <k>_<plugin>_model/config.pbtxt
    trackpipe_pipeline/1/model.py      Python backend: graph building (module map CSV), the classifiers
    trackpipe_pipeline/config.pbtxt    through BLS calls to the ONNX models, pruning, track building
    <k>_module_map.csv, manifest.json  what the Python backend reads (parameter MANIFEST)

The Python backend imports trackpipe (``pip install trackpipe`` in Triton's Python environment) for
the doublet and track-building kernels; the learned stages run in Triton's onnxruntime backend.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..atomic import atomic_output

PIPELINE_MODEL = "trackpipe_pipeline"
_TYPES = {"float32": "TYPE_FP32", "int64": "TYPE_INT64", "int32": "TYPE_INT32"}


def _dims(shape: list[str | int]) -> str:
    return "[ " + ", ".join(str(d) if isinstance(d, int) else "-1" for d in shape) + " ]"


def _tensor_block(kind: str, tensors: list[tuple[str, str, list[str | int]]]) -> str:
    items = ",\n".join(
        f'  {{\n    name: "{name}"\n    data_type: {_TYPES[dtype]}\n    dims: {_dims(shape)}\n  }}'
        for name, dtype, shape in tensors
    )
    return f"{kind} [\n{items}\n]\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(text)


PIPELINE_INPUTS: list[tuple[str, str, list[str | int]]] = [
    ("hits", "float32", ["N", 5]),
    ("module_ids", "int64", ["N", 3]),
]
PIPELINE_OUTPUTS: list[tuple[str, str, list[str | int]]] = [("track_labels", "int64", ["N"])]

_MODEL_PY = '''"""trackpipe pipeline as a Triton Python-backend model (written by `trackpipe export --format triton`).

Inputs: hits FP32 [N, 5] (r, phi, z, x, y; mm, rad), module_ids INT64 [N, 3] (volume, layer, module).
Output: track_labels INT64 [N] (-1: on no track). Edge classifiers run as BLS calls to the ONNX models.
"""

import json
from pathlib import Path

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

from tracking import ops
from tracking.export.module_map_csv import read_module_map_csv
from tracking.io.module_keys import pack_keys
from tracking.arrays import search_sorted


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        root = Path(args["model_repository"]).parent
        name = config["parameters"]["MANIFEST"]["string_value"]
        self.manifest = json.loads((root / name).read_text())
        self.stages = self.manifest["stages"]
        self.maps = {s["index"]: read_module_map_csv(root / s["map_csv"]) for s in self.stages if "map_csv" in s}

    def _edges(self, stage, hits, module_ids):
        module_map = self.maps[stage["index"]]
        ids = module_ids if module_map.granularity == "module" else np.c_[module_ids[:, :2], 0 * module_ids[:, :1]]
        pos, found = search_sorted(module_map.group_key, pack_keys(ids[:, 0], ids[:, 1], ids[:, 2]))
        group = np.where(found, pos, -1)
        r, phi, z = hits[:, 0], hits[:, 1], hits[:, 2]
        eta = np.arcsinh(z / np.clip(r, 1e-6, None)).astype(np.float32)
        return np.asarray(ops.build_doublets(r, phi, z, eta, group, module_map.src, module_map.dst,
                                             module_map.cut_min, module_map.cut_max, n_groups=module_map.num_groups))

    def _scores(self, stage, hits, edges):
        request = pb_utils.InferenceRequest(
            model_name=f"{stage['index']}_{stage['plugin']}",
            requested_output_names=["logits"],
            inputs=[pb_utils.Tensor("hits", hits), pb_utils.Tensor("edge_index", edges)],
        )
        response = request.exec()
        if response.has_error():
            raise pb_utils.TritonModelException(response.error().message())
        logits = pb_utils.get_output_tensor_by_name(response, "logits").as_numpy()
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def execute(self, requests):
        responses = []
        for request in requests:
            hits = pb_utils.get_input_tensor_by_name(request, "hits").as_numpy().astype(np.float32)
            module_ids = pb_utils.get_input_tensor_by_name(request, "module_ids").as_numpy()
            edges, scores = np.zeros((2, 0), np.int64), np.zeros(0, np.float32)
            labels = np.full(len(hits), -1, np.int64)
            for stage in self.stages:
                if stage["kind"] == "graph_builder":
                    edges = self._edges(stage, hits, module_ids)
                elif stage["kind"] == "edge_classifier":
                    scores = self._scores(stage, hits, edges).astype(np.float32)
                    if stage.get("prune", True):
                        keep = scores > stage["score_cut"]
                        edges, scores = edges[:, keep], scores[keep]
                elif stage["plugin"] == "walkthrough":
                    labels = ops.walkthrough(torch.from_numpy(edges), len(hits), torch.from_numpy(scores),
                                             stage["score_cut"], stage.get("walk_cut"), stage["min_hits"],
                                             torch.from_numpy(hits[:, 0].copy()),
                                             recovery_cut=stage.get("recovery_cut")).numpy()
                else:
                    labels = ops.connected_components(torch.from_numpy(edges), len(hits), torch.from_numpy(scores),
                                                      cut=stage["score_cut"], min_hits=stage["min_hits"]).numpy()
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("track_labels", labels)]))
        return responses
'''


def write_triton_repository(root: Path, models: list, stages: list[dict[str, Any]]) -> dict[str, Any]:
    """Move the exported ONNX models into Triton's layout and write every ``config.pbtxt`` and the Python
    backend; returns the repository's summary for the manifest (models, inputs, outputs)."""
    summary: dict[str, Any] = {"models": []}
    for model in models:
        target = root / model.name / "1" / "model.onnx"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(model.path, target)
        model.path = target
        config = (
            f'name: "{model.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
            + _tensor_block("input", model.inputs)
            + _tensor_block("output", [model.output])
        )
        _write(root / model.name / "config.pbtxt", config)
        summary["models"].append(model.name)
    shutil.rmtree(root / "models", ignore_errors=True)
    config = (
        f'name: "{PIPELINE_MODEL}"\nbackend: "python"\nmax_batch_size: 0\n'
        + _tensor_block("input", PIPELINE_INPUTS)
        + _tensor_block("output", PIPELINE_OUTPUTS)
        + 'parameters: {\n  key: "MANIFEST"\n  value: { string_value: "manifest.json" }\n}\n'
        + "instance_group [ { kind: KIND_CPU } ]\n"
    )
    _write(root / PIPELINE_MODEL / "config.pbtxt", config)
    _write(root / PIPELINE_MODEL / "1" / "model.py", _MODEL_PY)
    summary["models"].append(PIPELINE_MODEL)
    summary["pipeline_model"] = PIPELINE_MODEL
    return summary
