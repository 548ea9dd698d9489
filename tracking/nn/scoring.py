"""Scoring the edges of an event's graph with a trained edge classifier: the engine of the
``edge_classifier`` stages (``plugins/edge_classifiers.py`` only registers and configures them).

:func:`load_edge_classifier` loads a checkpoint and checks that the model takes the inputs
:mod:`tracking.nn.features` gives; :func:`score_edges` computes those inputs on the event's device
(reusing those an earlier classifier computed for the same edges) and returns sigmoid scores and the
features, running the model on chunks of edges when asked (bounded activation memory) through an
:class:`~tracking.nn.runtime.InferenceRunner` (precision, compilation); :func:`edge_scores` gives the
scores alone, in float32.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..detector import BUILTIN, DetectorDescription
from ..errors import ConfigError, DataError
from ..event import Event
from .checkpoint import load_model
from .features import EDGE_FEATURE_WIDTHS, NUM_NODE_FEATURES, edge_features, node_features
from .runtime import InferenceRunner

__all__ = ["checkpoint_detector", "edge_scores", "load_edge_classifier", "score_edges"]


def load_edge_classifier(path: str | os.PathLike[str], expected: type[nn.Module], label: str) -> nn.Module:
    """The model of checkpoint ``path``, in eval mode on the CPU; :class:`ConfigError` naming ``label``
    (the stage) when it is missing or corrupt, not an ``expected``, or takes other feature widths."""
    try:
        model = load_model(path, map_location="cpu")
    except (FileNotFoundError, DataError) as err:
        raise ConfigError(f"{label}: key 'checkpoint': {err}") from err
    if not isinstance(model, expected):
        raise ConfigError(f"{label}: checkpoint {path} holds a {type(model).__name__}, expected a {expected.__name__}")
    node_width, edge_width = input_widths(model)
    if node_width != NUM_NODE_FEATURES or edge_width not in EDGE_FEATURE_WIDTHS:
        raise ConfigError(
            f"{label}: checkpoint {path} expects {node_width} node / {edge_width} edge features, but "
            f"tracking.nn.features gives {NUM_NODE_FEATURES} node and "
            f"{' or '.join(map(str, EDGE_FEATURE_WIDTHS))} edge features"
        )
    return model.eval()


def checkpoint_detector(model: nn.Module, label: str = "checkpoint") -> DetectorDescription:
    """The detector description a model was trained with (its checkpoint's ``extra["detector"]``);
    :data:`~tracking.detector.BUILTIN` for checkpoints written before descriptions existed."""
    recorded = getattr(model, "checkpoint_extra", {}).get("detector")
    if recorded is None:
        return BUILTIN
    return DetectorDescription.from_dict(recorded, where=f"{label}: the checkpoint's detector")


def input_widths(model: nn.Module) -> tuple[int, int]:
    """``(node feature width, edge feature width)`` an edge classifier takes (0 edge features: none)."""
    return int(getattr(model, "node_features", 0)), int(getattr(model, "edge_features", 0) or 0)


def edge_scores(
    model: nn.Module,
    event: Event,
    edge_index: torch.Tensor,
    *,
    chunk_size: int | None = None,
    detector: DetectorDescription = BUILTIN,
) -> torch.Tensor:
    """float32 ``[E]`` sigmoid scores of the edges ``edge_index`` of ``event`` (on the model's device),
    in float32 with eager inference: :func:`score_edges` without its options."""
    return score_edges(model, event, edge_index, chunk_size=chunk_size, detector=detector)[0]


def score_edges(
    model: nn.Module | InferenceRunner,
    event: Event,
    edge_index: torch.Tensor,
    *,
    chunk_size: int | None = None,
    detector: DetectorDescription = BUILTIN,
    known_features: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(scores, features)``: float32 ``[E]`` sigmoid scores of the edges ``edge_index`` of ``event`` (on
    the model's device) and the edge features they were computed from (None for a model without edge
    inputs).

    The features of the whole graph are computed at once (triplet features need every edge's
    neighbours), reusing the doublet columns of ``known_features`` when given (features of the same
    edges for the same detector, :func:`tracking.nn.features.edge_features`); the model, whose
    activations are the large part, runs on ``chunk_size`` edges at a time when given. ``model`` may be
    an :class:`~tracking.nn.runtime.InferenceRunner` (precision, compilation); a bare model runs its
    blocked ``infer`` when it has one, in float32. ``detector`` scales the features (the description the
    model was trained with). The scores are an ordinary tensor (not an inference-mode one), so later
    stages may modify them.
    """
    runner = model if isinstance(model, InferenceRunner) else InferenceRunner(model, precision="fp32", compile="off")
    x = node_features(event, detector=detector)
    _, width = input_widths(runner.model)
    with torch.inference_mode():
        attr = edge_features(event, edge_index, width=width, detector=detector, known=known_features) if width else None
        n_edges = int(edge_index.shape[1])
        step = n_edges if chunk_size is None else chunk_size
        chunks = [
            runner(x, edge_index[:, start : start + step], attr[start : start + step] if attr is not None else None)
            for start in range(0, n_edges, max(step, 1))
        ]
        logits = torch.cat(chunks) if chunks else x.new_zeros(0)
        scores = torch.sigmoid(logits.float())
    return scores.clone(), None if attr is None else attr.clone()
