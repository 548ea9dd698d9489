"""Cache-blocked inference for the edge classifiers: the same arithmetic as their ``forward``, row
block by row block.

On the CPU the learned stages are bound by memory traffic, not by arithmetic: every LayerNorm, activation
and addition of ``forward`` reads and writes a whole ``[E, hidden]`` tensor (287 MB for a 1.1M-edge
mu = 200 graph at hidden 64), far beyond the caches. Running each MLP on blocks of :data:`ROW_BLOCK`
rows keeps a block's activations in the L2 cache from one layer to the next (measured with one thread,
mu = 200 graphs: the edge filter 4.3x faster at 16384 rows than whole-graph, 3.7x at 65536, 4.0x at 4096).
Every row of a matrix product is computed with the same kernel and summation order whatever the number
of rows, except for one-row products and one-output (matrix-vector) products, whose kernels round
differently with the row count: blocks have at least :data:`MIN_BLOCK` rows and a final one-output
layer runs on all rows at once. So the blocked result equals the whole-graph one bit for bit in float32
(the models' tests assert it) when the fused kernels of :mod:`tracking.nn.fused` are off; with them (the
default on the CPU) each LayerNorm and its activation run as one kernel, whose float32 rounding differs from
torch's (~1e-7 relative; the tests bound the scores' difference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from . import fused

__all__ = ["MIN_BLOCK", "ROW_BLOCK", "blocked_mlp", "mlp_tail", "row_blocks", "scalar_output"]

# Rows per block (measured on mu = 200 graphs, hidden 64, one thread: 16384 was best of 4096 / 16384 / 65536).
ROW_BLOCK = 16384
MIN_BLOCK = 16
ROW_ALIGN = 8  # rows; see row_blocks
_IN_PLACE = (nn.SiLU, nn.ReLU, nn.LeakyReLU)


def row_blocks(rows: int, block: int = ROW_BLOCK) -> Iterator[slice]:
    """Slices of about ``block`` rows covering ``range(rows)``; a remainder under :data:`MIN_BLOCK` rows
    joins the block before it (a one-row product takes another kernel, with other rounding). Blocks are a
    multiple of :data:`ROW_ALIGN` rows (``block`` rounded down): torch's element-wise CPU kernels (SiLU,
    ...) run two SIMD vectors at a time and the remainder with scalar code that rounds differently, so a
    block whose element count is a multiple of 32 (AVX-512: 2 x 16 floats; hidden widths a multiple of 4)
    leaves the scalar remainder on the same elements as the whole tensor (an odd block of 97 rows at hidden
    16 did not, on an AVX-512 machine)."""
    if block < MIN_BLOCK:
        raise ValueError(f"block must be >= {MIN_BLOCK}, got {block}")
    block -= block % ROW_ALIGN
    start = 0
    while start < rows:
        stop = start + block if rows - (start + block) >= MIN_BLOCK else rows
        yield slice(start, stop)
        start = stop


def scalar_output(mlp: nn.Sequential) -> bool:
    """Whether ``mlp`` ends in a ``Linear`` to one output: a matrix-vector product, whose rounding
    depends on the number of rows, so blocked inference applies it to all rows at once."""
    last = mlp[len(mlp) - 1]
    return isinstance(last, nn.Linear) and last.out_features == 1


def _norm_and_activation(layers: list[nn.Module], j: int) -> tuple[nn.LayerNorm, nn.Module | None] | None:
    """``(layers[j], the activation after it or None)`` when ``layers[j]`` is a LayerNorm the fused kernel
    can run (with that activation), else None."""
    norm = layers[j] if j < len(layers) else None
    if not isinstance(norm, nn.LayerNorm):
        return None
    following = layers[j + 1] if j + 1 < len(layers) else None
    return norm, following if following is not None and fused.fusable_activation(following) else None


def mlp_tail(
    mlp: nn.Sequential,
    h: torch.Tensor,
    start: int = 1,
    stop: int | None = None,
    pending_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``mlp[start:stop](h + pending_bias)``, with the element-wise activations applied in place (``h`` is a
    scratch block owned by the caller). A ``LayerNorm`` and the activation after it run as one fused kernel
    where it applies (:func:`tracking.nn.fused.layer_norm_act_`: float32 rounding apart, the values of the
    modules), taking the pending bias (of the ``Linear`` before) in the same pass; every other layer gives
    the values of its module."""
    layers = list(mlp)[start:stop]
    i = 0
    if pending_bias is not None:
        fusable = _norm_and_activation(layers, 0)
        if fusable is not None and fused.layer_norm_act_(h, *fusable, pending_bias):
            i = 1 if fusable[1] is None else 2
        else:
            h = h.add_(pending_bias) if not h.requires_grad else h + pending_bias
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, (nn.Linear, nn.LayerNorm)) and not h.requires_grad:
            j = i + isinstance(layer, nn.Linear)  # where a LayerNorm would be
            fusable = _norm_and_activation(layers, j)
            if fusable is not None:
                if isinstance(layer, nn.Linear):
                    out = fused.linear_norm_act(h, layer, *fusable)
                    ran, h = out is not None, h if out is None else out
                else:
                    ran = fused.layer_norm_act_(h, *fusable)
                if ran:
                    i = j + (1 if fusable[1] is None else 2)
                    continue
        if isinstance(layer, _IN_PLACE) and not h.requires_grad:
            if isinstance(layer, nn.LeakyReLU):
                h = nn.functional.leaky_relu_(h, layer.negative_slope)
            elif isinstance(layer, nn.ReLU):
                h = torch.relu_(h)
            else:
                h = nn.functional.silu(h, inplace=True)
        else:
            h = layer(h)
        i += 1
    return h


def blocked_mlp(
    mlp: nn.Sequential,
    rows: int,
    first: Callable[[slice], torch.Tensor],
    block: int,
    pending_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``mlp`` applied to the rows ``first(rows)`` gives for each row block (``first`` computes the input
    of ``mlp[1]``, i.e. the first layer's output, or that output less ``pending_bias``): every layer block by
    block, except a final one-output ``Linear``, applied once to all rows (:func:`scalar_output`) unless the
    fused kernels are on."""
    stop = len(mlp) - 1 if scalar_output(mlp) else None
    if stop == 0:
        raise ValueError("blocked_mlp: the first layer is the one-output layer; run the MLP on all rows at once")
    if stop is not None and fused.is_enabled():
        # not bit for bit anyway: the one-output layer block by block too (no [rows, hidden] tensor of the
        # whole graph, 410 MB for the filter's 1.6M edges at mu = 200)
        last = mlp[stop]
        return torch.cat([last(mlp_tail(mlp, first(part), 1, stop, pending_bias)) for part in row_blocks(rows, block)])
    out = torch.cat([mlp_tail(mlp, first(part), 1, stop, pending_bias) for part in row_blocks(rows, block)])
    return mlp[len(mlp) - 1](out) if stop is not None else out
