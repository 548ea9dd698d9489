"""Training of the edge classifiers: ``trackpipe train CONFIG`` (one process, ``--nproc N`` local
ranks, or under ``torchrun``), with exact partitioned steps for graphs over a memory budget.

- :mod:`.config`: the YAML configuration (documented there) -> :class:`TrainConfig`
- :mod:`.data`: events -> graphs (features, edges, edge truth), cached per event
- :mod:`.partition`: η–φ partitions with k-hop halos that keep loss and gradients exact
- :mod:`.distributed`: process groups, clean shutdown, the local ``--nproc`` launcher
- :mod:`.trainer`: the loop: :func:`train`
"""

from __future__ import annotations

from .config import TrainConfig, load_config, parse_config
from .datasets import GraphBuilder, GraphDataset, GraphSample
from ..distributed import DistContext, env_context, launch_local
from .partition import Partition, build_partitions, k_hop_nodes, partition_graph, region_of_edges
from .trainer import (
    CrashForTesting,
    TrainResult,
    build_model,
    graph_loss,
    message_passing_hops,
    param_digest,
    plan_partitions,
    train,
)

__all__ = [
    "CrashForTesting",
    "DistContext",
    "GraphBuilder",
    "GraphDataset",
    "GraphSample",
    "Partition",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "build_partitions",
    "env_context",
    "graph_loss",
    "k_hop_nodes",
    "launch_local",
    "load_config",
    "message_passing_hops",
    "param_digest",
    "parse_config",
    "partition_graph",
    "plan_partitions",
    "region_of_edges",
    "train",
]
