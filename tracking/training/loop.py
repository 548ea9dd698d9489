"""One epoch of training and one pass of validation: one event per step, class-weighted BCE, exact
partitioned steps for graphs over the memory budget, the learning-rate schedule."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import DistContext, all_reduce_sum
from ..metrics import roc
from .config import TrainConfig
from .datasets import GraphDataset, GraphSample
from .models import model_edge_width
from .partition import Partition, partition_graph

PHI_COLUMN, ETA_COLUMN = 1, 3  # in tracking.nn.features.node_features


def lr_factor(config: TrainConfig, progress: float) -> float:
    """Learning-rate multiplier at ``progress`` epochs (fractional) into the schedule."""
    s = config.schedule
    if s.warmup_epochs > 0 and progress < s.warmup_epochs:
        return 0.01 + 0.99 * progress / s.warmup_epochs
    if s.kind == "step":
        return s.gamma ** int(progress // s.step_size)
    if s.kind == "cosine":
        span = max(s.epochs - s.warmup_epochs, 1e-9)
        t = min(max((progress - s.warmup_epochs) / span, 0.0), 1.0)
        return s.min_lr_factor + (1 - s.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * t))
    return 1.0


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if config.optimizer.name == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=config.optimizer.lr, weight_decay=config.optimizer.weight_decay)


def plan_partitions(
    sample: GraphSample, hops: int, max_edges: int | None, n_regions: int | None = None
) -> list[Partition]:
    """The partitions of ``sample`` under an edge budget (one whole-graph partition within budget)."""
    return partition_graph(
        sample.edge_index,
        int(sample.x.shape[0]),
        sample.x[:, ETA_COLUMN],
        sample.x[:, PHI_COLUMN],
        hops,
        max_edges=max_edges,
        n_regions=n_regions,
    )


def graph_loss(
    model: nn.Module,
    sample: GraphSample,
    pos_weight: float,
    partitions: list[Partition],
    *,
    backward: bool,
    bf16: bool = False,
    no_sync: Any = None,
    displaced_weight: float = 1.0,
    short_weight: float = 1.0,
    non_target_weight: float = 1.0,
    non_target_label: float = 0.0,
) -> tuple[float, torch.Tensor | None]:
    """Class-weighted BCE of one graph, normalised by its edge count, summed over ``partitions``' owned
    edges. Edge weights: the true edges of displaced particles (``sample.displaced``) weigh
    ``displaced_weight``, those of particles with few hits (``sample.short``) ``short_weight`` (the product
    where both apply), the segments of particles below the target pT (``sample.non_target``)
    ``non_target_weight`` (and are trained towards ``non_target_label`` instead of 0). With ``backward`` the
    gradients accumulate partition by partition (``no_sync``, a DDP ``model.no_sync``, defers the all-reduce
    to the last one). Returns the loss and, without
    ``backward``, the logits of every edge (float32, full-graph order)."""
    total_edges = max(sample.num_edges, 1)
    device = sample.x.device
    weight = torch.tensor(pos_weight, dtype=sample.x.dtype, device=device)
    logits_all = None if backward else torch.zeros(sample.num_edges, dtype=torch.float32, device=device)
    width = model_edge_width(model)
    marked_weights = [
        (marked, factor)
        for marked, factor in (
            (sample.displaced, displaced_weight),
            (sample.short, short_weight),
            (sample.non_target, non_target_weight),
        )
        if marked is not None and factor != 1.0
    ]
    loss_sum = 0.0
    for j, part in enumerate(partitions):
        sync = contextlib.nullcontext() if (no_sync is None or j == len(partitions) - 1) else no_sync()
        with sync:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(sample.x[part.nodes], part.edge_index, sample.edge_attr[part.edges, :width])
            owned_logits = logits[part.owned].to(sample.x.dtype)
            labels = sample.y[part.edges][part.owned].to(sample.x.dtype)
            if non_target_label != 0.0 and sample.non_target is not None:
                labels = torch.where(sample.non_target[part.edges][part.owned], non_target_label, labels)
            edge_weight = None
            for marked, factor in marked_weights:
                w = torch.where(marked[part.edges][part.owned], factor, 1.0).to(sample.x.dtype)
                edge_weight = w if edge_weight is None else edge_weight * w
            loss = (
                F.binary_cross_entropy_with_logits(
                    owned_logits, labels, weight=edge_weight, pos_weight=weight, reduction="sum"
                )
                / total_edges
            )
            if backward:
                loss.backward()
            else:
                assert logits_all is not None
                logits_all[part.edges[part.owned]] = owned_logits.detach().float()
        loss_sum += float(loss.detach())
    return loss_sum, logits_all


@dataclass
class Trainee:
    """The model being trained and what every step needs besides the event."""

    model: nn.Module  # the model itself (validation, checkpoints)
    forward_model: nn.Module  # the model or its DDP wrapper (training steps)
    no_sync: Callable[[], contextlib.AbstractContextManager[Any]] | None
    optimizer: torch.optim.Optimizer
    pos_weight: float
    hops: int  # halo depth of exact partitions
    max_edges: int | None  # edge budget of one partition
    displaced_weight: float = 1.0  # loss weight of displaced particles' true edges (loss.displaced_weight)
    short_weight: float = 1.0  # loss weight of the true edges of particles with few hits (loss.short_weight)
    non_target_weight: float = 1.0  # loss weight of low-pT particles' segments (loss.non_target_weight)
    non_target_label: float = 0.0  # their target (loss.non_target_label)


def train_epoch(
    trainee: Trainee,
    dataset: GraphDataset,
    events: list[int],
    epoch: int,
    config: TrainConfig,
    device: torch.device,
    progress: bool,
) -> dict[str, float]:
    """One pass over this rank's ``events`` of ``dataset`` (one event per step, or one optimiser step per
    partition with ``schedule.steps_per_event``). Returns this rank's loss sum, partition count and
    largest partition."""
    from tqdm.auto import tqdm

    trainee.forward_model.train()
    loss_sum, n_parts, max_part_edges = 0.0, 0, 0
    steps = len(events)
    per_event = config.schedule.steps_per_event
    bar = tqdm(
        events, desc=f"epoch {epoch + 1}/{config.schedule.epochs}", unit="event", disable=not progress, file=sys.stderr
    )
    for step, index in enumerate(bar):
        sample = dataset[index].to(device)
        if per_event > 1:
            # one optimiser step per partition: the partition losses sum to the event's loss
            partitions = plan_partitions(sample, trainee.hops, trainee.max_edges, n_regions=per_event)
            updates = [[part] for part in partitions]
        else:
            partitions = plan_partitions(sample, trainee.hops, trainee.max_edges)
            updates = [partitions]
        loss = 0.0
        for k, group_parts in enumerate(updates):
            lr = config.optimizer.lr * lr_factor(config, epoch + (step + k / len(updates)) / max(steps, 1))
            for group in trainee.optimizer.param_groups:
                group["lr"] = lr
            trainee.optimizer.zero_grad(set_to_none=True)
            part_loss, _ = graph_loss(
                trainee.forward_model,
                sample,
                trainee.pos_weight,
                group_parts,
                backward=True,
                bf16=config.memory.bf16,
                no_sync=trainee.no_sync,
                displaced_weight=trainee.displaced_weight,
                short_weight=trainee.short_weight,
                non_target_weight=trainee.non_target_weight,
                non_target_label=trainee.non_target_label,
            )
            trainee.optimizer.step()
            loss += part_loss
        loss_sum += loss
        n_parts += len(partitions)
        max_part_edges = max(max_part_edges, max(p.num_edges for p in partitions))
        bar.set_postfix(loss=f"{loss:.4f}")
    bar.close()
    return {"loss_sum": loss_sum, "partitions": n_parts, "max_partition_edges": max_part_edges}


@torch.no_grad()
def validate(
    trainee: Trainee, dataset: GraphDataset, config: TrainConfig, ctx: DistContext, device: torch.device
) -> dict[str, float]:
    """Loss, edge efficiency and purity at ``config.score_cut``, ROC AUC and the efficiency reachable at
    ``config.target_purity`` (with its cut) over the validation graphs (each rank scores its share;
    counts and score histograms are summed over ranks). Efficiency and purity are relative to the true
    edges present in the built graphs."""
    model = trainee.model
    model.eval()
    loss_sum = tp = fp = fn = 0.0
    histogram = torch.zeros(2, roc.N_BINS, dtype=torch.float64)
    indices = list(range(ctx.rank, len(dataset), ctx.world))
    cut = torch.logit(torch.tensor(config.score_cut, dtype=torch.float64)).item() if 0 < config.score_cut < 1 else None
    for index in indices:
        sample = dataset[index].to(device)
        partitions = plan_partitions(sample, trainee.hops, trainee.max_edges)
        loss, logits = graph_loss(
            model,
            sample,
            trainee.pos_weight,
            partitions,
            backward=False,
            bf16=config.memory.bf16,
            displaced_weight=trainee.displaced_weight,
            short_weight=trainee.short_weight,
            non_target_weight=trainee.non_target_weight,
            non_target_label=trainee.non_target_label,
        )
        assert logits is not None
        scores_pass = torch.sigmoid(logits) > config.score_cut if cut is None else logits > cut
        truth = sample.y
        tp += int((scores_pass & truth).sum())
        fp += int((scores_pass & ~truth).sum())
        fn += int((~scores_pass & truth).sum())
        histogram += roc.logit_histogram(logits, truth).cpu()
        loss_sum += loss
    loss_sum, tp, fp, fn, n = all_reduce_sum([loss_sum, tp, fp, fn, len(indices)], ctx, device)
    counts = np.asarray(all_reduce_sum(histogram.flatten().tolist(), ctx, device)).reshape(2, roc.N_BINS)
    reachable, cut_at_purity = roc.efficiency_at_purity(counts, config.target_purity)
    model.train()
    return {
        "val_loss": loss_sum / max(n, 1),
        "val_efficiency": tp / (tp + fn) if tp + fn else float("nan"),
        "val_purity": tp / (tp + fp) if tp + fp else float("nan"),
        "val_true_edges": int(tp + fn),
        "val_auc": roc.auc(counts),
        "val_efficiency_at_purity": reachable,
        "val_cut_at_purity": cut_at_purity,
    }
