"""Metric-learning embedding for graph construction (Exa.TrkX / ACORN ``MetricLearning``): an MLP maps
each hit to a point on the unit sphere so that consecutive hits of one particle lie close together;
a fixed-radius neighbour search in the embedding space then builds the graph.

References: X. Ju et al. (Exa.TrkX), Eur. Phys. J. C 81 (2021) 876 (arXiv:2103.06995), section 3.1;
the ACORN metric-learning stage (gitlab.cern.ch/gnn4itkteam/acorn).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .mlp import activation_class, make_mlp


class MetricEmbedding(nn.Module):
    r"""MLP embedding with L2-normalised output: :math:`y_i = \phi(x_i) / \lVert \phi(x_i) \rVert_2`.

    Train with :func:`embedding_hinge_loss`; query neighbours within a radius of the margin.

    Args:
        node_features: width of ``x`` (default 4).
        embedding_dim: output dimension (default 8; the neighbour kernel supports up to 16).
        hidden: hidden width (default 256).
        n_layers: linear layers (default 4).
        layer_norm: LayerNorm after hidden layers (default True).
        activation: ``relu, silu, gelu, tanh, leaky_relu`` (default ``silu``).

    Call ``model(x)`` -> ``[N, embedding_dim]`` unit vectors.
    """

    def __init__(
        self,
        node_features: int = 4,
        embedding_dim: int = 8,
        hidden: int = 256,
        n_layers: int = 4,
        layer_norm: bool = True,
        activation: str = "silu",
    ) -> None:
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        activation_class(activation)
        self._hparams: dict[str, Any] = dict(
            node_features=node_features,
            embedding_dim=embedding_dim,
            hidden=hidden,
            n_layers=n_layers,
            layer_norm=layer_norm,
            activation=activation,
        )
        self.node_features, self.embedding_dim = node_features, embedding_dim
        self.network = make_mlp(
            node_features, hidden, embedding_dim, n_layers, layer_norm=layer_norm, activation=activation
        )

    @property
    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (plain types), as stored in checkpoints."""
        return dict(self._hparams)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-norm embeddings ``[N, embedding_dim]`` of node features ``x [N, node_features]``."""
        if x.ndim != 2 or x.shape[1] != self.node_features:
            raise ValueError(f"x must have shape [N, {self.node_features}], got {tuple(x.shape)}")
        return F.normalize(self.network(x), p=2.0, dim=1)


def _pair_keys(pairs: torch.Tensor, n: int) -> torch.Tensor:
    """Direction-free int64 key of each pair (i, j)."""
    return torch.minimum(pairs[0], pairs[1]) * n + torch.maximum(pairs[0], pairs[1])


@torch.no_grad()
def nearest_pairs(emb: torch.Tensor, k: int, anchors: torch.Tensor | None = None, chunk: int = 4096) -> torch.Tensor:
    """int64 ``[2, len(anchors) * k]``: each anchor (default: every node) and its ``k`` nearest other
    nodes in ``emb``, by brute force in chunks of ``chunk`` anchors (O(N * anchors) work; fine for
    training-sized samples; for whole events use the fixed-radius neighbour kernel instead)."""
    n = emb.shape[0]
    if anchors is None:
        anchors = torch.arange(n, device=emb.device)
    k = min(k, n - 1)
    if k <= 0 or len(anchors) == 0:
        return torch.zeros(2, 0, dtype=torch.int64, device=emb.device)
    out = []
    for start in range(0, len(anchors), chunk):
        a = anchors[start : start + chunk]
        d = torch.cdist(emb[a].float(), emb.float())
        d[torch.arange(len(a), device=emb.device), a] = float("inf")
        nbr = d.topk(k, dim=1, largest=False).indices
        out.append(torch.stack([a.repeat_interleave(k), nbr.reshape(-1)]))
    return torch.cat(out, dim=1)


def embedding_hinge_loss(
    emb: torch.Tensor,
    true_pairs: torch.Tensor,
    margin: float,
    n_random: int,
    hard_negatives: int | torch.Tensor = 0,
    *,
    hard_negative_anchors: int | None = None,
    positive_weight: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Contrastive hinge loss of the Exa.TrkX metric learning.

    With :math:`d_{ij} = \lVert y_i - y_j \rVert_2^2`:

    .. math::
        L = w \cdot \mathrm{mean}_{(i,j) \in \mathrm{true}} d_{ij}
            + \mathrm{mean}_{(i,j) \in \mathrm{neg}} \max(0,\ m^2 - d_{ij})

    Negatives are ``n_random`` uniformly random pairs plus hard negatives (pairs already closer than
    the margin); any candidate that is a true pair (in either direction) or a self pair is dropped.

    Args:
        emb: ``[N, D]`` embeddings (normally unit vectors from :class:`MetricEmbedding`).
        true_pairs: int64 ``[2, P]`` pairs that belong together (e.g. :func:`tracking.truth.truth_segments`).
        margin: radius :math:`m` inside which negatives are penalised (the graph-building radius).
        n_random: number of random candidate negative pairs.
        hard_negatives: an int ``k`` -- each anchor's ``k`` nearest neighbours in ``emb`` that lie within
            the margin (see :func:`nearest_pairs`) -- or an int64 ``[2, H]`` tensor of candidate pairs
            found elsewhere (e.g. by the fixed-radius neighbour kernel). Default 0: none.
        hard_negative_anchors: with an int ``hard_negatives``, use this many random anchors instead of
            every node (bounds the brute-force search).
        positive_weight: weight :math:`w` of the attractive term (default 1).
        generator: random generator for the random pairs and anchors (reproducibility).

    Returns:
        Scalar loss, differentiable w.r.t. ``emb``; 0 (still attached to ``emb``) when there are no pairs.
    """
    if emb.ndim != 2:
        raise ValueError(f"emb must have shape [N, D], got {tuple(emb.shape)}")
    if true_pairs.ndim != 2 or true_pairs.shape[0] != 2:
        raise ValueError(f"true_pairs must have shape [2, P], got {tuple(true_pairs.shape)}")
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    n, device = emb.shape[0], emb.device
    true_pairs = true_pairs.to(device=device, dtype=torch.int64)

    candidates = []
    if n_random > 0 and n > 1:
        candidates.append(torch.randint(0, n, (2, n_random), generator=generator, device="cpu").to(device))
    if isinstance(hard_negatives, torch.Tensor):
        if hard_negatives.ndim != 2 or hard_negatives.shape[0] != 2:
            raise ValueError(
                f"hard_negatives must be an int or a [2, H] tensor, got shape {tuple(hard_negatives.shape)}"
            )
        candidates.append(hard_negatives.to(device=device, dtype=torch.int64))
    elif hard_negatives > 0:
        anchors = None
        if hard_negative_anchors is not None and hard_negative_anchors < n:
            anchors = torch.randperm(n, generator=generator, device="cpu")[:hard_negative_anchors].to(device)
        near = nearest_pairs(emb.detach(), int(hard_negatives), anchors)
        with torch.no_grad():
            inside = ((emb[near[0]] - emb[near[1]]) ** 2).sum(1) < margin**2
        candidates.append(near[:, inside])
    elif hard_negatives < 0:
        raise ValueError(f"hard_negatives must be >= 0, got {hard_negatives}")

    loss = emb.sum() * 0.0  # keeps the graph attached when every term is empty
    if true_pairs.shape[1] > 0:
        d_true = ((emb[true_pairs[0]] - emb[true_pairs[1]]) ** 2).sum(1)
        loss = loss + positive_weight * d_true.mean()
    if candidates:
        neg = torch.cat(candidates, dim=1)
        keep = neg[0] != neg[1]
        if true_pairs.shape[1] > 0:
            keep &= ~torch.isin(_pair_keys(neg, n), _pair_keys(true_pairs, n))
        neg = neg[:, keep]
        if neg.shape[1] > 0:
            d_neg = ((emb[neg[0]] - emb[neg[1]]) ** 2).sum(1)
            loss = loss + torch.relu(margin**2 - d_neg).mean()
    return loss
