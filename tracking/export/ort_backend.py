"""The onnxruntime backend of the edge classifiers (``backend: onnxruntime``).

:class:`OnnxModel` stands in for the torch model of an ``edge_filter`` / ``interaction_gnn`` stage: the
stage keeps computing the features (native triplet kernel), and the model -- exported once with the
dynamo exporter to a temporary ``.onnx`` in the three-input convention -- runs in an onnxruntime
session with ``intra_op_num_threads`` = torch's thread count. Call it like the model:
``model(x, edge_index, edge_attr) -> logits`` (torch tensors in and out, CPU).

:func:`cached_onnx_model` keeps the export on disk (``$TRACKPIPE_CACHE_DIR`` or ``~/.cache/trackpipe``,
``onnx/<key>.onnx``, the key a hash of the model's weights, hyper-parameters and the torch version), so
only the first run of a model on a machine pays the export (6-10 s for the shipped models).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OnnxModel", "cache_dir", "cached_onnx_model", "model_key"]


class OnnxModel(nn.Module):
    """``model`` exported to ONNX and run by onnxruntime on the CPU (see the module docstring).

    Args:
        model: the trained torch model (:class:`tracking.nn.EdgeFilter` / :class:`tracking.nn.InteractionGNN`).
        threads: onnxruntime intra-op threads (default: ``torch.get_num_threads()``).
        path: where to write the ``.onnx`` (default: a temporary file, removed with this object).
        reuse: load ``path`` (a ``<k>_<plugin>_model.onnx`` of ``trackpipe export`` for this very model)
            instead of exporting again (default False).
    """

    def __init__(
        self, model: nn.Module, threads: int | None = None, path: str | Path | None = None, reuse: bool = False
    ) -> None:
        super().__init__()
        from ..extras import require
        from .exporter import _export_onnx, _model_inputs, example_graph
        from .features_model import EdgeClassifierWithFeatures, ModelOnly

        ort = require("onnxruntime")
        self.model = model.eval()
        self.node_features = getattr(model, "node_features", 4)
        self.edge_features = getattr(model, "edge_features", 0)
        self.hparams = getattr(model, "hparams", {})
        self.checkpoint_extra = getattr(model, "checkpoint_extra", {})
        self._tmp = None
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="trackpipe-ort-")
            path = Path(self._tmp.name) / "model.onnx"
        if not self.edge_features:
            raise ValueError("the onnxruntime backend needs a model with edge features")
        if not reuse:
            hits, edge_index = example_graph()
            args = _model_inputs(EdgeClassifierWithFeatures(model), hits, edge_index)
            _export_onnx(ModelOnly(model), args, Path(path), full=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = Path(path)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: Any = None) -> torch.Tensor:
        feeds = {
            "x": x.detach().cpu().float().numpy(),
            "edge_index": edge_index.detach().cpu().numpy().astype(np.int64, copy=False),
            "edge_attr": edge_attr.detach().cpu().float().numpy(),
        }
        (logits,) = self.session.run(["logits"], feeds)
        return torch.from_numpy(logits)


def cache_dir() -> Path:
    """Where exported models are kept: ``$TRACKPIPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/trackpipe``, else
    ``~/.cache/trackpipe``."""
    if os.environ.get("TRACKPIPE_CACHE_DIR"):
        return Path(os.environ["TRACKPIPE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trackpipe"


def model_key(model: nn.Module) -> str:
    """A hash of ``model``'s class, hyper-parameters, weights and the torch version: the same key means
    the same exported graph."""
    digest = hashlib.sha256(f"{type(model).__qualname__}|{getattr(model, 'hparams', {})}|{torch.__version__}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def cached_onnx_model(model: nn.Module, threads: int | None = None) -> OnnxModel:
    """:class:`OnnxModel` of ``model``, exported once per machine into :func:`cache_dir` (a temporary
    file when that directory cannot be written)."""
    path = cache_dir() / "onnx" / f"{type(model).__name__}-{model_key(model)}.onnx"
    if path.is_file():
        try:
            return OnnxModel(model, threads=threads, path=path, reuse=True)
        except Exception:  # noqa: BLE001 - a truncated or foreign file: export again over it
            pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return OnnxModel(model, threads=threads, path=path)
    except OSError:  # a read-only cache
        return OnnxModel(model, threads=threads)
