"""``trackpipe train``: graphs prepared, model built or resumed, epochs run, outputs written.

The pieces live beside it: :mod:`.models` (which models train, and how they are built),
:mod:`.loop` (one epoch, validation, the schedule), :mod:`.checkpoints` (outputs and resume),
:mod:`.ddp` (this rank's device, process group and model wrapper).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..distributed import DistContext, all_gather_object, all_reduce_sum, barrier, env_context
from ..errors import ConfigError
from .checkpoints import ResumeState, clear_previous_run, param_digest, resume_from_checkpoint, save_epoch, save_final
from .config import TrainConfig, import_modules
from .datasets import GraphDataset, TrainingGraphs
from .ddp import JobResources, data_parallel, training_device, training_job
from .loop import Trainee, lr_factor, make_optimizer, train_epoch, validate
from .models import build_model, edge_budget, message_passing_hops

#: Called with the number of finished epochs once that epoch's checkpoint is on disk on every rank.
EpochCallback = Callable[[int], None]


@dataclass
class TrainResult:
    """What a finished :func:`train` returns (on every rank)."""

    output: Path
    epochs_run: list[int] = field(default_factory=list)  # epochs trained by this call (0-based)
    resumed_from: int = 0  # epochs already done when this call started
    history: list[dict[str, Any]] = field(default_factory=list)
    param_digest: str = ""


def init_weights(model: torch.nn.Module, path: Path) -> None:
    """Start ``model`` from the weights of the model file ``path`` (``model.pt``/``checkpoint.pt`` of a
    model of the same kind and size); a file of another model or size is a :class:`DataError` naming it."""
    from ..errors import DataError
    from ..nn.checkpoint import read_checkpoint

    try:
        model.load_state_dict(read_checkpoint(path)["state_dict"], strict=True)
    except (RuntimeError, TypeError) as err:
        raise DataError(
            f"key 'init_from': its weights do not fit the model {type(model).__name__} of this config ({err})",
            file=str(path),
        ) from None


def train(
    config: TrainConfig, *, resume: bool = True, progress: bool = True, on_epoch_end: EpochCallback | None = None
) -> TrainResult:
    """Train the configured model; see :mod:`tracking.training.config` for the configuration.

    Runs as one process, or as one rank of a DDP job when torchrun's environment variables are set
    (``--nproc`` sets them too). Writes ``checkpoint.pt`` after every epoch (rank 0, atomically),
    ``metrics.jsonl``, and at the end ``model.pt`` (loadable as the ``checkpoint:`` of the
    ``interaction_gnn`` / ``edge_filter`` edge classifiers) and ``summary.json``. With ``resume``
    (default) an existing checkpoint in the output directory is continued from its last epoch.
    ``on_epoch_end`` sees each finished epoch (an exception from it ends the run, checkpoint kept).
    """
    ctx = env_context()
    device = training_device(config.device, ctx)
    import_modules(config.imports)
    with training_job(ctx, device) as resources:
        try:
            return _train(
                config,
                ctx,
                device,
                resources,
                resume=resume,
                progress=progress and ctx.is_main,
                on_epoch_end=on_epoch_end,
            )
        except BaseException as err:
            # The traceback keeps _train's frame, and with it the DDP model, alive through shutdown.
            traceback.clear_frames(err.__traceback__)
            raise


def prepare_graphs(
    config: TrainConfig, ctx: DistContext, device: torch.device, progress: bool
) -> dict[str, GraphDataset]:
    """The train (and val) graph datasets, built where missing: sharded over ranks when cached on disk."""
    datasets = {"train": GraphDataset(config, "train", config.data.train)}
    if config.data.val is not None:
        datasets["val"] = GraphDataset(config, "val", config.data.val)
    graphs = TrainingGraphs(config, device)
    for dataset in datasets.values():
        dataset.prepare(graphs, _my_share(len(dataset), config, ctx), progress=progress)
    barrier(ctx)
    if len(datasets["train"]) == 0:
        raise ConfigError("data.train has no events")
    return datasets


def _my_share(n: int, config: TrainConfig, ctx: DistContext) -> list[int]:
    """The indices this rank handles: a share of a disk cache, every one of a per-rank memory cache."""
    return list(range(ctx.rank, n, ctx.world)) if config.data.cache == "disk" else list(range(n))


def positive_weight(config: TrainConfig, train_set: GraphDataset, ctx: DistContext, device: torch.device) -> float:
    """``loss.pos_weight``; ``auto``: n_false / n_true over the training graphs (1 without true edges)."""
    if config.loss.pos_weight != "auto":
        return float(config.loss.pos_weight)
    counts = train_set.label_counts(_my_share(len(train_set), config, ctx))
    n_true, n_false = all_reduce_sum(list(counts), ctx, device) if config.data.cache == "disk" else counts
    return float(n_false / n_true) if n_true > 0 else 1.0


def _train(
    config: TrainConfig,
    ctx: DistContext,
    device: torch.device,
    resources: JobResources,
    *,
    resume: bool,
    progress: bool,
    on_epoch_end: EpochCallback | None,
) -> TrainResult:
    from torch.utils.data.distributed import DistributedSampler

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    datasets = prepare_graphs(config, ctx, device, progress)
    train_set = datasets["train"]
    pos_weight = positive_weight(config, train_set, ctx, device)

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    if config.init_from is not None:  # fine-tuning; a resumed run then overwrites these weights
        init_weights(model, config.init_from)
    optimizer = make_optimizer(config, model)
    state = ResumeState()
    if resume:
        state = resume_from_checkpoint(output, model, optimizer)
    elif ctx.is_main:
        clear_previous_run(output)
    barrier(ctx)
    if state.pos_weight is not None:
        pos_weight = state.pos_weight

    forward_model, no_sync = data_parallel(model, ctx, device)
    if forward_model is not model:
        resources.ddp_models.append(forward_model)
    resources.optimizers.append(optimizer)
    trainee = Trainee(
        model,
        forward_model,
        no_sync,
        optimizer,
        pos_weight,
        message_passing_hops(model),
        edge_budget(config, model),
        config.loss.displaced_weight,
        config.loss.short_weight,
        config.loss.non_target_weight,
        config.loss.non_target_label,
    )

    sampler: DistributedSampler[int] = DistributedSampler(
        train_set,  # type: ignore[arg-type]  # a map-style dataset without subclassing torch's
        num_replicas=ctx.world,
        rank=ctx.rank,
        shuffle=True,
        seed=config.seed,
    )
    history = state.history
    result = TrainResult(output=output, resumed_from=state.epoch, history=history)
    for epoch in range(state.epoch, config.schedule.epochs):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        events = list(sampler)
        local = train_epoch(trainee, train_set, events, epoch, config, device, progress)
        train_seconds = time.perf_counter() - started
        train_loss, train_steps = all_reduce_sum([local["loss_sum"], len(events)], ctx, device)
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": config.optimizer.lr * lr_factor(config, epoch + 1),
            "train_loss": train_loss / max(train_steps, 1),
            "partitions_per_event": local["partitions"] / max(len(events), 1),
            "max_partition_edges": local["max_partition_edges"],
            "pos_weight": pos_weight,
        }
        if "val" in datasets:
            row.update(validate(trainee, datasets["val"], config, ctx, device))
        row["seconds"] = time.perf_counter() - started
        row["train_seconds"] = train_seconds  # without validation
        history.append(row)
        if ctx.is_main:
            save_epoch(output, model, optimizer, history, pos_weight, config)
            if progress:
                shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float))
                print(f"epoch {epoch + 1}: {shown}", file=sys.stderr)
        barrier(ctx)
        result.epochs_run.append(epoch)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)

    result.param_digest = param_digest(model)
    digests = all_gather_object(result.param_digest, ctx)
    if ctx.is_main:
        summary = {
            "epochs": len(history),
            "resumed_from": state.epoch,
            "world_size": ctx.world,
            "device": str(device),
            "param_digests": digests,
            "params_in_sync": len(set(digests)) == 1,
            "final": history[-1] if history else None,
        }
        save_final(output, model, history, config, summary)
    barrier(ctx)
    return result
