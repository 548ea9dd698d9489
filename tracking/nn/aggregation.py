"""Message aggregation: the scatter step of message passing (Battaglia et al. 2016, Interaction
Networks; the ACORN / Exa.TrkX ``InteractionGNN`` aggregates edge messages onto nodes this way).

Every model in :mod:`tracking.nn` aggregates through :func:`aggregate`, so there is exactly one place
that chooses between torch-scatter (when installed, probed once in :mod:`tracking.accel`) and native
torch (``index_add_`` / ``scatter_reduce``). Both give the same outputs; gradients agree too, except
for ``max`` when several messages of one node tie for the maximum (torch-scatter sends the whole
gradient to one of them, native torch shares it evenly) -- a measure-zero event with float data.
"""

from __future__ import annotations

from typing import Literal

import torch

from .. import accel
from . import fused

Reduce = Literal["sum", "mean", "max"]
Backend = Literal["auto", "native", "torch_scatter"]
REDUCTIONS: tuple[str, ...] = ("sum", "mean", "max")
BACKENDS: tuple[str, ...] = ("auto", "native", "torch_scatter")


def _check(messages: torch.Tensor, index: torch.Tensor, num_nodes: int, reduce: str, backend: str) -> None:
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce={reduce!r}: expected one of {', '.join(REDUCTIONS)}")
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {', '.join(BACKENDS)}")
    if messages.ndim < 1:
        raise ValueError("messages must have shape [E, ...], got a scalar")
    if index.ndim != 1 or index.dtype != torch.int64:
        raise ValueError(f"index must be a 1-d int64 tensor, got shape {tuple(index.shape)} dtype {index.dtype}")
    if index.shape[0] != messages.shape[0]:
        raise ValueError(f"index has {index.shape[0]} entries but messages has {messages.shape[0]} rows")
    if index.device != messages.device:
        raise ValueError(f"index is on {index.device} but messages is on {messages.device}")
    if num_nodes < 0:
        raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")


def _native(messages: torch.Tensor, index: torch.Tensor, num_nodes: int, reduce: str) -> torch.Tensor:
    shape = (num_nodes, *messages.shape[1:])
    if reduce == "max":
        expanded = index.view(-1, *([1] * (messages.ndim - 1))).expand_as(messages)
        # include_self=False: a node without messages keeps the zero it starts with (torch-scatter's convention).
        return messages.new_zeros(shape).scatter_reduce(0, expanded, messages, "amax", include_self=False)
    # sum in edge order, as index_add does: the fused kernel where it applies (inference on the CPU)
    out = fused.index_add(messages, index, num_nodes)
    if reduce == "mean":
        count = torch.zeros(num_nodes, dtype=messages.dtype, device=messages.device)
        count.index_add_(0, index, torch.ones_like(index, dtype=messages.dtype))
        out = out / count.clamp(min=1).view(-1, *([1] * (messages.ndim - 1)))
    return out


def _torch_scatter(messages: torch.Tensor, index: torch.Tensor, num_nodes: int, reduce: str) -> torch.Tensor:
    torch_scatter = accel.require_torch_scatter()
    return torch_scatter.scatter(messages, index, dim=0, dim_size=num_nodes, reduce=reduce)


def aggregate(
    messages: torch.Tensor,
    index: torch.Tensor,
    num_nodes: int,
    reduce: Reduce = "sum",
    *,
    backend: Backend = "auto",
) -> torch.Tensor:
    r"""Reduce the rows of ``messages`` onto ``num_nodes`` nodes: :math:`out_i = \bigoplus_{e: index_e = i} m_e`.

    Args:
        messages: ``[E, F]`` (or ``[E, ...]``) per-edge messages.
        index: int64 ``[E]``, the node each message goes to (e.g. ``edge_index[1]`` for incoming).
        num_nodes: number of output rows (nodes with no message get zeros for every reduction).
        reduce: ``"sum"``, ``"mean"`` or ``"max"``.
        backend: ``"auto"`` (torch-scatter when installed, else native), ``"native"`` or
            ``"torch_scatter"`` (raises with the install command when it is missing).

    Returns:
        ``[num_nodes, F]`` tensor of ``messages``' dtype and device, differentiable w.r.t. ``messages``.
    """
    _check(messages, index, num_nodes, reduce, backend)
    use_scatter = backend == "torch_scatter" or (backend == "auto" and accel.TORCH_SCATTER)
    if use_scatter:
        return _torch_scatter(messages, index, num_nodes, reduce)
    return _native(messages, index, num_nodes, reduce)
