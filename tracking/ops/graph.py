"""Graph-building kernels: the doublet builder (module map / layer pairs) and fixed-radius neighbours.

Both accept numpy arrays or torch tensors (CPU or CUDA) and return the same kind on the same device.
Inputs are validated here; the native kernels never see bad input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..arrays import as_numpy, cuda_stream, dtype_name, is_torch
from .._native import core

__all__ = ["CUT_VARIABLES", "build_doublets", "radius_graph", "doublet_cut_variables"]

#: Cut variables of a hit pair (inner a -> outer b), in the column order of every cut window array.
CUT_VARIABLES: tuple[str, ...] = ("z0", "phi_slope", "dzdr", "deta", "dphi")
assert len(CUT_VARIABLES) == core.NUM_CUT_VARIABLES

MAX_DIM = 16
MIN_DR = np.float32(1e-3)  # mm; the kernels' detail::kMinDr
_FLOAT_KINDS = ("float32",)
_INT_KINDS = ("int32", "int64")


def _check_array(name: str, a: Any, *, ndim: int, dtypes: tuple[str, ...]) -> None:
    if not isinstance(a, (np.ndarray, torch.Tensor)):
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d, got shape {tuple(a.shape)}")
    if dtype_name(a) not in dtypes:
        raise ValueError(f"{name} must have dtype {' or '.join(dtypes)}, got {dtype_name(a)}")


def _same_kind(arrays: dict[str, Any]) -> torch.device | None:
    """None for numpy inputs, else the common torch device; mixed kinds or devices are an error."""
    kinds = {name: (a.device if is_torch(a) else None) for name, a in arrays.items()}
    first_name, first = next(iter(kinds.items()))
    for name, dev in kinds.items():
        if dev != first:
            where = lambda d: "numpy" if d is None else f"torch on {d}"  # noqa: E731
            raise ValueError(f"{name} is {where(dev)} but {first_name} is {where(first)}; pass all inputs alike")
    return first


def _all_finite(a: Any) -> bool:
    return bool(torch.isfinite(a).all()) if is_torch(a) else bool(np.isfinite(a).all())


# -- doublets ---------------------------------------------------------------------------------------


def doublet_cut_variables(r, phi, z, eta, src, dst) -> np.ndarray:
    """float32 [E, 5]: the cut variables (:data:`CUT_VARIABLES`) of hit pairs ``src -> dst``.

    ``dr`` is kept at least 1e-3 mm in magnitude, so the slopes of hits at equal radius are finite.
    The same float32 operations as the kernels, so a value computed here passes a window exactly when
    the kernel's does (map learning uses it to set the windows).
    """
    r, phi, z, eta = (as_numpy(a).astype(np.float32, copy=False) for a in (r, phi, z, eta))
    src, dst = as_numpy(src).astype(np.int64, copy=False), as_numpy(dst).astype(np.int64, copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        dphi = phi[dst] - phi[src]
        dphi = np.where(dphi > np.float32(math.pi), dphi - np.float32(6.28318530717959), dphi)
        dphi = np.where(dphi < -np.float32(math.pi), dphi + np.float32(6.28318530717959), dphi).astype(np.float32)
        dr = r[dst] - r[src]
        # as detail::safe_dr: |dr| >= 1e-3 mm with its sign (+0 -> +1e-3), equal radii give finite slopes
        dr = np.where(dr >= 0, np.maximum(dr, MIN_DR), np.minimum(dr, -MIN_DR)).astype(np.float32)
        dzdr = (z[dst] - z[src]) / dr
        z0 = z[src] - r[src] * dzdr
        phi_slope = dphi / dr
        deta = eta[dst] - eta[src]
    return np.stack([z0, phi_slope, dzdr, deta, dphi], axis=1).astype(np.float32, copy=False)


def build_doublets(r, phi, z, eta, group, src_group, dst_group, cut_min, cut_max, *, n_groups: int | None = None):
    """Edges (inner -> outer) between hits of connected groups that pass every cut window.

    Args:
        r, phi, z, eta: float32 [N] hit coordinates (phi in [-pi, pi]).
        group: int32/int64 [N] group (module or layer) of each hit in ``[0, n_groups)``; -1 = in no group.
        src_group, dst_group: int32/int64 [M] map entries: inner group -> outer group.
        cut_min, cut_max: float32 [M, 5] windows on :data:`CUT_VARIABLES` (inclusive).
        n_groups: number of groups (default: one more than the largest id used).

    Returns:
        int64 [2, E] hit indices (into the given arrays), ordered by (map entry, inner hit, outer
        hit) with hits of a group in (phi, index) order; the same on CPU and GPU.
    """
    inputs = dict(r=r, phi=phi, z=z, eta=eta, group=group, src_group=src_group, dst_group=dst_group,
                  cut_min=cut_min, cut_max=cut_max)
    for name in ("r", "phi", "z", "eta"):
        _check_array(name, inputs[name], ndim=1, dtypes=_FLOAT_KINDS)
    for name in ("group", "src_group", "dst_group"):
        _check_array(name, inputs[name], ndim=1, dtypes=_INT_KINDS)
    for name in ("cut_min", "cut_max"):
        _check_array(name, inputs[name], ndim=2, dtypes=_FLOAT_KINDS)
    device = _same_kind(inputs)
    n = len(r)
    for name in ("phi", "z", "eta", "group"):
        if len(inputs[name]) != n:
            raise ValueError(f"{name} has {len(inputs[name])} entries, r has {n}")
    m = len(src_group)
    if len(dst_group) != m:
        raise ValueError(f"dst_group has {len(dst_group)} entries, src_group has {m}")
    for name in ("cut_min", "cut_max"):
        if tuple(inputs[name].shape) != (m, len(CUT_VARIABLES)):
            raise ValueError(f"{name} must have shape [{m}, {len(CUT_VARIABLES)}], got {tuple(inputs[name].shape)}")
    for name in ("r", "phi", "z", "eta"):
        if n and not _all_finite(inputs[name]):
            raise ValueError(f"{name} contains NaN or infinite values")
    if n and float(abs(phi).max()) > math.pi + 1e-5:
        raise ValueError("phi must lie in [-pi, pi] (as arctan2 gives)")
    for name in ("cut_min", "cut_max"):
        if m and (bool(inputs[name].isnan().any()) if is_torch(inputs[name]) else bool(np.isnan(inputs[name]).any())):
            raise ValueError(f"{name} contains NaN")
    if m and bool((cut_min > cut_max).any()):
        raise ValueError("cut_min must be <= cut_max in every window")
    used_max = max([int(a.max()) for a in (group, src_group, dst_group) if len(a)] or [-1])
    if n_groups is None:
        n_groups = used_max + 1
    elif n_groups < used_max + 1:
        raise ValueError(f"n_groups={n_groups} but group ids go up to {used_max}")
    if n and int(group.min()) < -1:
        raise ValueError("group ids must be >= 0 (or -1 for a hit in no group)")
    for name in ("src_group", "dst_group"):
        if m and int(inputs[name].min()) < 0:
            raise ValueError(f"{name} contains negative group ids")
    if n_groups >= 2**31:
        raise ValueError(f"n_groups={n_groups} does not fit int32")

    if device is not None and device.type == "cuda":
        return _build_doublets_cuda(r, phi, z, eta, group, src_group, dst_group, cut_min, cut_max, n_groups)
    r_, phi_, z_, eta_ = (as_numpy(a) for a in (r, phi, z, eta))
    group_ = as_numpy(group).astype(np.int64, copy=False)
    members = np.flatnonzero(group_ >= 0)
    order = members[np.lexsort((phi_[members], group_[members]))]  # stable: ties by hit index
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group_[order], minlength=n_groups), out=offsets[1:])
    src, dst = core.build_doublets_cpu(
        np.ascontiguousarray(r_[order]),
        np.ascontiguousarray(phi_[order]) + np.float32(0.0),  # -0.0 -> 0.0, as the GPU's radix sort sees it
        np.ascontiguousarray(z_[order]),
        np.ascontiguousarray(eta_[order]),
        order.astype(np.int64),
        offsets,
        np.ascontiguousarray(as_numpy(src_group), dtype=np.int32),
        np.ascontiguousarray(as_numpy(dst_group), dtype=np.int32),
        np.ascontiguousarray(as_numpy(cut_min), dtype=np.float32),
        np.ascontiguousarray(as_numpy(cut_max), dtype=np.float32),
    )
    edges = np.stack([src, dst]) if len(src) else np.zeros((2, 0), dtype=np.int64)
    return edges if device is None else torch.from_numpy(edges)


def _stable_order(*keys: torch.Tensor) -> torch.Tensor:
    """Permutation sorting by keys[0], then keys[1], ... (last key least significant), ties by index."""
    order = torch.arange(len(keys[0]), device=keys[0].device)
    for key in reversed(keys):
        order = order[torch.sort(key[order], stable=True).indices]
    return order


def _build_doublets_cuda(r, phi, z, eta, group, src_group, dst_group, cut_min, cut_max, n_groups):
    device = r.device
    with torch.cuda.device(device):
        group = group.long()
        members = torch.nonzero(group >= 0).flatten()
        order = members[_stable_order(group[members], phi[members] + 0.0)]
        offsets = torch.zeros(n_groups + 1, dtype=torch.int64, device=device)
        torch.cumsum(torch.bincount(group[order], minlength=n_groups), 0, out=offsets[1:])
        sorted_hits = [a[order].contiguous() for a in (r, phi + 0.0, z, eta)]
        hit_index = order.contiguous()
        src_g = src_group.to(torch.int32).contiguous()
        dst_g = dst_group.to(torch.int32).contiguous()
        lo, hi = cut_min.contiguous(), cut_max.contiguous()
        sizes = offsets[1:] - offsets[:-1]
        entry_items = torch.zeros(len(src_g) + 1, dtype=torch.int64, device=device)
        if len(src_g):
            torch.cumsum(sizes[src_g.long()], 0, out=entry_items[1:])
        n_items = int(entry_items[-1])
        common = (
            len(order), *(a.data_ptr() for a in sorted_hits), hit_index.data_ptr(), n_groups, offsets.data_ptr(),
            len(src_g), src_g.data_ptr(), dst_g.data_ptr(), lo.data_ptr(), hi.data_ptr(),
            entry_items.data_ptr(), n_items,
        )
        counts = torch.zeros(n_items, dtype=torch.int64, device=device)
        core.doublets_count_cuda(*common, counts.data_ptr(), cuda_stream(device))
        item_offsets = torch.zeros(n_items + 1, dtype=torch.int64, device=device)
        torch.cumsum(counts, 0, out=item_offsets[1:])
        n_edges = int(item_offsets[-1])
        edges = torch.empty((2, n_edges), dtype=torch.int64, device=device)
        if n_edges:
            core.doublets_fill_cuda(*common, item_offsets.data_ptr(), edges[0].data_ptr(), edges[1].data_ptr(),
                                    cuda_stream(device))
        return edges


# -- fixed-radius neighbours -------------------------------------------------------------------------


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
    _check_array("points", points, ndim=2, dtypes=_FLOAT_KINDS)
    n, d = points.shape
    if not 1 <= d <= MAX_DIM:
        raise ValueError(f"points must have 1 to {MAX_DIM} columns, got {d}")
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r < 0:
        raise ValueError(f"r must be a finite number >= 0, got {r!r}")
    if k_max is not None and (isinstance(k_max, bool) or not isinstance(k_max, int) or k_max < 1):
        raise ValueError(f"k_max must be a positive integer or None, got {k_max!r}")
    if n and not _all_finite(points):
        raise ValueError("points contains NaN or infinite values")
    radius = float(np.float32(r))
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
        stride_list = [int(np.prod(extent_list[k + 1:], dtype=np.int64)) for k in range(n_hash)]
        key = (coord * torch.tensor(stride_list, device=device)).sum(1)
        order = _stable_order(key, points[:, 3]) if d > 3 else _stable_order(key)
        sorted_points = points[order].contiguous()
        cell_keys, cell_sizes = torch.unique_consecutive(key[order], return_counts=True)
        cell_offsets = torch.zeros(len(cell_keys) + 1, dtype=torch.int64, device=device)
        torch.cumsum(cell_sizes, 0, out=cell_offsets[1:])
        cell_coord = coord[order].to(torch.int32).contiguous()
        order = order.contiguous()
        grid = (n, d, n_hash, radius, sorted_points.data_ptr(), order.data_ptr(), cell_coord.data_ptr(),
                len(cell_keys), cell_keys.data_ptr(), cell_offsets.data_ptr(), extent_list, stride_list)
        counts = torch.zeros(n, dtype=torch.int64, device=device)
        core.radius_count_cuda(*grid, counts.data_ptr(), cuda_stream(device))
        offsets = torch.zeros(n + 1, dtype=torch.int64, device=device)
        torch.cumsum(counts, 0, out=offsets[1:])
        n_pairs = int(offsets[-1])
        src = torch.empty(n_pairs, dtype=torch.int64, device=device)
        dst = torch.empty(n_pairs, dtype=torch.int64, device=device)
        dist2 = torch.empty(n_pairs, dtype=torch.float32, device=device)
        if n_pairs:
            core.radius_fill_cuda(*grid, offsets.data_ptr(), src.data_ptr(), dst.data_ptr(), dist2.data_ptr(),
                                  cuda_stream(device))
        n_capped = 0
        if k_max is not None and n_pairs:
            degree = torch.bincount(src, minlength=n)
            n_capped = int((degree > k_max).sum())
            if n_capped:
                nearest = _stable_order(src, dist2, dst)
                src, dst = src[nearest], dst[nearest]
                start = torch.zeros(n + 1, dtype=torch.int64, device=device)
                torch.cumsum(degree, 0, out=start[1:])
                rank = torch.arange(n_pairs, device=device) - start[src]
                keep = rank < k_max
                src, dst = src[keep], dst[keep]
        final = torch.sort(src * n + dst).indices
        return torch.stack([src[final], dst[final]]), n_capped
