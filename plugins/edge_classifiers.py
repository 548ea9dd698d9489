"""Edge classifiers: graph -> ``edge_scores`` (float32 sigmoid scores in [0, 1]).

``interaction_gnn`` runs the ACORN-style Interaction-Network GNN
(:class:`tracking.nn.InteractionGNN`) on the whole graph; ``edge_filter`` runs the Exa.TrkX MLP edge
filter (:class:`tracking.nn.EdgeFilter`) edge-chunk by edge-chunk. Both load a checkpoint written by
:func:`tracking.nn.save_model`, compute the features of :mod:`tracking.nn.features` on the event's
device, and with ``prune: true`` (default) drop the edges whose score is ``<= score_cut``::

    - edge_classifier: interaction_gnn
      checkpoint: models/gnn.pt
      score_cut: 0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch

from tracking.config import Range, Score
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.nn import EdgeFilter, InteractionGNN, load_model
from tracking.nn.features import EDGE_FEATURE_WIDTHS, NUM_NODE_FEATURES, edge_features, node_features
from tracking.registry import register
from tracking.stages import Stage


def prune_edges(event: Event, keep: torch.Tensor) -> Event:
    """``event`` with only the edges where ``keep`` (bool ``[E]``) is true, in every per-edge field."""
    changes = {}
    for name in ("edge_scores", "edge_truth", "edge_features"):
        value = getattr(event, name)
        if value is not None:
            changes[name] = value[keep.to(value.device) if isinstance(value, torch.Tensor) else keep.cpu().numpy()]
    changes["edge_index"] = event.edge_index[:, keep]
    return event.replace(**changes)


class _CheckpointEdgeClassifier(Stage):
    """Shared by the edge classifiers: checkpoint loading, device handling, scoring and pruning."""

    model_class: type[torch.nn.Module]

    def __init__(self, config) -> None:
        super().__init__(config)
        label = f"edge_classifier {getattr(self, 'plugin_name', type(self).__name__)!r}"
        try:
            model = load_model(config.checkpoint, map_location="cpu")
        except (FileNotFoundError, DataError) as err:
            raise ConfigError(f"{label}: key 'checkpoint': {err}") from err
        if not isinstance(model, self.model_class):
            raise ConfigError(
                f"{label}: checkpoint {config.checkpoint} holds a {type(model).__name__}, "
                f"expected a {self.model_class.__name__}"
            )
        if model.node_features != NUM_NODE_FEATURES or model.edge_features not in EDGE_FEATURE_WIDTHS:
            raise ConfigError(
                f"{label}: checkpoint {config.checkpoint} expects {model.node_features} node / "
                f"{model.edge_features} edge features, but tracking.nn.features gives "
                f"{NUM_NODE_FEATURES} node and {' or '.join(map(str, EDGE_FEATURE_WIDTHS))} edge features"
            )
        self.model = model.eval()

    def to(self, device: torch.device) -> _CheckpointEdgeClassifier:
        super().to(device)
        self.model.to(self.device)
        return self

    def _logits(self, event: Event, edge_index: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

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
        edge_index = event.edge_index
        with torch.inference_mode():
            scores = torch.sigmoid(self._logits(event, edge_index).float())
        # An inference-mode tensor cannot be modified in place later; later stages get ordinary tensors.
        scores = scores.clone()
        event = event.replace(edge_scores=scores)
        if self.config.prune:
            event = prune_edges(event, scores > self.config.score_cut)
        return event


@register("edge_classifier", "interaction_gnn")
class InteractionGNNClassifier(_CheckpointEdgeClassifier):
    """Interaction-Network GNN edge classifier (ACORN InteractionGNN); score_cut prunes edges."""

    model_class = InteractionGNN

    @dataclass
    class Config:
        checkpoint: Path
        score_cut: Score = 0.5
        prune: bool = True

    def _logits(self, event: Event, edge_index: torch.Tensor) -> torch.Tensor:
        x = node_features(event)
        width = self.model.edge_features
        attr = edge_features(event, edge_index, width=width) if width else None
        return self.model(x, edge_index, attr)


@register("edge_classifier", "edge_filter")
class EdgeFilterClassifier(_CheckpointEdgeClassifier):
    """MLP edge filter (Exa.TrkX), scored in chunks of edges; score_cut prunes edges."""

    model_class = EdgeFilter

    @dataclass
    class Config:
        checkpoint: Path
        score_cut: Score = 0.5
        prune: bool = True
        chunk_size: Annotated[int, Range(ge=1)] = 1_000_000  # edges per pass: bounds activation memory

    def _logits(self, event: Event, edge_index: torch.Tensor) -> torch.Tensor:
        x = node_features(event)
        width = self.model.edge_features
        # Features of the whole graph at once (triplet features need every edge's neighbours); the
        # model, whose activations are the large part, runs chunk by chunk.
        attr = edge_features(event, edge_index, width=width) if width else None
        chunks = []
        for start in range(0, edge_index.shape[1], self.config.chunk_size):
            part = slice(start, start + self.config.chunk_size)
            chunks.append(self.model(x, edge_index[:, part], attr[part] if attr is not None else None))
        if not chunks:
            return x.new_zeros(0)
        return torch.cat(chunks)
