"""Edge classifiers with their input features inside: the graphs that ``trackpipe export`` writes.

:class:`EdgeClassifierWithFeatures` takes what a C++ consumer has -- hit coordinates and an edge list --
and computes the features of :mod:`tracking.nn.features` (node features, doublet and triplet edge
features, scaled for the checkpoint's detector description) before calling the trained model, so the
consumer computes nothing. The triplet matching is written with fixed-rank tensor operations
(:func:`triplet_best_dense`) so that it exports to ONNX (dynamo exporter) and TorchScript; it gives
the same values as the native kernel :func:`tracking.ops.triplet_best`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..detector import BUILTIN, DetectorDescription
from ..nn.features import (
    NUM_DOUBLET_FEATURES,
    compute_edge_features,
    compute_node_features,
)

__all__ = ["HIT_COLUMNS", "EdgeClassifierWithFeatures", "ModelOnly", "triplet_best_dense"]

#: The columns of the ``hits`` input of :class:`EdgeClassifierWithFeatures`.
HIT_COLUMNS: tuple[str, ...] = ("r", "phi", "z", "x", "y")


def triplet_best_dense(
    src: torch.Tensor,
    dst: torch.Tensor,
    nodes: torch.Tensor,
    kappa: torch.Tensor,
    theta: torch.Tensor,
    kappa_scale: float,
    theta_scale: float,
    chi2_max: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(best_in, best_out)`` float64 ``[E]``: :func:`tracking.ops.triplet_best` without data-dependent
    loops (``nodes``: any ``[N]`` tensor, whose length is the node count: a tensor rather than an int so
    that a traced graph keeps it dynamic). The out-edges of every node are laid out in a
    ``[num_nodes, max out-degree]`` table; each edge
    ``e = a -> b`` gathers the row of ``b`` (its triplet partners ``f = b -> c``), takes the smallest
    chi2 over it (``best_out[e]``) and scatters each chi2 to ``f`` with a minimum (``best_in[f]``).
    Memory ``E x max out-degree``: a module-map graph's degree is tens, so hundreds of MB at mu = 200."""
    n_edges = src.shape[0]
    num_nodes = nodes.shape[0]
    order = torch.argsort(src)
    ones = torch.ones_like(src)
    degree = torch.zeros(num_nodes, dtype=torch.int64, device=src.device).index_add(0, src, ones)
    first = torch.cumsum(degree, 0) - degree
    src_sorted = src[order]
    rank = torch.arange(n_edges, device=src.device) - first[src_sorted]
    width = int(torch.cat([degree, torch.zeros(1, dtype=torch.int64, device=src.device)]).max().item())
    table = torch.full((num_nodes, width), -1, dtype=torch.int64, device=src.device)
    table = table.index_put([src_sorted, rank], order)
    partner = table[dst]  # [E, width]: the edges f that continue e
    valid = partner >= 0
    safe = partner.clamp(min=0)
    dk = (kappa[safe] - kappa.unsqueeze(1)) / kappa_scale
    dt = (theta[safe] - theta.unsqueeze(1)) / theta_scale
    chi2 = (dk * dk + dt * dt).clamp(max=chi2_max)
    chi2 = torch.where(valid, chi2, torch.full_like(chi2, chi2_max))
    cap = torch.full((n_edges, 1), chi2_max, dtype=chi2.dtype, device=src.device)
    best_out = torch.cat([chi2, cap], dim=1).amin(dim=1)
    best_in = torch.full((n_edges,), chi2_max, dtype=chi2.dtype, device=src.device)
    best_in = best_in.scatter_reduce(0, safe.reshape(-1), chi2.reshape(-1), "amin", include_self=True)
    return best_in, best_out


def _norm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # torch.hypot has no ONNX lowering; in float64 the two agree to an ulp, far below the float32 features
    return torch.sqrt(a * a + b * b)


def atan2_float64(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``atan2(a, b)`` in float64 from operations onnxruntime has for doubles (it has no float64 ``Atan``):
    the float32 angle, then two Newton steps on ``b sin t - a cos t = 0`` in float64 (the error squares
    each step: 1e-7 -> 1e-14 -> below an ulp)."""
    t = torch.atan2(a.float(), b.float()).to(a.dtype)
    for _ in range(2):
        s, c = torch.sin(t), torch.cos(t)
        slope = b * c + a * s  # = |(a, b)| near the root
        t = t - torch.where(slope != 0, (b * s - a * c) / torch.where(slope != 0, slope, 1.0), 0.0)
    return t


def segment_shape(
    x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, edge_index: torch.Tensor, straight: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kappa_0 or d0, theta)`` per edge: :func:`tracking.nn.features._segment_shape` in exportable
    operations (``sqrt`` of squares for ``hypot``)."""
    src, dst = edge_index[0], edge_index[1]
    x1, y1, x2, y2 = x[src], y[src], x[dst], y[dst]
    cross = x1 * y2 - y1 * x2
    chord = _norm(x2 - x1, y2 - y1)
    theta = atan2_float64(chord, z[dst] - z[src])
    if straight:
        return cross / chord.clamp(min=1e-9), theta
    norm = _norm(x1, y1) * _norm(x2, y2) * chord
    return 2.0 * cross / norm.clamp(min=1e-9) * 1000.0, theta


class EdgeClassifierWithFeatures(nn.Module):
    """``forward(hits, edge_index) -> logits``: features of :mod:`tracking.nn.features`, then the model.

    Args:
        model: a trained :class:`tracking.nn.EdgeFilter` or :class:`tracking.nn.InteractionGNN`
            (``model(x, edge_index, edge_attr)`` with 4 node and 0, 7 or 10 edge features).
        detector: the description the model was trained with (its scales and field).

    Inputs: ``hits`` float32 ``[N, 5]`` = :data:`HIT_COLUMNS` (r, phi, z, x, y; mm and rad, phi =
    atan2(y, x), r = sqrt(x^2 + y^2) as the consumer computes them: the slopes divide by dr, so pairs at
    almost equal radius need the very r of the pipeline, and the curvature needs x, y, which r and phi in
    float32 do not give back precisely enough); ``edge_index`` int64 ``[2, E]``, inner -> outer.
    Output: float32 ``[E]`` logits (``sigmoid`` gives the score; ACTS applies it).
    """

    def __init__(self, model: nn.Module, detector: DetectorDescription = BUILTIN) -> None:
        super().__init__()
        self.model = model.eval()
        self.edge_width = int(getattr(model, "edge_features", 0) or 0)
        d = detector
        self.detector = d
        self.triplet_scales = (float(d.triplet_kappa_scale), float(d.triplet_theta_scale), float(d.triplet_chi2_max))
        self.curvature = (float(d.curvature_scale), float(d.curvature_clamp))
        self.straight = bool(d.straight)
        # TorchScript export swaps in a scripted copy (tracing would freeze the table width of one graph)
        self.triplet_best: Any = triplet_best_dense

    def features(self, hits: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x [N, 4], edge_attr [E, width] or None)``: exactly what the pipeline's stage feeds the model."""
        r, phi, z = hits[:, 0], hits[:, 1], hits[:, 2]
        eta = torch.asinh(z / r.clamp(min=1e-6))
        node = compute_node_features(r, phi, z, eta, detector=self.detector)
        if self.edge_width == 0:
            return node, None
        doublets = compute_edge_features(r, phi, z, eta, edge_index, detector=self.detector)
        if self.edge_width == NUM_DOUBLET_FEATURES:
            return node, doublets
        x64, y64, z64 = (t.to(torch.float64) for t in (hits[:, 3], hits[:, 4], z))
        kappa, theta = segment_shape(x64, y64, z64, edge_index, self.straight)
        k_scale, t_scale, chi2_max = self.triplet_scales
        best_in, best_out = self.triplet_best(
            edge_index[0], edge_index[1], hits[:, 0], kappa, theta, k_scale, t_scale, chi2_max
        )
        scale = math.log1p(chi2_max)
        c_scale, c_clamp = self.curvature
        triplets = torch.stack(
            [
                (kappa * c_scale).clamp(-c_clamp, c_clamp),
                torch.log1p(best_in) / scale,
                torch.log1p(best_out) / scale,
            ],
            dim=1,
        ).float()
        return node, torch.cat([doublets, triplets], dim=1)

    def forward(self, hits: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x, attr = self.features(hits, edge_index)
        return self.model(x, edge_index, attr)


class ModelOnly(nn.Module):
    """``forward(x, edge_index, edge_attr) -> logits``: the trained model alone, in the three-input
    convention of the ACTS GNN plugin (node features, edge index, edge features)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return self.model(x, edge_index, edge_attr)
