"""Best triplet match per edge: the kernel behind the triplet edge features
(:func:`tracking.nn.features.compute_triplet_features`).

For every pair of edges ``e = a -> b`` and ``f = b -> c`` sharing the middle hit,
``chi2 = ((kappa[f] - kappa[e]) / kappa_scale)^2 + ((theta[f] - theta[e]) / theta_scale)^2`` capped at
``chi2_max``; ``best_out[e]`` is the minimum over the ``f`` of ``e`` and ``best_in[f]`` over the ``e``
of ``f`` (``chi2_max`` when there is none). CPU tensors and numpy arrays go to the native serial
kernel (one pass through a CSR by source node); CUDA tensors to a torch implementation that
enumerates the triplets in bounded chunks. Both are tested against a brute-force oracle.
"""

from __future__ import annotations

import numpy as np
import torch

from .._native import core
from ._validate import check_edge_index, check_per_edge, integer

__all__ = ["triplet_best"]

TRIPLETS_PER_CHUNK = 4_000_000  # torch path: bounds the working memory (~100 MB per chunk)


def _check(edge_index: torch.Tensor, num_nodes: int, kappa: torch.Tensor, theta: torch.Tensor) -> None:
    """The components' validation of ``edge_index`` / ``num_nodes``, plus one value per edge."""
    if not isinstance(edge_index, torch.Tensor):
        raise ValueError(f"edge_index: expected a torch tensor, got {type(edge_index).__name__}")
    check_edge_index(edge_index, integer("num_nodes", num_nodes))
    for name, t in (("kappa", kappa), ("theta", theta)):
        check_per_edge(name, t, edge_index)


def _triplet_best_torch(edge_index, num_nodes, kappa, theta, kappa_scale, theta_scale, chi2_max):
    device = edge_index.device
    n_edges = edge_index.shape[1]
    src, dst = edge_index[0], edge_index[1]
    best_in = torch.full((n_edges,), chi2_max, dtype=torch.float64, device=device)
    best_out = best_in.clone()
    if n_edges == 0:
        return best_in, best_out
    by_src = torch.argsort(src, stable=True)
    out_degree = torch.bincount(src, minlength=num_nodes)
    first_out = torch.cumsum(out_degree, 0) - out_degree
    n_next = out_degree[dst]  # triplets that start with each edge
    ends = torch.cumsum(n_next, 0)
    start = 0
    while start < n_edges:
        base = int(ends[start - 1]) if start else 0
        stop = int(torch.searchsorted(ends, base + TRIPLETS_PER_CHUNK, right=True))
        stop = min(max(stop, start + 1), n_edges)
        counts = n_next[start:stop]
        total = int(counts.sum())
        if total:
            first = torch.repeat_interleave(torch.arange(start, stop, device=device), counts)
            first_of_edge = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
            offset = torch.arange(total, device=device) - first_of_edge
            second = by_src[first_out[dst[first]] + offset]
            dk = (kappa[second] - kappa[first]) / kappa_scale
            dt = (theta[second] - theta[first]) / theta_scale
            chi2 = (dk * dk + dt * dt).clamp_max(chi2_max)
            best_out.scatter_reduce_(0, first, chi2, "amin")
            best_in.scatter_reduce_(0, second, chi2, "amin")
        start = stop
    return best_in, best_out


def triplet_best(
    edge_index: torch.Tensor,
    num_nodes: int,
    kappa: torch.Tensor,
    theta: torch.Tensor,
    kappa_scale: float,
    theta_scale: float,
    chi2_max: float,
    *,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(best_in, best_out)`` float64 ``[E]`` on ``edge_index``'s device (see the module docstring).

    ``backend``: ``auto`` (native on CPU, torch on CUDA), ``native`` (CPU only) or ``torch``.
    """
    if backend not in ("auto", "native", "torch"):
        raise ValueError(f"backend must be auto, native or torch, got {backend!r}")
    kappa, theta = kappa.to(torch.float64), theta.to(torch.float64)
    _check(edge_index, num_nodes, kappa, theta)
    if not kappa_scale > 0 or not theta_scale > 0 or not chi2_max > 0:
        raise ValueError("kappa_scale, theta_scale and chi2_max must be > 0")
    on_cpu = edge_index.device.type == "cpu"
    if backend == "native" and not on_cpu:
        raise ValueError("backend='native' runs on the CPU; move the tensors or use backend='torch'")
    if backend == "torch" or not on_cpu:
        return _triplet_best_torch(edge_index, num_nodes, kappa, theta, kappa_scale, theta_scale, chi2_max)
    n_edges = edge_index.shape[1]
    best_in = np.empty(n_edges, dtype=np.float64)
    best_out = np.empty(n_edges, dtype=np.float64)
    ei = edge_index.contiguous().numpy()
    core.triplet_best_cpu(
        np.ascontiguousarray(ei[0]),
        np.ascontiguousarray(ei[1]),
        kappa.contiguous().numpy(),
        theta.contiguous().numpy(),
        int(num_nodes),
        float(kappa_scale),
        float(theta_scale),
        float(chi2_max),
        best_in,
        best_out,
    )
    return torch.from_numpy(best_in), torch.from_numpy(best_out)
