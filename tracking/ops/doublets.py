"""The doublet builder: edges between hits of connected groups (modules or layers) that pass cut windows.

At layer granularity it is the classic geometric graph builder, at module granularity the GNN4ITk module
map. Accepts numpy arrays or torch tensors (CPU or CUDA) and returns the same kind on the same device.
Inputs are validated here; the native kernels never see bad input.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._native import core
from ..arrays import as_numpy, cuda_stream
from ._sorting import stable_order
from ._validate import all_finite, check_array, has_nan, same_place

__all__ = ["CUT_VARIABLES", "build_doublets", "doublet_cut_variables"]

#: Cut variables of a hit pair (inner a -> outer b), in the column order of every cut window array.
CUT_VARIABLES: tuple[str, ...] = ("z0", "phi_slope", "dzdr", "deta", "dphi")
assert len(CUT_VARIABLES) == core.NUM_CUT_VARIABLES

MIN_DR = np.float32(1e-3)  # mm; the kernels' detail::kMinDr
_FLOAT_KINDS = ("float32",)
_INT_KINDS = ("int32", "int64")


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
    inputs = dict(
        r=r,
        phi=phi,
        z=z,
        eta=eta,
        group=group,
        src_group=src_group,
        dst_group=dst_group,
        cut_min=cut_min,
        cut_max=cut_max,
    )
    for name in ("r", "phi", "z", "eta"):
        check_array(name, inputs[name], ndim=1, dtypes=_FLOAT_KINDS)
    for name in ("group", "src_group", "dst_group"):
        check_array(name, inputs[name], ndim=1, dtypes=_INT_KINDS)
    for name in ("cut_min", "cut_max"):
        check_array(name, inputs[name], ndim=2, dtypes=_FLOAT_KINDS)
    device = same_place(inputs)
    n = len(r)
    for name in ("phi", "z", "eta", "group"):
        if len(inputs[name]) != n:
            raise ValueError(f"{name}: expected {n} entries (as r), got {len(inputs[name])}")
    m = len(src_group)
    if len(dst_group) != m:
        raise ValueError(f"dst_group: expected {m} entries (as src_group), got {len(dst_group)}")
    for name in ("cut_min", "cut_max"):
        if tuple(inputs[name].shape) != (m, len(CUT_VARIABLES)):
            raise ValueError(f"{name}: expected shape [{m}, {len(CUT_VARIABLES)}], got {tuple(inputs[name].shape)}")
    for name in ("r", "phi", "z", "eta"):
        if n and not all_finite(inputs[name]):
            raise ValueError(f"{name}: contains NaN or infinite values")
    if n and float(abs(phi).max()) > math.pi + 1e-5:
        raise ValueError("phi: must lie in [-pi, pi] (as arctan2 gives)")
    for name in ("cut_min", "cut_max"):
        if m and has_nan(inputs[name]):
            raise ValueError(f"{name}: contains NaN")
    if m and bool((cut_min > cut_max).any()):
        raise ValueError("cut_min: must be <= cut_max in every window")
    used_max = max([int(a.max()) for a in (group, src_group, dst_group) if len(a)] or [-1])
    if n_groups is None:
        n_groups = used_max + 1
    elif n_groups < used_max + 1:
        raise ValueError(f"n_groups: {n_groups} but group ids go up to {used_max}")
    if n and int(group.min()) < -1:
        raise ValueError("group: ids must be >= 0 (or -1 for a hit in no group)")
    for name in ("src_group", "dst_group"):
        if m and int(inputs[name].min()) < 0:
            raise ValueError(f"{name}: contains negative group ids")
    if n_groups >= 2**31:
        raise ValueError(f"n_groups: {n_groups} does not fit int32")

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


def _build_doublets_cuda(r, phi, z, eta, group, src_group, dst_group, cut_min, cut_max, n_groups):
    device = r.device
    with torch.cuda.device(device):
        group = group.long()
        members = torch.nonzero(group >= 0).flatten()
        order = members[stable_order(group[members], phi[members] + 0.0)]
        offsets = torch.zeros(n_groups + 1, dtype=torch.int64, device=device)
        torch.cumsum(torch.bincount(group[order], minlength=n_groups), 0, out=offsets[1:])
        s_r, s_phi, s_z, s_eta = (a[order].contiguous() for a in (r, phi + 0.0, z, eta))
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
            len(order),
            s_r.data_ptr(),
            s_phi.data_ptr(),
            s_z.data_ptr(),
            s_eta.data_ptr(),
            hit_index.data_ptr(),
            n_groups,
            offsets.data_ptr(),
            len(src_g),
            src_g.data_ptr(),
            dst_g.data_ptr(),
            lo.data_ptr(),
            hi.data_ptr(),
            entry_items.data_ptr(),
            n_items,
        )
        counts = torch.zeros(n_items, dtype=torch.int64, device=device)
        core.doublets_count_cuda(*common, counts.data_ptr(), cuda_stream(device))
        item_offsets = torch.zeros(n_items + 1, dtype=torch.int64, device=device)
        torch.cumsum(counts, 0, out=item_offsets[1:])
        n_edges = int(item_offsets[-1])
        edges = torch.empty((2, n_edges), dtype=torch.int64, device=device)
        if n_edges:
            core.doublets_fill_cuda(
                *common, item_offsets.data_ptr(), edges[0].data_ptr(), edges[1].data_ptr(), cuda_stream(device)
            )
        return edges
