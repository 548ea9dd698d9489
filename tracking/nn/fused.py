"""Fused row kernels for the CPU inference of the edge classifiers (``tracking._core``, ``csrc/cpu/nn_cpu.cpp``).

Between their matrix products the models spend most of their CPU time in element-wise operators, each of
which reads and writes a whole row block (profile of the default GNN on a mu = 200 graph, one thread: matrix
products 35 %, gathers 15 %, LayerNorm 11 %, SiLU 10 %, scatter-add 9 %). These kernels do those steps in one
pass each (measured with ``dev/fused_compare.py``, 2 threads: the filter 1.76x, the GNN 1.72x faster than with
torch's operators; the default pipeline's physics figures identical):

- :func:`layer_norm_act_`: the bias of the ``Linear`` before (:func:`linear_norm_act` multiplies without it:
  torch's ``addmm`` would first copy the bias into every row), ``LayerNorm``, then ``SiLU`` / ``ReLU``, in
  place (AVX2 + FMA on x86-64 where the CPU has it, exp by the Cephes polynomial). Its values differ from
  torch's by float32 rounding (~1e-7 relative; torch computes the variance another way and its own exp): the
  only kernel here that changes bits. With it on, blocked inference also runs a final one-output layer
  block by block (:func:`tracking.nn.inference.blocked_mlp`).
- :func:`gather_add_`: ``out += table[index]`` without the gathered copy; the same additions as torch's, so
  the same values.
- :func:`index_add`: ``zeros.index_add_(0, index, values)`` summing every element in edge order, as torch does
  on the CPU: the same values.
- :func:`segment_sum_into`: the same sums written straight into columns of a node-state buffer, node by node
  over the edges of each node (:func:`segments`, a stable sort of the index made once per graph): no zero
  fill, no scatter, and the GNN's node network reads ``[h, incoming, outgoing]`` without a concatenation.
- :func:`mlp_of_concat_`: a whole MLP on the rows of a graph in one call (``mlp_rows_cpu``): the first layer
  of a concatenated input as :func:`tracking.nn.interaction_gnn._mlp_of_concat` splits it (the per-edge block
  multiplied per row, the node blocks multiplied once per node and gathered), then every layer with its bias,
  LayerNorm and activation, 24 rows at a time so that the activations stay in the L1/L2 cache, the products
  by register-tiled AVX2 + FMA kernels, the result written or added in place (a residual update). It replaces
  the Python loop over row blocks of :mod:`tracking.nn.inference` and the extra passes between its torch
  products; float32 rounding apart (its products sum in another order than MKL's), the same values.

They run only where they apply: CPU float32 contiguous tensors that need no gradient (inference); anything
else, and everything when switched off (:func:`enabled` / ``TRACKPIPE_FUSED=0``), takes the torch operators.
Threads: torch's thread count (:func:`torch.get_num_threads`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NamedTuple, cast

import torch
from torch import nn

from .._native import core

__all__ = [
    "Segments",
    "applies",
    "enabled",
    "fusable_activation",
    "gather_add_",
    "index_add",
    "is_enabled",
    "layer_norm_act_",
    "linear_norm_act",
    "mlp_fusable",
    "mlp_of_concat_",
    "segment_sum_into",
    "segments",
]

_ACTIVATIONS: dict[type[nn.Module], int] = {nn.SiLU: 1, nn.ReLU: 2}
_state = {"on": os.environ.get("TRACKPIPE_FUSED", "1").strip().lower() not in ("0", "off", "false", "no")}


def is_enabled() -> bool:
    """Whether the fused kernels are used where they apply."""
    return _state["on"]


@contextlib.contextmanager
def enabled(on: bool) -> Iterator[None]:
    """Switch the fused kernels on or off inside the ``with`` block (tests compare both paths)."""
    before = _state["on"]
    _state["on"] = on
    try:
        yield
    finally:
        _state["on"] = before


def _tracing() -> bool:
    """TorchScript tracing, ``torch.compile`` or ``torch.export`` (the ONNX exporter): they record torch
    operators, so the models must run theirs."""
    return bool(torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling())


def _autocast() -> bool:
    """bf16 autocast (``precision: bf16``): the products are not float32."""
    return bool(torch.is_autocast_enabled("cpu"))


def applies(*tensors: torch.Tensor) -> bool:
    """Whether the kernels may take ``tensors``: switched on, not tracing or exporting, CPU, float32,
    contiguous, no gradient."""
    return (
        _state["on"]
        and not _tracing()
        and not _autocast()
        and all(
            t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() and not t.requires_grad
            for t in tensors
        )
    )


def fusable_activation(layer: nn.Module | None) -> bool:
    """Whether :func:`layer_norm_act_` can apply ``layer`` after the normalisation."""
    return layer is None or type(layer) in _ACTIVATIONS


def _fusable(width: int, norm: nn.LayerNorm, activation: nn.Module | None, bias: torch.Tensor | None) -> bool:
    """Whether the kernel can run ``norm`` (affine, float32, over ``width`` columns), ``activation`` and ``bias``."""
    weight, shift = norm.weight, norm.bias
    return (
        tuple(norm.normalized_shape) == (width,)
        and weight is not None
        and shift is not None
        and fusable_activation(activation)
        and all(t.dtype == torch.float32 for t in (weight, shift) + (() if bias is None else (bias,)))
    )


def layer_norm_act_(
    h: torch.Tensor, norm: nn.LayerNorm, activation: nn.Module | None = None, bias: torch.Tensor | None = None
) -> bool:
    """``h = activation(norm(h + bias))`` in place for a ``[rows, width]`` block when the kernel applies
    (``bias``: the bias of the ``Linear`` before, left out of its product so that it costs no extra pass);
    returns whether it ran (False: nothing was done, the caller runs the modules)."""
    if h.ndim != 2 or not _fusable(h.shape[1], norm, activation, bias) or not applies(h):
        return False
    weight, shift = norm.weight, norm.bias
    code = 0 if activation is None else _ACTIVATIONS[type(activation)]
    core.layer_norm_act_cpu(
        h.numpy(),
        None if bias is None else bias.detach().contiguous().numpy(),
        weight.detach().contiguous().numpy(),
        shift.detach().contiguous().numpy(),
        float(norm.eps),
        code,
        torch.get_num_threads(),
    )
    return True


def linear_norm_act(
    h: torch.Tensor, linear: nn.Linear, norm: nn.LayerNorm, activation: nn.Module | None
) -> torch.Tensor | None:
    """``activation(norm(linear(h)))``: the product without its bias, then one fused pass (bias, LayerNorm,
    activation); None when the kernel does not apply (nothing computed)."""
    bias = linear.bias
    if bias is None or not applies(h) or not _fusable(linear.out_features, norm, activation, bias):
        return None  # checked before the product, so that it is never computed twice
    out = nn.functional.linear(h, linear.weight)
    return out if layer_norm_act_(out, norm, activation, bias) else None


def gather_add_(out: torch.Tensor, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``out += table[index]`` in place (rows of ``out`` and ``index`` correspond); returns ``out``."""
    if (
        out.ndim == 2
        and table.ndim == 2
        and index.dtype == torch.int64
        and index.device.type == "cpu"
        and applies(out, table)
    ):
        core.gather_add_cpu(out.numpy(), table.numpy(), index.contiguous().numpy(), torch.get_num_threads())
        return out
    return out.add_(table[index])


def index_add(values: torch.Tensor, index: torch.Tensor, rows: int) -> torch.Tensor:
    """``values.new_zeros([rows, F]).index_add_(0, index, values)``, the same sums."""
    if values.ndim == 2 and index.dtype == torch.int64 and index.device.type == "cpu" and applies(values):
        out = values.new_zeros((rows, values.shape[1]))
        core.index_add_rows_cpu(out.numpy(), values.numpy(), index.contiguous().numpy(), torch.get_num_threads())
        return out
    return values.new_zeros((rows, *values.shape[1:])).index_add(0, index, values)


class Segments(NamedTuple):
    """The edges of each node: ``order[offsets[i]:offsets[i + 1]]`` are node ``i``'s, in increasing edge order."""

    nodes: torch.Tensor  # int64 [E]: the node of each edge
    order: torch.Tensor  # int64 [E]
    offsets: torch.Tensor  # int64 [N + 1]


def segments(index: torch.Tensor, rows: int) -> Segments:
    """:class:`Segments` of ``index`` over ``rows`` nodes (a stable sort: the order index_add_ sums in)."""
    order = torch.argsort(index, stable=True)
    offsets = torch.zeros(rows + 1, dtype=torch.int64, device=index.device)
    torch.cumsum(torch.bincount(index, minlength=rows), 0, out=offsets[1:])
    return Segments(index, order, offsets)


def segment_sum_into(out: torch.Tensor, column: int, values: torch.Tensor, segs: Segments) -> None:
    """``out[:, column : column + F] = zeros.index_add_(0, segs.nodes, values)``: the same sums, written in place
    into columns of ``out`` (``[N, >= column + F]``), for every row."""
    width = values.shape[1]
    if out.ndim == 2 and values.ndim == 2 and segs.order.device.type == "cpu" and applies(out, values):
        core.segment_sum_rows_cpu(
            out.numpy(), column, values.numpy(), segs.order.numpy(), segs.offsets.numpy(), torch.get_num_threads()
        )
        return
    out[:, column : column + width] = values.new_zeros((out.shape[0], width)).index_add_(0, segs.nodes, values)


def _mlp_layers(mlp: nn.Sequential, first_weight: torch.Tensor) -> list[tuple[object, ...]] | None:
    """``mlp`` as ``mlp_rows_cpu``'s layer tuples ``(weight, bias, gamma, beta, eps, activation)``, the first
    layer's weight replaced by ``first_weight`` (its per-row columns); None when the kernel cannot run it
    (a module other than Linear / affine LayerNorm / SiLU / ReLU, widths off its multiples of 16)."""
    layers: list[tuple[object, ...]] = []
    modules = list(mlp)
    i = 0
    while i < len(modules):
        linear = modules[i]
        if not isinstance(linear, nn.Linear):
            return None
        weight = first_weight if not layers else linear.weight
        bias = linear.bias
        i += 1
        following = modules[i] if i < len(modules) else None
        norm = following if isinstance(following, nn.LayerNorm) else None
        if norm is not None:
            if not _fusable(linear.out_features, norm, None, bias):
                return None
            i += 1
        # _fusable checked that the LayerNorm is affine (weight and bias tensors)
        act = modules[i] if i < len(modules) and not isinstance(modules[i], (nn.Linear, nn.LayerNorm)) else None
        if act is not None:
            if type(act) not in _ACTIVATIONS:
                return None
            i += 1
        last = i >= len(modules)
        scalar = last and linear.out_features == 1 and norm is None and act is None
        if not scalar and linear.out_features % 16:
            return None
        if not all(t is None or t.dtype == torch.float32 for t in (weight, bias)):
            return None
        gamma = beta = None
        if norm is not None:
            gamma = cast(torch.Tensor, norm.weight).detach().contiguous().numpy()
            beta = cast(torch.Tensor, norm.bias).detach().contiguous().numpy()
        layers.append(
            (
                weight.detach().contiguous().numpy(),
                None if bias is None else bias.detach().contiguous().numpy(),
                gamma,
                beta,
                float(norm.eps) if norm is not None else 0.0,
                0 if act is None else _ACTIVATIONS[type(act)],
            )
        )
    return layers


def mlp_fusable(mlp: nn.Sequential, *, gathers: bool = False) -> bool:
    """Whether :func:`mlp_of_concat_` can run ``mlp`` (with node blocks to gather: ``gathers``) once the kernels
    apply to its inputs: checked before a model starts, so that it never falls back half way."""
    first = mlp[0] if len(mlp) else None
    if not _state["on"] or _tracing() or _autocast() or not isinstance(first, nn.Linear):
        return False
    return _mlp_layers(mlp, first.weight) is not None and not (gathers and first.out_features == 1)


def _rows_ok(t: torch.Tensor) -> bool:
    """A CPU float32 matrix (or column) whose rows are contiguous runs (a column slice of a wider tensor is)."""
    return (
        t.device.type == "cpu"
        and t.dtype == torch.float32
        and not t.requires_grad
        and t.ndim in (1, 2)
        and t.stride(-1) == 1
        and (t.ndim == 1 or t.shape[0] <= 1 or t.stride(0) >= t.shape[1])
    )


def _node_products(
    first: nn.Linear, pieces: list[tuple[torch.Tensor, torch.Tensor | None]], scratch: torch.Tensor | None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(first layer's columns of a node block @ that block, index)`` for each gathered piece; the blocks of
    one node tensor (a GNN's ``h`` at both ends of the edges) in one product with their weights stacked,
    by the same kernel (a bare Linear, no bias), the tables column slices of it, written into ``scratch``
    where it is given and large enough (a fresh tensor of tens of MB costs as much in page faults as its
    product)."""
    out_width = first.out_features
    by_tensor: dict[int, tuple[torch.Tensor, list[tuple[slice, torch.Tensor]]]] = {}
    offset = 0
    for tensor, index in pieces:
        width = tensor.shape[1]
        if index is not None:
            by_tensor.setdefault(id(tensor), (tensor, []))[1].append((slice(offset, offset + width), index))
        offset += width
    products: list[tuple[torch.Tensor, torch.Tensor]] = []
    for tensor, blocks in by_tensor.values():
        weight = torch.cat([first.weight[:, columns] for columns, _ in blocks]).detach().contiguous()
        rows, needed = tensor.shape[0], weight.shape[0]
        if scratch is not None and len(by_tensor) == 1 and scratch.shape[0] == rows and scratch.shape[1] >= needed:
            table = scratch[:, :needed]
        else:
            table = tensor.new_empty((rows, needed))
        if _rows_ok(tensor):  # (the layer check already required out_width % 16 == 0)
            layer = (weight.numpy(), None, None, None, 0.0, 0)
            threads = torch.get_num_threads()
            core.mlp_rows_cpu(tensor.numpy(), tensor.shape[0], [], [layer], table.numpy(), False, threads)
        else:
            table.copy_(nn.functional.linear(tensor, weight))
        products.extend((table[:, j * out_width : (j + 1) * out_width], index) for j, (_, index) in enumerate(blocks))
    return products


def mlp_of_concat_(
    mlp: nn.Sequential,
    pieces: list[tuple[torch.Tensor, torch.Tensor | None]],
    out: torch.Tensor,
    *,
    accumulate: bool = False,
    scratch: torch.Tensor | None = None,
) -> bool:
    """``out = mlp(cat(pieces))`` (or ``out += ...`` with ``accumulate``) for the rows of ``out``, in one fused
    call, where a piece ``(t, None)`` is a per-row block (at most one) and ``(t, index)`` a node block gathered
    per row (``t[index]``, multiplied once per node). ``out`` is ``[rows, width]`` (``[rows]`` for one output)
    and may be a column slice of a wider tensor, and the same rows as the per-row block (each row is read
    before it is written). ``scratch``: a float32 ``[nodes, >= width x node blocks]`` buffer for the node blocks
    products, reused from call to call. Returns whether it ran (False: nothing was done; the caller runs the
    torch path)."""
    if not _state["on"] or _tracing() or _autocast() or not _rows_ok(out):
        return False
    first = mlp[0]
    if not isinstance(first, nn.Linear) or first.weight.dtype != torch.float32:
        return False
    rows = out.shape[0]
    dense: torch.Tensor | None = None
    dense_columns = slice(0, 0)
    gathers: list[tuple[torch.Tensor, torch.Tensor]] = []
    offset = 0
    for tensor, index in pieces:
        width = tensor.shape[1]
        columns = slice(offset, offset + width)
        offset += width
        if index is None:
            if dense is not None or not _rows_ok(tensor) or tensor.shape[0] != rows:
                return False
            dense, dense_columns = tensor, columns
        elif (
            index.dtype != torch.int64
            or index.device.type != "cpu"
            or index.shape != (rows,)
            or tensor.device.type != "cpu"
            or tensor.dtype != torch.float32
            or tensor.requires_grad
        ):
            return False
        else:
            gathers.append((tensor, index))
    if offset != first.in_features:
        raise ValueError(f"inputs of width {offset} for a first layer of width {first.in_features}")
    layers = _mlp_layers(mlp, first.weight[:, dense_columns])
    if layers is None or (gathers and first.out_features == 1):
        return False
    tables = []
    for table, index in _node_products(first, pieces, scratch):
        tables.append((table.numpy(), index.contiguous().numpy()))
    core.mlp_rows_cpu(
        None if dense is None else dense.numpy(),
        rows,
        tables,
        layers,
        out.numpy(),
        accumulate,
        torch.get_num_threads(),
    )
    return True
