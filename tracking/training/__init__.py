"""Training of the edge classifiers: ``trackpipe train CONFIG`` (one process, ``--nproc N`` local
ranks, or under ``torchrun``), with exact partitioned steps for graphs over a memory budget.

- :mod:`.config`: the YAML configuration, one dataclass per section -> :class:`TrainConfig`
- :mod:`.models`: which registered models train (the model contract) and how they are built
- :mod:`.datasets`: events -> labelled graphs (features, edges, edge truth), cached per event
- :mod:`.partition`: η–φ partitions with k-hop halos that keep loss and gradients exact
- :mod:`.loop`: one epoch, validation, the learning-rate schedule
- :mod:`.checkpoints`: the output directory: checkpoints, metrics, final model, resume
- :mod:`.ddp`: this rank's device, process group and DDP wrapper
- :mod:`.trainer`: the run: :func:`train`
"""

from __future__ import annotations

from ..distributed import DistContext, env_context, launch_local
from .checkpoints import param_digest
from .config import TrainConfig, load_config, parse_config
from .datasets import GraphDataset, GraphSample, TrainingGraphs
from .loop import graph_loss, plan_partitions
from .models import build_model, message_passing_hops
from .partition import Partition, build_partitions, k_hop_nodes, partition_graph, region_of_edges
from .trainer import TrainResult, train

__all__ = [
    "DistContext",
    "GraphDataset",
    "GraphSample",
    "Partition",
    "TrainConfig",
    "TrainResult",
    "TrainingGraphs",
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
