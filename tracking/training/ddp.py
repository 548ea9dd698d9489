"""A training process's place in a DDP job: its device, its process group, and the model wrapper.

The job-level helpers (rank context, process groups, collectives, the local launcher) live in
:mod:`tracking.distributed`, shared with sharded inference; this module holds what only training needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..distributed import DistContext, init_process_group, shutdown
from ..pipeline import resolve_device


def training_device(spec: str, ctx: DistContext) -> torch.device:
    """The device of this rank: ``spec`` resolved, and under DDP on CUDA the GPU of ``LOCAL_RANK``."""
    device = resolve_device(spec)
    if device.type == "cuda" and ctx.distributed:
        device = torch.device("cuda", ctx.local_rank % max(torch.cuda.device_count(), 1))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


@dataclass
class JobResources:
    """What must be dropped before the process group is destroyed (see :func:`tracking.distributed.shutdown`)."""

    ddp_models: list[Any] = field(default_factory=list)
    optimizers: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def training_job(ctx: DistContext, device: torch.device) -> Iterator[JobResources]:
    """Join the process group for the duration of a training run, with deterministic CPU kernels.

    Measured: with 2 intra-op threads the CPU backward of x[index] (index_put_ with accumulate) differs
    in the last bit between identical runs; the deterministic kernels make same seed -> same model hold.
    CUDA scatter has no deterministic kernel, so GPU runs stay nondeterministic.
    """
    init_process_group(ctx, device)
    resources = JobResources()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield resources
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        shutdown(resources.ddp_models, resources.optimizers)


def data_parallel(
    model: nn.Module, ctx: DistContext, device: torch.device
) -> tuple[nn.Module, Callable[[], contextlib.AbstractContextManager[Any]] | None]:
    """``(forward model, no_sync)``: the DDP wrapper of ``model`` and its ``no_sync`` (which defers the
    gradient all-reduce) under DDP; ``model`` itself and None for one process."""
    if not ctx.distributed:
        return model, None
    from torch.nn.parallel import DistributedDataParallel

    ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    return ddp, ddp.no_sync
