"""The Interaction-Network edge classifier of ACORN / Exa.TrkX (``InteractionGNN``).

References: P. Battaglia et al., "Interaction Networks for Learning about Objects, Relations and
Physics", NeurIPS 2016 (arXiv:1612.00222); X. Ju et al. (Exa.TrkX), "Performance of a geometric deep
learning pipeline for HL-LHC particle tracking", Eur. Phys. J. C 81 (2021) 876 (arXiv:2103.06995);
the ACORN / GNN4ITk ``InteractionGNN`` (gitlab.cern.ch/gnn4itkteam/acorn).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from . import fused
from .aggregation import REDUCTIONS, Reduce, aggregate
from .features import NUM_EDGE_FEATURES
from .inference import ROW_BLOCK, blocked_mlp, mlp_tail, row_blocks, scalar_output
from .mlp import activation_class, make_mlp


def _mlp_of_concat(mlp: nn.Sequential, pieces: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
    """``mlp(cat([t[index] if index is not None else t for t, index in pieces], dim=1))`` without the
    per-edge concatenation.

    The first ``Linear`` is linear in each block of its input, so the block of a node tensor is
    multiplied once per node and then gathered per edge: ``W [a, b[i], c[j]] = W_a a + (W_b b)[i] +
    (W_c c)[j]``. That moves two thirds of the first layer's work from edges to nodes (E >> N in hit
    graphs) and never materialises the ``[E, 3H]`` input; the result equals the concatenated form up
    to floating-point summation order.
    """
    first = cast(nn.Linear, mlp[0])
    out: torch.Tensor | None = None
    offset = 0
    for tensor, index in pieces:
        width = tensor.shape[1]
        part = nn.functional.linear(tensor, first.weight[:, offset : offset + width])
        offset += width
        if index is not None:
            part = part[index]
        out = part if out is None else out + part
    if offset != first.in_features:
        raise ValueError(f"inputs of width {offset} for a first layer of width {first.in_features}")
    assert out is not None
    return cast(torch.Tensor, mlp[1:](out + first.bias))


class _BlockedFirstLayer:
    """:func:`_mlp_of_concat` split for blocked inference: the node blocks of the first layer are
    multiplied once for the whole graph (here), the edge blocks and the rest of the MLP one row block at
    a time (:meth:`__call__`). The same operations in the same order, so the same values."""

    def __init__(self, mlp: nn.Sequential, pieces: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        first = cast(nn.Linear, mlp[0])
        self.mlp, self.bias = mlp, first.bias
        # (tensor, weight, None): a per-edge block, multiplied per row block; (product, None, index): a
        # node block, multiplied once and gathered per row block.
        self.parts: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = []
        offset = 0
        for tensor, index in pieces:
            weight = first.weight[:, offset : offset + tensor.shape[1]]
            offset += tensor.shape[1]
            if index is None:
                self.parts.append((tensor, weight, None))
            else:
                self.parts.append((nn.functional.linear(tensor, weight), None, index))
        if offset != first.in_features:
            raise ValueError(f"inputs of width {offset} for a first layer of width {first.in_features}")

    def __call__(self, rows: slice, bias: bool = True) -> torch.Tensor:
        """The first layer's output for the edges ``rows`` (without its bias: ``bias=False``)."""
        out: torch.Tensor | None = None
        for value, weight, index in self.parts:
            if index is not None:
                if out is None:
                    out = value[index[rows]]
                else:
                    fused.gather_add_(out, value, index[rows])  # out += value[index[rows]], no gathered copy
                continue
            assert weight is not None
            part = nn.functional.linear(value[rows], weight)
            out = part if out is None else out.add_(part)
        assert out is not None
        return out.add_(self.bias) if bias else out

    def tail(self, rows: slice) -> torch.Tensor:
        """The whole MLP for the edges ``rows`` (the bias joins the fused LayerNorm where it applies)."""
        return mlp_tail(self.mlp, self(rows, bias=False), pending_bias=self.bias)

    def run(self, rows: int, block: int) -> torch.Tensor:
        """The whole MLP on ``rows`` edges, block by block (:func:`~tracking.nn.inference.blocked_mlp`)."""
        return blocked_mlp(self.mlp, rows, lambda part: self(part, bias=False), block, pending_bias=self.bias)


class InteractionGNN(nn.Module):
    r"""Interaction-Network GNN that scores the edges of a hit graph.

    With node inputs :math:`x^0_i` and edge inputs :math:`a_{ij}` for a directed edge :math:`i \to j`:

    .. math::
        h^0_i &= \phi_x(x^0_i), \qquad e^0_{ij} = \phi_e([h^0_i, h^0_j, a_{ij}]) \\
        e^{t+1}_{ij} &= e^t_{ij} + \phi^{E}([e^t_{ij}, h^t_i, h^t_j]) \\
        h^{t+1}_i &= h^t_i + \phi^{N}\big([h^t_i,\ \textstyle\bigoplus_{k \to i} e^{t+1}_{ki},\
                      \bigoplus_{i \to k} e^{t+1}_{ik}]\big) \\
        \mathrm{logit}_{ij} &= \phi_{out}([h^T_i, h^T_j, e^T_{ij}])

    for :math:`t = 0 \dots T-1`, where :math:`\oplus` is :func:`~tracking.nn.aggregation.aggregate`
    (incoming and outgoing messages are aggregated separately because the graph is directed, inner
    to outer, as in ACORN). Every :math:`\phi` is an MLP (:func:`~tracking.nn.mlp.make_mlp`).

    Args:
        node_features: width of ``x`` (default 4, :data:`tracking.nn.features.NUM_NODE_FEATURES`).
        edge_features: width of ``edge_attr`` (default 10, :data:`tracking.nn.features.NUM_EDGE_FEATURES`;
            7 = doublet features only; 0 = the model takes no edge inputs).
        hidden: width of every hidden representation (default 64).
        n_iterations: message-passing iterations :math:`T` (default 8).
        mlp_layers: linear layers in each encoder / message network (default 2).
        output_layers: linear layers in the output head (default 3).
        layer_norm: LayerNorm in the MLPs (default True).
        activation: ``relu, silu, gelu, tanh, leaky_relu`` (default ``silu``).
        aggregation: ``sum``, ``mean`` or ``max`` (default ``sum``).
        recurrent: share the message networks across iterations (default True, as ACORN's
            ``InteractionGNN``); False gives each iteration its own (ACORN's ``InteractionGNN2``).
        checkpoint_iterations: recompute each iteration's activations in the backward pass
            (``torch.utils.checkpoint``) instead of storing them, trading compute for memory on large
            graphs (default False). Only active while training with gradients enabled.

    Call ``model(x, edge_index, edge_attr)`` with ``x`` ``[N, node_features]``, ``edge_index`` int64
    ``[2, E]``, ``edge_attr`` ``[E, edge_features]`` (or None when ``edge_features == 0``); it returns
    logits ``[E]`` (apply ``sigmoid`` for scores, ``BCEWithLogits`` for training).
    """

    def __init__(
        self,
        node_features: int = 4,
        edge_features: int = NUM_EDGE_FEATURES,
        hidden: int = 64,
        n_iterations: int = 8,
        mlp_layers: int = 2,
        output_layers: int = 3,
        layer_norm: bool = True,
        activation: str = "silu",
        aggregation: Reduce = "sum",
        recurrent: bool = True,
        checkpoint_iterations: bool = False,
    ) -> None:
        super().__init__()
        if node_features < 1:
            raise ValueError(f"node_features must be >= 1, got {node_features}")
        if edge_features < 0:
            raise ValueError(f"edge_features must be >= 0, got {edge_features}")
        if n_iterations < 0:
            raise ValueError(f"n_iterations must be >= 0, got {n_iterations}")
        if aggregation not in REDUCTIONS:
            raise ValueError(f"aggregation={aggregation!r}: expected one of {', '.join(REDUCTIONS)}")
        activation_class(activation)  # validates the name
        self._hparams: dict[str, Any] = dict(
            node_features=node_features,
            edge_features=edge_features,
            hidden=hidden,
            n_iterations=n_iterations,
            mlp_layers=mlp_layers,
            output_layers=output_layers,
            layer_norm=layer_norm,
            activation=activation,
            aggregation=aggregation,
            recurrent=recurrent,
            checkpoint_iterations=checkpoint_iterations,
        )
        self.node_features, self.edge_features = node_features, edge_features
        self.n_iterations, self.aggregation, self.recurrent = n_iterations, aggregation, recurrent
        self.checkpoint_iterations = checkpoint_iterations

        def mlp(width_in: int, n_layers: int = mlp_layers, out: int = hidden, act_out: bool = True) -> nn.Sequential:
            return make_mlp(
                width_in,
                hidden,
                out,
                n_layers,
                layer_norm=layer_norm,
                activation=activation,
                output_activation=act_out,
            )

        self.node_encoder = mlp(node_features)
        self.edge_encoder = mlp(2 * hidden + edge_features)
        n_networks = 1 if recurrent else max(n_iterations, 1)
        self.edge_networks = nn.ModuleList(mlp(3 * hidden) for _ in range(n_networks))
        self.node_networks = nn.ModuleList(mlp(3 * hidden) for _ in range(n_networks))
        self.output_head = mlp(3 * hidden, n_layers=output_layers, out=1, act_out=False)

    @property
    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (plain types), as stored in checkpoints."""
        return dict(self._hparams)

    def _check_inputs(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None) -> None:
        if x.ndim != 2 or x.shape[1] != self.node_features:
            raise ValueError(f"x must have shape [N, {self.node_features}], got {tuple(x.shape)}")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2 or edge_index.dtype != torch.int64:
            raise ValueError(f"edge_index must be int64 [2, E], got {edge_index.dtype} {tuple(edge_index.shape)}")
        if self.edge_features and (
            edge_attr is None
            or edge_attr.ndim != 2
            or tuple(edge_attr.shape) != (edge_index.shape[1], self.edge_features)
        ):
            got = None if edge_attr is None else tuple(edge_attr.shape)
            raise ValueError(f"edge_attr must have shape [{edge_index.shape[1]}, {self.edge_features}], got {got}")

    def encode(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial hidden node and edge representations ``(h [N, hidden], e [E, hidden])``."""
        h = self.node_encoder(x)
        parts: list[tuple[torch.Tensor, torch.Tensor | None]] = [(h, edge_index[0]), (h, edge_index[1])]
        if self.edge_features:
            assert edge_attr is not None  # checked by forward()
            parts.append((edge_attr.to(h.dtype), None))
        return h, _mlp_of_concat(self.edge_encoder, parts)

    def _iteration(
        self, x: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor, step: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One message-passing iteration on hidden states ``x [N, hidden]``, ``e [E, hidden]``.

        Kept a method on plain tensors so that callers can wrap it (activation checkpointing here; a
        partitioned or distributed driver elsewhere). ``step`` selects the networks when not recurrent.
        """
        k = 0 if self.recurrent else step
        src, dst = edge_index[0], edge_index[1]
        e = e + _mlp_of_concat(cast(nn.Sequential, self.edge_networks[k]), [(e, None), (x, src), (x, dst)])
        n = x.shape[0]
        incoming = aggregate(e, dst, n, self.aggregation)
        outgoing = aggregate(e, src, n, self.aggregation)
        x = x + self.node_networks[k](torch.cat([x, incoming, outgoing], dim=1))
        return x, e

    def classify(self, x: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Edge logits ``[E]`` from final hidden states."""
        return _mlp_of_concat(self.output_head, [(x, edge_index[0]), (x, edge_index[1]), (e, None)]).squeeze(1)

    @torch.inference_mode()
    def infer(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor | None = None,
        *,
        block: int = ROW_BLOCK,
    ) -> torch.Tensor:
        """The logits of :meth:`forward` without gradients and faster: nodes on no edge are left out (their
        states never reach an edge's score) and state is updated in place. On the CPU with the fused kernels
        (float32, sum aggregation, hidden a multiple of 16: the shipped models) each MLP is one fused call
        over all rows (:meth:`_infer_fused`; float32 rounding apart, forward's values); otherwise every MLP
        runs on ``block`` rows at a time (:mod:`tracking.nn.inference`; bit for bit with the fused kernels
        off)."""
        self._check_inputs(x, edge_index, edge_attr)
        n_edges = edge_index.shape[1]
        if n_edges == 0:
            return x.new_zeros(0)
        # A one-output first layer of the head multiplies node states by a vector: its rounding depends
        # on the node count, so the nodes are kept then, and the head runs unblocked.
        scalar_head = len(self.output_head) == 1 and scalar_output(self.output_head)
        used = torch.unique(edge_index)
        if used.numel() < x.shape[0] and not scalar_head:
            remap = torch.full((x.shape[0],), -1, dtype=torch.int64, device=x.device)
            remap[used] = torch.arange(used.numel(), device=x.device)
            x, edge_index = x[used], remap[edge_index]
        if self._fused_inference(x, edge_attr):
            return self._infer_fused(x, edge_index, edge_attr)
        src, dst = edge_index[0], edge_index[1]
        n_nodes = x.shape[0]
        node_rows = list(row_blocks(n_nodes, block))
        h = blocked_mlp(self.node_encoder, n_nodes, lambda rows: self.node_encoder[0](x[rows]), block)
        parts: list[tuple[torch.Tensor, torch.Tensor | None]] = [(h, src), (h, dst)]
        if self.edge_features:
            assert edge_attr is not None  # checked above
            parts.append((edge_attr.to(h.dtype), None))
        e = _BlockedFirstLayer(self.edge_encoder, parts).run(n_edges, block)
        # Sum aggregation with the fused kernels: one node-state buffer [h, incoming, outgoing] that the sums
        # are written into (no zero fill, no scatter, no concatenation for the node network); h is its view.
        state: torch.Tensor | None = None
        if self.aggregation == "sum" and self.n_iterations and fused.applies(h):
            width = h.shape[1]
            state = h.new_empty((n_nodes, 3 * width))
            state[:, :width] = h
            h = state[:, :width]
            into, out_of = fused.segments(dst, n_nodes), fused.segments(src, n_nodes)
        for step in range(self.n_iterations):
            k = 0 if self.recurrent else step
            messages = _BlockedFirstLayer(cast(nn.Sequential, self.edge_networks[k]), [(e, None), (h, src), (h, dst)])
            for rows in row_blocks(n_edges, block):
                e[rows].add_(messages.tail(rows))  # reads e[rows] before the update
            network = cast(nn.Sequential, self.node_networks[k])
            if state is not None:
                fused.segment_sum_into(state, width, e, into)
                fused.segment_sum_into(state, 2 * width, e, out_of)
                for rows in node_rows:
                    h[rows].add_(mlp_tail(network, state[rows], 0))
                continue
            incoming = aggregate(e, dst, n_nodes, self.aggregation)
            outgoing = aggregate(e, src, n_nodes, self.aggregation)
            for rows in node_rows:
                h[rows].add_(mlp_tail(network, torch.cat([h[rows], incoming[rows], outgoing[rows]], dim=1), 0))
        if scalar_head:
            return self.classify(h, e, edge_index)
        return _BlockedFirstLayer(self.output_head, [(h, src), (h, dst), (e, None)]).run(n_edges, block).squeeze(1)

    def _fused_inference(self, x: torch.Tensor, edge_attr: torch.Tensor | None) -> bool:
        """Whether :meth:`_infer_fused` runs: sum aggregation, and the fused kernels apply to the inputs and to
        every MLP (:func:`tracking.nn.fused.mlp_fusable`: hidden widths multiples of 16, its layer types)."""
        tensors = [x] if edge_attr is None else [x, edge_attr]
        networks = [self.node_encoder, *self.edge_networks, *self.node_networks]
        return (
            self.aggregation == "sum"
            and fused.applies(*tensors)
            and all(fused.mlp_fusable(cast(nn.Sequential, m)) for m in networks)
            and fused.mlp_fusable(self.edge_encoder, gathers=True)
            and fused.mlp_fusable(self.output_head, gathers=True)
        )

    def _infer_fused(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None) -> torch.Tensor:
        """:meth:`infer` with each MLP as one fused call over all rows (:func:`tracking.nn.fused.mlp_of_concat_`):
        node states live in one buffer ``[h, incoming, outgoing]`` (the node network's input, updated in place),
        edge states in ``e``, updated in place by the residual message networks."""
        n_nodes, n_edges, width = x.shape[0], edge_index.shape[1], int(self._hparams["hidden"])
        src, dst = edge_index[0].contiguous(), edge_index[1].contiguous()
        state = x.new_empty((n_nodes, 3 * width))
        h = state[:, :width]
        e = x.new_empty((n_edges, width))
        scratch = x.new_empty((n_nodes, 2 * width))  # the node blocks' products of every MLP

        def run(
            mlp: nn.Module, pieces: list[tuple[torch.Tensor, torch.Tensor | None]], out: torch.Tensor, **kw: Any
        ) -> None:
            if not fused.mlp_of_concat_(cast(nn.Sequential, mlp), pieces, out, **kw):
                # _fused_inference checked every condition: a kernel that declines here is a bug
                raise RuntimeError("InteractionGNN: a fused MLP declined after _fused_inference accepted the model")

        run(self.node_encoder, [(x.contiguous(), None)], h)
        parts: list[tuple[torch.Tensor, torch.Tensor | None]] = [(h, src), (h, dst)]
        if self.edge_features:
            assert edge_attr is not None  # checked by infer
            parts.append((edge_attr.contiguous(), None))
        run(self.edge_encoder, parts, e, scratch=scratch)
        into, out_of = fused.segments(dst, n_nodes), fused.segments(src, n_nodes)
        for step in range(self.n_iterations):
            k = 0 if self.recurrent else step
            run(self.edge_networks[k], [(e, None), (h, src), (h, dst)], e, accumulate=True, scratch=scratch)
            fused.segment_sum_into(state, width, e, into)
            fused.segment_sum_into(state, 2 * width, e, out_of)
            run(self.node_networks[k], [(state, None)], h, accumulate=True)
        logits = x.new_empty(n_edges)
        run(self.output_head, [(h, src), (h, dst), (e, None)], logits, scratch=scratch)
        return logits

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None = None) -> torch.Tensor:
        """Edge logits ``[E]`` for the graph ``(x, edge_index, edge_attr)``."""
        self._check_inputs(x, edge_index, edge_attr)
        h, e = self.encode(x, edge_index, edge_attr)
        use_checkpoint = self.checkpoint_iterations and self.training and torch.is_grad_enabled()
        for step in range(self.n_iterations):
            if use_checkpoint:
                h, e = checkpoint(self._iteration, h, e, edge_index, step, use_reentrant=False)
            else:
                h, e = self._iteration(h, e, edge_index, step)
        return self.classify(h, e, edge_index)
