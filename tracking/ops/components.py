"""Track-building kernels: connected components, junction removal, walk-through.

Every function takes numpy arrays or torch tensors (CPU or CUDA) and returns the same kind on the same
device. Conventions, shared with the kernels (``csrc/include/trackpipe/components.hpp``):

- ``edge_index`` is int64 ``[2, E]``, directed inner -> outer, every index in ``[0, num_nodes)``;
- an edge is *kept* when its score is strictly greater than ``cut`` (a NaN score is never kept);
- labels are int64, compacted to ``0..k-1`` and numbered by the smallest node index of each group, so
  that CPU and CUDA results are identical arrays; ``-1`` = on no track.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from ..arrays import as_numpy, cuda_stream, dtype_name
from .._native import core

__all__ = ["connected_components", "junction_removal", "walkthrough"]

Array = Any  # np.ndarray or torch.Tensor


# -- validation ------------------------------------------------------------------------------------
def _kind(name: str, value: Array) -> str:
    if isinstance(value, torch.Tensor):
        return "cuda" if value.is_cuda else "torch"
    if isinstance(value, np.ndarray):
        return "numpy"
    raise ValueError(f"{name}: expected a numpy array or a torch tensor, got {type(value).__name__}")


def _check_same_place(name: str, value: Array, ref_name: str, ref: Array) -> None:
    kind, ref_kind = _kind(name, value), _kind(ref_name, ref)
    if kind != ref_kind or (kind == "cuda" and value.device != ref.device):
        where = str(value.device) if isinstance(value, torch.Tensor) else "numpy"
        ref_where = str(ref.device) if isinstance(ref, torch.Tensor) else "numpy"
        raise ValueError(f"{name} is on {where} ({kind}) but {ref_name} is on {ref_where} ({ref_kind})")


def _contiguous(value: Array) -> Array:
    return value.contiguous() if isinstance(value, torch.Tensor) else np.ascontiguousarray(value)


def _count(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _cut(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(float(value)):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    return float(value)


def _edge_index(edge_index: Array, num_nodes: int) -> Array:
    _kind("edge_index", edge_index)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index: expected shape [2, E], got {tuple(edge_index.shape)}")
    if dtype_name(edge_index) != "int64":
        raise ValueError(f"edge_index: expected dtype int64, got {dtype_name(edge_index)}")
    if edge_index.shape[1] > 0:
        # One pass: seen as unsigned, a negative index is huge, so a single max catches both ends.
        if isinstance(edge_index, torch.Tensor):
            low_t, high_t = torch.aminmax(edge_index)
            in_range = int(low_t) >= 0 and int(high_t) < num_nodes
        else:
            in_range = int(edge_index.view(np.uint64).max()) < num_nodes
        if not in_range:
            low, high = int(edge_index.min()), int(edge_index.max())
            raise ValueError(
                f"edge_index: node indices must lie in [0, num_nodes={num_nodes}), found range [{low}, {high}]"
            )
    return _contiguous(edge_index)


def _scores(scores: Array, edge_index: Array) -> Array:
    _check_same_place("scores", scores, "edge_index", edge_index)
    if scores.ndim != 1 or scores.shape[0] != edge_index.shape[1]:
        raise ValueError(f"scores: expected shape [{edge_index.shape[1]}] (one per edge), got {tuple(scores.shape)}")
    if dtype_name(scores) != "float32":
        raise ValueError(f"scores: expected dtype float32, got {dtype_name(scores)}")
    return _contiguous(scores)


def _empty_like_kind(ref: Array, size: int, dtype: str) -> Array:
    if isinstance(ref, torch.Tensor):
        return torch.empty(size, dtype=getattr(torch, dtype), device=ref.device)
    return np.empty(size, dtype=dtype)


# -- public API ------------------------------------------------------------------------------------
def connected_components(
    edge_index: Array, num_nodes: int, scores: Array | None = None, cut: float = 0.5, min_hits: int = 1
) -> Array:
    """Connected-component label of every node, on the edges whose score is > ``cut``.

    Args:
        edge_index: int64 ``[2, E]``; the direction of an edge is ignored.
        num_nodes: number of nodes N; every index in ``edge_index`` must be below it.
        scores: float32 ``[E]``, or None to keep every edge.
        cut: an edge is kept when ``scores > cut`` (strictly).
        min_hits: components with fewer nodes are labelled -1.

    Returns:
        int64 ``[N]`` labels ``0..k-1`` numbered by each component's smallest node index, -1 for
        components smaller than ``min_hits``; same kind and device as ``edge_index``.
        Self-loops and duplicate edges are allowed. CPU and CUDA return identical labels.
    """
    num_nodes = _count("num_nodes", num_nodes)
    min_hits = _count("min_hits", min_hits)
    cut = _cut("cut", cut)
    edge_index = _edge_index(edge_index, num_nodes)
    if scores is not None:
        scores = _scores(scores, edge_index)
    labels = _empty_like_kind(edge_index, num_nodes, "int64")
    if num_nodes == 0:
        return labels
    num_edges = edge_index.shape[1]
    if _kind("edge_index", edge_index) == "cuda":
        with torch.cuda.device(edge_index.device):
            core.connected_components_cuda(
                edge_index.data_ptr(),
                edge_index.data_ptr() + 8 * num_edges,
                num_edges,
                0 if scores is None else scores.data_ptr(),
                cut,
                num_nodes,
                min_hits,
                labels.data_ptr(),
                cuda_stream(edge_index.device),
            )
        return labels
    core.connected_components_cpu(as_numpy(edge_index), None if scores is None else as_numpy(scores), cut, num_nodes, min_hits, as_numpy(labels))
    return labels


def junction_removal(edge_index: Array, scores: Array, cut: float, num_nodes: int) -> Array:
    """Mask of the edges that survive junction removal (the ACTS GNN plugin's cleaning step).

    An edge survives when its score is > ``cut`` and it is both the best-scoring kept out-edge of its
    source and the best-scoring kept in-edge of its target; "best" = highest score, ties broken by the
    lower edge index (-0.0 and +0.0 count as equal). Edges are directed inner -> outer, so afterwards
    no node has more than one kept edge on each side and every component is a path.

    Returns:
        bool ``[E]`` mask, same kind and device as ``edge_index``; feed ``scores`` where the mask is
        False set below the cut (or index the edges) into :func:`connected_components`.
    """
    num_nodes = _count("num_nodes", num_nodes)
    cut = _cut("cut", cut)
    edge_index = _edge_index(edge_index, num_nodes)
    scores = _scores(scores, edge_index)
    num_edges = edge_index.shape[1]
    if num_edges >= 2**32:
        raise ValueError(f"edge_index: junction removal supports fewer than 2^32 edges, got {num_edges}")
    keep = _empty_like_kind(edge_index, num_edges, "bool")
    if num_edges == 0:
        return keep
    if _kind("edge_index", edge_index) == "cuda":
        with torch.cuda.device(edge_index.device):
            core.junction_removal_cuda(
                edge_index.data_ptr(),
                edge_index.data_ptr() + 8 * num_edges,
                num_edges,
                scores.data_ptr(),
                cut,
                num_nodes,
                keep.data_ptr(),
                cuda_stream(edge_index.device),
            )
        return keep
    core.junction_removal_cpu(as_numpy(edge_index), None if scores is None else as_numpy(scores), cut, num_nodes, as_numpy(keep))
    return keep


def walkthrough(
    edge_index: Array,
    num_nodes: int,
    scores: Array | None = None,
    cut: float = 0.5,
    walk_cut: float | None = None,
    min_hits: int = 1,
    order: Array | None = None,
) -> Array:
    """Track labels by ACORN's CC-and-walk, with a greedy best-edge walk.

    On the graph of edges with score > ``cut`` (self-loops ignored): a connected component that is a
    simple directed path (no node with two kept in- or out-edges, no cycle) is one track. The other
    components are walked: start nodes are first their nodes with no kept in-edge, then any node still
    unused, each group in increasing ``(order[v], v)``. A walk follows, from node to node, the
    highest-scoring out-edge with score > ``walk_cut`` whose target is unused (ties: lower edge index);
    each node joins one track at most. ``walk_cut`` is ACORN's add-on threshold for ambiguous
    components: at or below ``cut`` it has no effect (None = ``cut``).

    Args:
        edge_index: int64 ``[2, E]``, directed inner -> outer.
        num_nodes: number of nodes N.
        scores: float32 ``[E]`` or None (every edge kept; walks take the lowest-index edge).
        cut, walk_cut: thresholds above.
        min_hits: tracks with fewer nodes are labelled -1 (their nodes stay used).
        order: optional real ``[N]`` start order (e.g. the hits' radius r); default the node index.

    Returns:
        int64 ``[N]`` labels ``0..k-1`` numbered by each track's smallest node index, -1 = no track; same
        kind and device as ``edge_index`` (a CUDA input runs on the CPU and is copied back).
    """
    num_nodes = _count("num_nodes", num_nodes)
    min_hits = _count("min_hits", min_hits)
    cut = _cut("cut", cut)
    walk_cut = cut if walk_cut is None else _cut("walk_cut", walk_cut)
    edge_index = _edge_index(edge_index, num_nodes)
    if scores is not None:
        scores = _scores(scores, edge_index)
    order_host = None
    if order is not None:
        _check_same_place("order", order, "edge_index", edge_index)
        if order.ndim != 1 or order.shape[0] != num_nodes:
            raise ValueError(f"order: expected shape [{num_nodes}] (one per node), got {tuple(order.shape)}")
        order_host = np.ascontiguousarray(as_numpy(order))
        if order_host.dtype.kind not in "fiu":
            raise ValueError(f"order: expected a real dtype, got {order_host.dtype}")
        order_host = order_host.astype(np.float32, copy=False)
        if np.isnan(order_host).any():
            raise ValueError("order: contains NaN")
    labels_host = np.empty(num_nodes, dtype=np.int64)
    if num_nodes > 0:
        core.walkthrough_cpu(
            as_numpy(edge_index), None if scores is None else as_numpy(scores), cut, walk_cut, num_nodes, order_host, min_hits, labels_host
        )
    if isinstance(edge_index, torch.Tensor):
        return torch.from_numpy(labels_host).to(edge_index.device)
    return labels_host
