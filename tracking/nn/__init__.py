"""Learned stages: the Interaction-Network edge classifier, the MLP edge filter, the metric-learning
embedding (ACORN / Exa.TrkX designs), their input features, aggregation and checkpoints."""

from __future__ import annotations

from .aggregation import aggregate
from .checkpoint import load_model, read_checkpoint, save_model
from .edge_filter import EdgeFilter
from .embedding import MetricEmbedding, embedding_hinge_loss
from .features import (
    EDGE_FEATURE_NAMES,
    NODE_FEATURE_NAMES,
    NUM_EDGE_FEATURES,
    NUM_NODE_FEATURES,
    edge_features,
    node_features,
)
from .interaction_gnn import InteractionGNN
from .mlp import make_mlp

__all__ = [
    "EDGE_FEATURE_NAMES",
    "NODE_FEATURE_NAMES",
    "NUM_EDGE_FEATURES",
    "NUM_NODE_FEATURES",
    "EdgeFilter",
    "InteractionGNN",
    "MetricEmbedding",
    "aggregate",
    "edge_features",
    "embedding_hinge_loss",
    "load_model",
    "make_mlp",
    "node_features",
    "read_checkpoint",
    "save_model",
]
