"""Edge classifiers: graph -> ``edge_scores`` (float32 sigmoid scores in [0, 1]).

``interaction_gnn`` runs the ACORN-style Interaction-Network GNN
(:class:`tracking.nn.InteractionGNN`) on the whole graph; ``edge_filter`` runs the Exa.TrkX MLP edge
filter (:class:`tracking.nn.EdgeFilter`) edge-chunk by edge-chunk. Both load a checkpoint written by
:func:`tracking.nn.save_model`, compute the features of :mod:`tracking.nn.features` on the event's
device, and with ``prune: true`` (default) drop the edges whose score is ``<= score_cut``. The features
are scaled for the detector description the checkpoint was trained with (``detector:`` overrides it
with a description YAML; checkpoints without one are the built-in detector's). Each stage leaves its
features in ``Event.edge_features`` (pruned with the edges, described in ``meta["edge_features"]``;
features put there by anything else are left as they are) and the next edge classifier of the same
detector reuses their doublet columns.

``precision: auto|fp32|bf16`` and ``compile: auto|on|off`` choose how the model runs
(:mod:`tracking.nn.runtime`; ``auto``: float32 and eager on the CPU, bf16 on a CUDA GPU that has it)::

    - edge_classifier: interaction_gnn
      checkpoint: models/gnn.pt
      score_cut: 0.5
      precision: auto

On the CPU, float32 inference runs trackpipe's fused kernels between the matrix products (:mod:`tracking.nn.fused`:
bias + LayerNorm + activation in one pass, gathers and scatter-adds without intermediate copies): scores
within 1e-5 of torch's operators; ``TRACKPIPE_FUSED=0`` in the environment runs torch's operators only.

``backend: onnxruntime`` runs the model in onnxruntime on the CPU instead of torch (``pip install
"trackpipe[export]"``; :mod:`tracking.export.ort_backend`): the features are computed as before, the model
is exported once per machine with the dynamo exporter (cached on disk) and scored float32 with torch's
thread count. Measured on a mu = 200 event with one thread, it ran the shipped filter 1.6x and the GNN 1.3x
faster than torch, scores equal to 5e-6. It is a CPU backend: on a GPU the stage runs torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch

from tracking.config import Range, Score
from tracking.detector import description_from_config
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.nn import EdgeFilter, InteractionGNN
from tracking.nn.features import EDGE_FEATURE_NAMES, NUM_DOUBLET_FEATURES
from tracking.nn.runtime import Compile, InferenceRunner, Precision
from tracking.nn.scoring import checkpoint_detector, load_edge_classifier, score_edges
from tracking.registry import register
from tracking.stages import Stage

Backend = Literal["torch", "onnxruntime"]
FEATURES_META = "edge_features"  # Event.meta key: {"names": feature names, "detector": DetectorDescription}


class _CheckpointEdgeClassifier(Stage):
    """Shared by the edge classifiers: a checkpoint's model, scored on the event's device, then pruned."""

    model_class: type[torch.nn.Module]
    plugin_name: str  # set by register()

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        label = f"edge_classifier {getattr(self, 'plugin_name', type(self).__name__)!r}"
        self.model = load_edge_classifier(config.checkpoint, self.model_class, label)
        if config.detector is not None:
            self.detector = description_from_config(config.detector, where=f"{label}: key 'detector'")
        else:
            self.detector = checkpoint_detector(self.model, f"{label}: {config.checkpoint}")
        self.runner = InferenceRunner(self.model, precision=config.precision, compile=config.compile, label=label)
        self._label = label
        self._onnx_runner: InferenceRunner | None = None
        if config.backend == "onnxruntime":
            if config.precision == "bf16" or config.compile == "on":
                raise ConfigError(
                    f"{label}: backend onnxruntime runs float32 without torch.compile; precision "
                    f"{config.precision!r} / compile {config.compile!r} are options of backend torch"
                )
            from tracking.extras import require

            require("onnxruntime")  # the missing extra is named when the pipeline is built
            require("onnxscript")

    def to(self, device: torch.device) -> _CheckpointEdgeClassifier:
        super().to(device)
        self.model.to(self.device)
        return self

    def __getstate__(self) -> dict[str, Any]:
        # an onnxruntime session does not pickle (process pools, Ray): the copy exports or loads it again
        return {**self.__dict__, "_onnx_runner": None}

    def _runner_for(self, device: torch.device) -> InferenceRunner:
        """The torch runner, or on the CPU with ``backend: onnxruntime`` the onnxruntime one (the model
        exported at the first call, or loaded from the export cache)."""
        if self.config.backend != "onnxruntime" or device.type != "cpu":
            return self.runner
        if self._onnx_runner is None:
            from tracking.export.ort_backend import cached_onnx_model

            self._onnx_runner = InferenceRunner(
                cached_onnx_model(self.model), precision="fp32", compile="off", label=self._label
            )
        return self._onnx_runner

    def __call__(self, event: Event) -> Event:
        if event.edge_index is None:
            raise DataError(
                f"{self.plugin_name} needs a graph (edge_index); put a graph_builder stage before it",
                event=event.event_id,
            )
        if not isinstance(event.x, torch.Tensor):
            event = event.to(self.device)
        if event.device != self.device:
            # Run where the event lives (a pipeline keeps both on one device; direct callers may not).
            self.to(event.device)
        edge_index = torch.as_tensor(event.edge_index)
        scores, features = score_edges(
            self._runner_for(self.device),
            event,
            edge_index,
            chunk_size=getattr(self.config, "chunk_size", None),
            detector=self.detector,
            known_features=self._known_features(event),
        )
        ours = event.edge_features is None or FEATURES_META in event.meta
        if features is not None and ours:  # features another component put there are left alone
            provenance = {"names": EDGE_FEATURE_NAMES[: features.shape[1]], "detector": self.detector}
            event = event.replace(
                edge_scores=scores, edge_features=features, meta={**event.meta, FEATURES_META: provenance}
            )
        else:
            event = event.replace(edge_scores=scores)
        if self.config.prune:
            event = event.select_edges(scores > self.config.score_cut)
        return event

    def _known_features(self, event: Event) -> torch.Tensor | None:
        """The edge features an earlier edge classifier left on ``event``, when they are this stage's
        (same feature definitions and detector description) and still belong to its edges."""
        features, provenance = event.edge_features, event.meta.get(FEATURES_META)
        if features is None or not isinstance(provenance, dict) or not isinstance(features, torch.Tensor):
            return None
        names = tuple(provenance.get("names", ()))
        if names[:NUM_DOUBLET_FEATURES] != EDGE_FEATURE_NAMES[:NUM_DOUBLET_FEATURES] or features.shape[1] != len(names):
            return None
        return features if provenance.get("detector") == self.detector else None


@register("edge_classifier", "interaction_gnn")
class InteractionGNNClassifier(_CheckpointEdgeClassifier):
    """Interaction-Network GNN edge classifier (ACORN InteractionGNN); score_cut prunes edges."""

    model_class = InteractionGNN

    @dataclass
    class Config:
        checkpoint: Path
        score_cut: Score = 0.5
        prune: bool = True
        detector: Path | None = None  # a detector description YAML; None = the checkpoint's
        precision: Precision = "auto"  # auto | fp32 | bf16 (tracking.nn.runtime)
        compile: Compile = "auto"  # auto | on | off: torch.compile (auto = off; tracking.nn.runtime)
        backend: Backend = "torch"  # torch | onnxruntime (CPU; pip install "trackpipe[export]")


@register("edge_classifier", "edge_filter")
class EdgeFilterClassifier(_CheckpointEdgeClassifier):
    """MLP edge filter (Exa.TrkX), scored in chunks of edges; score_cut prunes edges."""

    model_class = EdgeFilter

    @dataclass
    class Config:
        checkpoint: Path
        score_cut: Score = 0.5
        prune: bool = True
        detector: Path | None = None  # a detector description YAML; None = the checkpoint's
        precision: Precision = "auto"  # auto | fp32 | bf16 (tracking.nn.runtime)
        compile: Compile = "auto"  # auto | on | off: torch.compile (auto = off; tracking.nn.runtime)
        backend: Backend = "torch"  # torch | onnxruntime (CPU; pip install "trackpipe[export]")
        chunk_size: Annotated[int, Range(ge=1)] = 1_000_000  # edges per pass: bounds activation memory
