"""The training loop of ``trackpipe train``: one event per step, class-weighted BCE, per-epoch validation,
atomic checkpoints with resume, DDP across processes, exact partitioned steps for graphs over budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn import EdgeFilter, InteractionGNN, read_checkpoint, save_model
from ..nn.features import EDGE_FEATURE_WIDTHS, NUM_EDGE_FEATURES, NUM_NODE_FEATURES
from ..pipeline import resolve_device
from ..atomic import atomic_output
from .config import TrainConfig
from .datasets import GraphBuilder, GraphDataset, GraphSample
from ..distributed import (
    DistContext,
    all_gather_object,
    all_reduce_sum,
    barrier,
    env_context,
    init_process_group,
    shutdown,
)
from .partition import Partition, partition_graph

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
SUMMARY_NAME = "summary.json"
PHI_COLUMN, ETA_COLUMN = 1, 3  # in tracking.nn.features.node_features


class CrashForTesting(RuntimeError):
    """Raised by ``debug.crash_after_epoch`` after that epoch's checkpoint is on disk."""


@dataclass
class TrainResult:
    """What a finished :func:`train` returns (on every rank)."""

    output: Path
    epochs_run: list[int] = field(default_factory=list)  # epochs trained by this call (0-based)
    resumed_from: int = 0  # epochs already done when this call started
    history: list[dict[str, Any]] = field(default_factory=list)
    param_digest: str = ""


# -- building blocks ---------------------------------------------------------------------------------


def import_modules(names: list[str]) -> None:
    """Import plugin modules named by dotted name or ``.py`` path (each once per process)."""
    for name in names:
        if not name.endswith(".py"):
            importlib.import_module(name)
            continue
        path = Path(name).resolve()
        module_name = "trackpipe_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if module_name in sys.modules:
            continue
        if not path.is_file():
            raise ConfigError(f"imports: file {path} not found")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[module_name]
            raise


def model_edge_width(model: nn.Module) -> int:
    """Edge-feature columns ``model`` (or the model inside a DDP wrapper) takes: 0, 7 or 10."""
    return int(getattr(getattr(model, "module", model), "edge_features", 0) or 0)


def build_model(config: TrainConfig) -> nn.Module:
    """The configured model with freshly initialised weights (seeded by the caller)."""
    hparams = dict(config.model.hparams)
    for fixed in ("node_features",):
        if fixed in hparams:
            raise ConfigError(f"model: key {fixed!r} is set by tracking.nn.features ({NUM_NODE_FEATURES}); remove it")
    edge_features = hparams.pop("edge_features", NUM_EDGE_FEATURES)
    if edge_features not in EDGE_FEATURE_WIDTHS:
        raise ConfigError(
            f"model: key 'edge_features' must be one of {', '.join(map(str, EDGE_FEATURE_WIDTHS))} "
            f"(0 = no edge inputs, 7 = doublet features only, {NUM_EDGE_FEATURES} = all), got {edge_features!r}"
        )
    cls: type[nn.Module] = InteractionGNN if config.model.name == "interaction_gnn" else EdgeFilter
    if cls is InteractionGNN:
        hparams.setdefault("checkpoint_iterations", config.memory.checkpoint_iterations)
    try:
        return cls(node_features=NUM_NODE_FEATURES, edge_features=edge_features, **hparams)
    except TypeError as err:
        raise ConfigError(f"model {config.model.name}: {err}") from err
    except ValueError as err:
        raise ConfigError(f"model {config.model.name}: {err}") from err


def message_passing_hops(model: nn.Module) -> int:
    """Halo depth that makes partitions exact: the GNN's iterations; 0 for per-edge models."""
    return int(getattr(model, "n_iterations", 0))


def bytes_per_edge(model: nn.Module, checkpointing: bool) -> int:
    """Rough training activation bytes per edge, to turn ``memory.max_bytes`` into an edge budget.

    Per iteration the InteractionGNN keeps the edge MLP's input (3 hidden) and each layer's linear,
    LayerNorm and activation outputs (3 hidden per layer) for the edges, float32; nodes are fewer than
    edges in tracking graphs and are folded into a factor 1.5. With checkpointing only the iteration
    boundaries stay alive, plus one iteration being recomputed.
    """
    h = model.hparams
    if isinstance(model, InteractionGNN):
        per_iteration = 4 * h["hidden"] * (3 + 3 * h["mlp_layers"] + 1)
        kept = 1 + (2 if checkpointing else h["n_iterations"] + 1)
        return int(1.5 * per_iteration * kept)
    return int(4 * h["hidden"] * 3 * h["n_layers"] * 1.5)


def edge_budget(config: TrainConfig, model: nn.Module) -> int | None:
    budgets = []
    if config.memory.max_edges is not None:
        budgets.append(config.memory.max_edges)
    if config.memory.max_bytes is not None:
        budgets.append(max(1, config.memory.max_bytes // bytes_per_edge(model, config.memory.checkpoint_iterations)))
    return min(budgets) if budgets else None


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


def plan_partitions(sample: GraphSample, hops: int, max_edges: int | None, n_regions: int | None = None) -> list[Partition]:
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
) -> tuple[float, torch.Tensor | None]:
    """Class-weighted BCE of one graph, normalised by its edge count, summed over ``partitions``'
    owned edges; with ``backward`` the gradients accumulate partition by partition (``no_sync``, a
    DDP ``model.no_sync``, defers the all-reduce to the last one). Returns the loss and, without
    ``backward``, the logits of every edge (float32, full-graph order)."""
    total_edges = max(sample.num_edges, 1)
    device = sample.x.device
    weight = torch.tensor(pos_weight, dtype=sample.x.dtype, device=device)
    logits_all = None if backward else torch.zeros(sample.num_edges, dtype=torch.float32, device=device)
    loss_sum = 0.0
    for j, part in enumerate(partitions):
        sync = contextlib.nullcontext() if (no_sync is None or j == len(partitions) - 1) else no_sync()
        with sync:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(sample.x[part.nodes], part.edge_index, sample.edge_attr[part.edges, : model_edge_width(model)])
            owned_logits = logits[part.owned].to(sample.x.dtype)
            labels = sample.y[part.edges][part.owned].to(sample.x.dtype)
            loss = F.binary_cross_entropy_with_logits(owned_logits, labels, pos_weight=weight, reduction="sum") / total_edges
            if backward:
                loss.backward()
            else:
                logits_all[part.edges[part.owned]] = owned_logits.detach().float()
        loss_sum += float(loss.detach())
    return loss_sum, logits_all


def param_digest(model: nn.Module) -> str:
    """sha256 of every parameter's bytes in name order: equal digests mean bitwise-equal weights."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in history))


# -- the loop ----------------------------------------------------------------------------------------


def _device_for(config: TrainConfig, ctx: DistContext) -> torch.device:
    device = resolve_device(config.device)
    if device.type == "cuda" and ctx.distributed:
        device = torch.device("cuda", ctx.local_rank % max(torch.cuda.device_count(), 1))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def train(config: TrainConfig, *, resume: bool = True, progress: bool = True) -> TrainResult:
    """Train the configured model; see :mod:`tracking.training.config` for the configuration.

    Runs as one process, or as one rank of a DDP job when torchrun's environment variables are set
    (``--nproc`` sets them too). Writes ``checkpoint.pt`` after every epoch (rank 0, atomically),
    ``metrics.jsonl``, and at the end ``model.pt`` (loadable as the ``checkpoint:`` of the
    ``interaction_gnn`` / ``edge_filter`` edge classifiers) and ``summary.json``. With ``resume``
    (default) an existing checkpoint in the output directory is continued from its last epoch.
    """
    ctx = env_context()
    device = _device_for(config, ctx)
    import_modules(config.imports)
    init_process_group(ctx, device)
    holders: list[list] = [[], []]  # DDP model, optimiser: dropped before leaving the group
    # Measured: with 2 intra-op threads the CPU backward of x[index] (index_put_ with accumulate)
    # differs in the last bit between identical runs; the deterministic kernels make same seed ->
    # same model hold. CUDA scatter has no deterministic kernel, so GPU runs stay nondeterministic.
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        return _train(config, ctx, device, resume, progress and ctx.is_main, holders)
    except BaseException as err:
        # The traceback keeps _train's frame, and with it the DDP model, alive through shutdown.
        traceback.clear_frames(err.__traceback__)
        raise
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        shutdown(*holders)


def _train(
    config: TrainConfig, ctx: DistContext, device: torch.device, resume: bool, progress: bool, holders: list[list]
) -> TrainResult:
    from tqdm.auto import tqdm

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    checkpoint_path = output / CHECKPOINT_NAME

    # Graphs: built once, sharded over ranks when cached on disk.
    datasets = {"train": GraphDataset(config, "train", config.data.train)}
    if config.data.val is not None:
        datasets["val"] = GraphDataset(config, "val", config.data.val)
    builder = GraphBuilder(config, device)
    shared = config.data.cache == "disk"
    for ds in datasets.values():
        mine = list(range(ctx.rank, len(ds), ctx.world)) if shared else list(range(len(ds)))
        ds.prepare(builder, mine, progress=progress)
    barrier(ctx)
    if len(datasets["train"]) == 0:
        raise ConfigError("data.train has no events")
    del builder

    train_set = datasets["train"]
    if config.pos_weight == "auto":
        mine = list(range(ctx.rank, len(train_set), ctx.world)) if shared else list(range(len(train_set)))
        n_true, n_false = train_set.label_counts(mine)
        if shared:
            n_true, n_false = all_reduce_sum([n_true, n_false], ctx, device)
        pos_weight = float(n_false / n_true) if n_true > 0 else 1.0
    else:
        pos_weight = float(config.pos_weight)

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = make_optimizer(config, model)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume and checkpoint_path.is_file():
        payload = read_checkpoint(checkpoint_path, map_location="cpu")
        if payload["model"] != type(model).__name__ or payload["hparams"] != model.hparams:
            raise ConfigError(
                f"{checkpoint_path} holds a {payload['model']}{payload['hparams']}, but the config asks for "
                f"{type(model).__name__}{model.hparams}; use --no-resume or another output directory"
            )
        model.load_state_dict(payload["state_dict"])
        extra = payload["extra"]
        optimizer.load_state_dict(extra["optimizer"])
        torch.set_rng_state(extra["rng"])
        start_epoch = int(extra["epoch"])
        history = list(extra["history"])
        pos_weight = float(extra.get("pos_weight", pos_weight))
    elif not resume and ctx.is_main:
        for stale in (checkpoint_path, output / METRICS_NAME, output / MODEL_NAME, output / SUMMARY_NAME):
            stale.unlink(missing_ok=True)
    barrier(ctx)

    hops = message_passing_hops(model)
    max_edges = edge_budget(config, model)
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        forward_model, no_sync = ddp, ddp.no_sync
    else:
        ddp, forward_model, no_sync = None, model, None
    holders[0].append(ddp)
    holders[1].append(optimizer)

    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=config.seed)
    steps = len(sampler)
    result = TrainResult(output=output, resumed_from=start_epoch, history=history)
    for epoch in range(start_epoch, config.schedule.epochs):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        forward_model.train()
        loss_sum, n_parts, max_part_edges = 0.0, 0, 0
        bar = tqdm(list(sampler), desc=f"epoch {epoch + 1}/{config.schedule.epochs}", unit="event", disable=not progress, file=sys.stderr)
        per_event = config.schedule.steps_per_event
        for step, index in enumerate(bar):
            sample = train_set[index].to(device)
            if per_event > 1:
                # one optimiser step per partition: the partition losses sum to the event's loss
                partitions = plan_partitions(sample, hops, max_edges, n_regions=per_event)
                updates = [[part] for part in partitions]
            else:
                partitions = plan_partitions(sample, hops, max_edges)
                updates = [partitions]
            loss = 0.0
            for k, group_parts in enumerate(updates):
                lr = config.optimizer.lr * lr_factor(config, epoch + (step + k / len(updates)) / max(steps, 1))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                part_loss, _ = graph_loss(
                    forward_model, sample, pos_weight, group_parts, backward=True, bf16=config.memory.bf16, no_sync=no_sync
                )
                optimizer.step()
                loss += part_loss
            loss_sum += loss
            n_parts += len(partitions)
            max_part_edges = max(max_part_edges, max(p.num_edges for p in partitions))
            bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        train_loss, train_steps = all_reduce_sum([loss_sum, steps], ctx, device)
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": config.optimizer.lr * lr_factor(config, epoch + 1),
            "train_loss": train_loss / max(train_steps, 1),
            "partitions_per_event": n_parts / max(steps, 1),
            "max_partition_edges": max_part_edges,
            "pos_weight": pos_weight,
        }
        if "val" in datasets:
            row.update(validate(model, datasets["val"], pos_weight, config, ctx, device, hops, max_edges))
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        if ctx.is_main:
            save_model(
                model,
                checkpoint_path,
                extra={
                    "epoch": epoch + 1,
                    "optimizer": optimizer.state_dict(),
                    "rng": torch.get_rng_state(),
                    "history": history,
                    "pos_weight": pos_weight,
                    "config": config.to_plain(),
                },
            )
            _write_metrics(output / METRICS_NAME, history)
            if progress:
                shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float))
                print(f"epoch {epoch + 1}: {shown}", file=sys.stderr)
        barrier(ctx)
        result.epochs_run.append(epoch)
        if config.crash_after_epoch is not None and epoch + 1 == config.crash_after_epoch:
            raise CrashForTesting(f"debug.crash_after_epoch={config.crash_after_epoch}: stopping after epoch {epoch + 1}")

    result.param_digest = param_digest(model)
    digests = all_gather_object(result.param_digest, ctx)
    if ctx.is_main:
        save_model(model, output / MODEL_NAME, extra={"training": {"history": history, "config": config.to_plain()}})
        summary = {
            "epochs": len(history),
            "resumed_from": start_epoch,
            "world_size": ctx.world,
            "device": str(device),
            "param_digests": digests,
            "params_in_sync": len(set(digests)) == 1,
            "final": history[-1] if history else None,
        }
        with atomic_output(output / SUMMARY_NAME) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    barrier(ctx)
    return result


@torch.no_grad()
def validate(
    model: nn.Module,
    dataset: GraphDataset,
    pos_weight: float,
    config: TrainConfig,
    ctx: DistContext,
    device: torch.device,
    hops: int,
    max_edges: int | None,
) -> dict[str, float]:
    """Loss, edge efficiency and purity at ``config.score_cut`` over the validation graphs (each rank
    scores its share; counts are summed over ranks). Efficiency and purity are relative to the true
    edges present in the built graphs."""
    model.eval()
    loss_sum = tp = fp = fn = 0.0
    indices = list(range(ctx.rank, len(dataset), ctx.world))
    cut = torch.logit(torch.tensor(config.score_cut, dtype=torch.float64)).item() if 0 < config.score_cut < 1 else None
    for index in indices:
        sample = dataset[index].to(device)
        loss, logits = graph_loss(model, sample, pos_weight, plan_partitions(sample, hops, max_edges), backward=False, bf16=config.memory.bf16)
        scores_pass = torch.sigmoid(logits) > config.score_cut if cut is None else logits > cut
        truth = sample.y
        tp += int((scores_pass & truth).sum())
        fp += int((scores_pass & ~truth).sum())
        fn += int((~scores_pass & truth).sum())
        loss_sum += loss
    loss_sum, tp, fp, fn, n = all_reduce_sum([loss_sum, tp, fp, fn, len(indices)], ctx, device)
    model.train()
    return {
        "val_loss": loss_sum / max(n, 1),
        "val_efficiency": tp / (tp + fn) if tp + fn else float("nan"),
        "val_purity": tp / (tp + fp) if tp + fp else float("nan"),
        "val_true_edges": int(tp + fn),
    }
