"""Fixed-radius neighbours: exact directed edges between embedding points within a radius (metric learning).

Accepts numpy arrays or torch tensors (CPU or CUDA) and returns the same kind on the same device.
Inputs are validated here; the native kernels never see bad input.
"""

from __future__ import annotations

import numpy as np
import torch

from .._native import core
from ..arrays import as_numpy, cuda_stream, is_torch
from ._sorting import stable_order
from ._validate import all_finite, check_array, integer, real

__all__ = ["orient_inner_to_outer", "radius_graph"]

MAX_DIM = 16  # the kernels are compiled for d <= 16 (kMaxDim in neighbours_cpu.cpp)


def radius_graph(points, r: float, k_max: int | None = None):
    """Directed edges i -> j between distinct points within distance ``r`` (inclusive); exact.

    Args:
        points: float32 [N, d], 1 <= d <= 16, numpy or torch (CPU or CUDA).
        r: radius (>= 0, finite).
        k_max: keep only the ``k_max`` nearest neighbours of each point (ties by index); None = all.

    Returns:
        ``(edge_index, n_capped)``: int64 [2, E] ordered by (i, j) (both directions present unless a
        cap dropped one), and the number of points that had more than ``k_max`` neighbours (never a
        silent truncation).
    """
    check_array("points", points, ndim=2, dtypes=("float32",))
    n, d = points.shape
    if not 1 <= d <= MAX_DIM:
        raise ValueError(f"points: expected 1 to {MAX_DIM} columns, got {d}")
    radius = float(np.float32(real("r", r, minimum=0, finite=True)))
    if k_max is not None:
        k_max = integer("k_max", k_max, minimum=1)
    if n and not all_finite(points):
        raise ValueError("points: contains NaN or infinite values")
    if is_torch(points) and points.device.type == "cuda":
        return _radius_graph_cuda(points, radius, k_max)
    pts = np.ascontiguousarray(as_numpy(points))
    src, dst, n_capped = core.radius_graph_cpu(pts.reshape(-1), d, radius, k_max or 0)
    edges = np.stack([src, dst]) if len(src) else np.zeros((2, 0), dtype=np.int64)
    return (torch.from_numpy(edges) if is_torch(points) else edges), int(n_capped)


def _radius_graph_cuda(points: torch.Tensor, radius: float, k_max: int | None):
    device = points.device
    n, d = points.shape
    if n == 0:
        return torch.zeros((2, 0), dtype=torch.int64, device=device), 0
    with torch.cuda.device(device):
        points = points.contiguous()
        n_hash = min(d, 3)
        lead = points[:, :n_hash].double()
        lo = lead.min(0).values
        span = lead.max(0).values - lo
        # cells never smaller than the radius, at most 2^20 per dimension (keys fit in 60 bits)
        cell = torch.clamp(span / 2**20, min=radius * (1 + 1e-5))
        cell = torch.where(cell > 0, cell, torch.ones_like(cell))
        extent = (torch.floor(span / cell) + 1).long()
        coord = torch.minimum(torch.floor((lead - lo) / cell).long().clamp(min=0), extent - 1)
        extent_list = [int(e) for e in extent.cpu()]
        stride_list = [int(np.prod(extent_list[k + 1 :], dtype=np.int64)) for k in range(n_hash)]
        key = (coord * torch.tensor(stride_list, device=device)).sum(1)
        order = stable_order(key, points[:, 3]) if d > 3 else stable_order(key)
        sorted_points = points[order].contiguous()
        cell_keys, cell_sizes = torch.unique_consecutive(key[order], return_counts=True)
        cell_offsets = torch.zeros(len(cell_keys) + 1, dtype=torch.int64, device=device)
        torch.cumsum(cell_sizes, 0, out=cell_offsets[1:])
        cell_coord = coord[order].to(torch.int32).contiguous()
        order = order.contiguous()
        grid = (
            n,
            d,
            n_hash,
            radius,
            sorted_points.data_ptr(),
            order.data_ptr(),
            cell_coord.data_ptr(),
            len(cell_keys),
            cell_keys.data_ptr(),
            cell_offsets.data_ptr(),
            extent_list,
            stride_list,
        )
        counts = torch.zeros(n, dtype=torch.int64, device=device)
        core.radius_count_cuda(*grid, counts.data_ptr(), cuda_stream(device))
        offsets = torch.zeros(n + 1, dtype=torch.int64, device=device)
        torch.cumsum(counts, 0, out=offsets[1:])
        n_pairs = int(offsets[-1])
        src = torch.empty(n_pairs, dtype=torch.int64, device=device)
        dst = torch.empty(n_pairs, dtype=torch.int64, device=device)
        dist2 = torch.empty(n_pairs, dtype=torch.float32, device=device)
        if n_pairs:
            core.radius_fill_cuda(
                *grid, offsets.data_ptr(), src.data_ptr(), dst.data_ptr(), dist2.data_ptr(), cuda_stream(device)
            )
        n_capped = 0
        if k_max is not None and n_pairs:
            degree = torch.bincount(src, minlength=n)
            n_capped = int((degree > k_max).sum())
            if n_capped:
                nearest = stable_order(src, dist2, dst)
                src, dst = src[nearest], dst[nearest]
                start = torch.zeros(n + 1, dtype=torch.int64, device=device)
                torch.cumsum(degree, 0, out=start[1:])
                rank = torch.arange(n_pairs, device=device) - start[src]
                keep = rank < k_max
                src, dst = src[keep], dst[keep]
        final = torch.sort(src * n + dst).indices
        return torch.stack([src[final], dst[final]]), n_capped


def orient_inner_to_outer(pairs: torch.Tensor, r: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """int64 ``[2, E]``: one directed edge per neighbour pair of ``pairs`` (either direction, repeats
    allowed), from the hit at smaller radius ``r`` (ties: smaller index) outwards, sorted by
    ``(src, dst)``: the edge direction every graph builder gives."""
    if pairs.shape[1] == 0:
        return pairs
    a, b = pairs[0], pairs[1]
    a_inner = (r[a] < r[b]) | ((r[a] == r[b]) & (a < b))
    src, dst = torch.where(a_inner, a, b), torch.where(a_inner, b, a)
    key = torch.unique(src * num_nodes + dst)
    return torch.stack([key // num_nodes, key % num_nodes])
