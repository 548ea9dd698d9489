"""The MLP edge filter of Exa.TrkX / ACORN: scores each edge from its two hits alone, cheaply, to
prune a large candidate graph before the GNN (X. Ju et al., Eur. Phys. J. C 81 (2021) 876,
arXiv:2103.06995, section 3.2; ACORN ``Filter`` stage)."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from . import fused
from .features import NUM_EDGE_FEATURES
from .inference import ROW_BLOCK, blocked_mlp
from .mlp import activation_class, make_mlp


class EdgeFilter(nn.Module):
    r"""Per-edge MLP classifier: :math:`\mathrm{logit}_{ij} = \phi([x_i, x_j, a_{ij}])`.

    No message passing, so its cost is linear in the edges and it can run on any chunk of edges
    independently (the ``edge_filter`` plugin chunks large graphs).

    Args:
        node_features: width of ``x`` (default 4).
        edge_features: width of ``edge_attr`` (default 10, :data:`tracking.nn.features.NUM_EDGE_FEATURES`;
            7 = doublet features only; 0 = node inputs only).
        hidden: hidden width (default 128).
        n_layers: linear layers (default 4).
        layer_norm: LayerNorm after hidden layers (default True).
        activation: ``relu, silu, gelu, tanh, leaky_relu`` (default ``silu``).

    Call ``model(x, edge_index, edge_attr)`` -> logits ``[E]``.
    """

    def __init__(
        self,
        node_features: int = 4,
        edge_features: int = NUM_EDGE_FEATURES,
        hidden: int = 128,
        n_layers: int = 4,
        layer_norm: bool = True,
        activation: str = "silu",
    ) -> None:
        super().__init__()
        if node_features < 1:
            raise ValueError(f"node_features must be >= 1, got {node_features}")
        if edge_features < 0:
            raise ValueError(f"edge_features must be >= 0, got {edge_features}")
        activation_class(activation)
        self._hparams: dict[str, Any] = dict(
            node_features=node_features,
            edge_features=edge_features,
            hidden=hidden,
            n_layers=n_layers,
            layer_norm=layer_norm,
            activation=activation,
        )
        self.node_features, self.edge_features = node_features, edge_features
        self.network = make_mlp(
            2 * node_features + edge_features, hidden, 1, n_layers, layer_norm=layer_norm, activation=activation
        )

    @property
    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (plain types), as stored in checkpoints."""
        return dict(self._hparams)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None = None) -> torch.Tensor:
        """Edge logits ``[E]``."""
        self._check_inputs(x, edge_index, edge_attr)
        return self.network(self._inputs(x, edge_index, edge_attr, slice(None))).squeeze(1)

    @torch.inference_mode()
    def infer(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor | None = None,
        *,
        block: int = ROW_BLOCK,
    ) -> torch.Tensor:
        """The logits of :meth:`forward` without gradients: on the CPU with the fused kernels, the whole MLP
        in one fused call (:func:`tracking.nn.fused.mlp_of_concat_`: the node inputs multiplied once per node
        and gathered, float32 rounding apart forward's values); otherwise computed ``block`` edges at a time
        so that the activations stay in cache (:mod:`tracking.nn.inference`; bit for bit in float32 with the
        fused kernels off)."""
        self._check_inputs(x, edge_index, edge_attr)
        n_edges = edge_index.shape[1]
        if n_edges == 0 or len(self.network) == 1:  # nothing to block in a lone matrix-vector product
            return self.network(self._inputs(x, edge_index, edge_attr, slice(None))).squeeze(1)

        # the whole MLP in one fused call where it applies (it checks its inputs and declines otherwise)
        logits = x.new_empty(n_edges)
        src, dst = edge_index[0].contiguous(), edge_index[1].contiguous()
        pieces: list[tuple[torch.Tensor, torch.Tensor | None]] = [(x, src), (x, dst)]
        if self.edge_features:
            assert edge_attr is not None  # checked by _check_inputs
            pieces.append((edge_attr, None))
        if fused.mlp_of_concat_(self.network, pieces, logits):
            return logits
        layer = cast(nn.Linear, self.network[0])

        def first(rows: slice) -> torch.Tensor:  # the first layer without its bias (blocked_mlp adds it)
            return nn.functional.linear(self._inputs(x, edge_index, edge_attr, rows), layer.weight)

        return blocked_mlp(self.network, n_edges, first, block, pending_bias=layer.bias).squeeze(1)

    def _inputs(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None, rows: slice
    ) -> torch.Tensor:
        parts = [x[edge_index[0, rows]], x[edge_index[1, rows]]]
        if self.edge_features:
            assert edge_attr is not None  # checked by _check_inputs
            parts.append(edge_attr[rows].to(x.dtype))
        return torch.cat(parts, dim=1)

    def _check_inputs(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None) -> None:
        if x.ndim != 2 or x.shape[1] != self.node_features:
            raise ValueError(f"x must have shape [N, {self.node_features}], got {tuple(x.shape)}")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2 or edge_index.dtype != torch.int64:
            raise ValueError(f"edge_index must be int64 [2, E], got {edge_index.dtype} {tuple(edge_index.shape)}")
        if self.edge_features and (
            edge_attr is None or tuple(edge_attr.shape) != (edge_index.shape[1], self.edge_features)
        ):
            got = None if edge_attr is None else tuple(edge_attr.shape)
            raise ValueError(f"edge_attr must have shape [{edge_index.shape[1]}, {self.edge_features}], got {got}")
