"""The fused CPU inference kernels (tracking.nn.fused, csrc/cpu/nn_cpu.cpp) against torch's operators."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tracking._native import core
from tracking.nn import fused
from tracking.nn.aggregation import aggregate


def norm_layer(width: int, seed: int) -> nn.LayerNorm:
    g = torch.Generator().manual_seed(seed)
    norm = nn.LayerNorm(width)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(width, generator=g) + 0.5)
        norm.bias.copy_(torch.randn(width, generator=g))
    return norm


@pytest.mark.parametrize("width", [64, 16, 7, 24])
@pytest.mark.parametrize("activation", [None, nn.SiLU(), nn.ReLU()])
@pytest.mark.parametrize("with_bias", [False, True])
def test_layer_norm_act_equals_torch(width, activation, with_bias):
    g = torch.Generator().manual_seed(width)
    h = torch.randn(1000, width, generator=g) * 4
    h[:10] *= 30  # large values: exp clamped, SiLU of -100 is -0
    bias = torch.randn(width, generator=g) if with_bias else None
    norm = norm_layer(width, width + 1)
    with torch.no_grad():
        expected = norm(h + bias if bias is not None else h)
        if activation is not None:
            expected = activation(expected)
        got = h.clone()
        assert fused.layer_norm_act_(got, norm, activation, bias)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(got).all()


def test_layer_norm_act_threads_and_empty_blocks():
    norm = norm_layer(64, 3)
    h = torch.randn(20000, 64)
    one, two = h.clone(), h.clone()
    core.layer_norm_act_cpu(one.numpy(), None, norm.weight.detach().numpy(), norm.bias.detach().numpy(), 1e-5, 1, 1)
    core.layer_norm_act_cpu(two.numpy(), None, norm.weight.detach().numpy(), norm.bias.detach().numpy(), 1e-5, 1, 2)
    assert torch.equal(one, two)  # rows are independent: the thread count changes nothing
    empty = torch.zeros(0, 64)
    with torch.no_grad():
        assert fused.layer_norm_act_(empty, norm, nn.SiLU())


def test_layer_norm_act_declines_what_it_cannot_do():
    norm = norm_layer(8, 4)
    with torch.no_grad():
        assert not fused.layer_norm_act_(torch.randn(5, 8, dtype=torch.float64), norm)  # not float32
        assert not fused.layer_norm_act_(torch.randn(8, 5).t(), norm)  # not contiguous
        assert not fused.layer_norm_act_(torch.randn(5, 8), norm, nn.GELU())  # activation it has not
        assert not fused.layer_norm_act_(torch.randn(5, 9), norm_layer(9, 5).requires_grad_(False), nn.Tanh())
        with fused.enabled(False):
            assert not fused.layer_norm_act_(torch.randn(5, 8), norm)
    needs_grad = torch.randn(5, 8, requires_grad=True)
    assert not fused.layer_norm_act_(needs_grad, norm)
    x, gamma, beta = torch.randn(3, 8).numpy(), torch.ones(7).numpy(), torch.zeros(8).numpy()
    with pytest.raises(ValueError, match="gamma"):
        core.layer_norm_act_cpu(x, None, gamma, beta, 1e-5, 0, 1)


def test_linear_norm_act_equals_the_modules():
    torch.manual_seed(5)
    linear, norm = nn.Linear(12, 64), norm_layer(64, 6)
    h = torch.randn(300, 12)
    with torch.no_grad():
        expected = nn.functional.silu(norm(linear(h)))
        got = fused.linear_norm_act(h, linear, norm, nn.SiLU())
    assert got is not None
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_gather_add_equals_torch_bit_for_bit():
    g = torch.Generator().manual_seed(7)
    table = torch.randn(500, 64, generator=g)
    index = torch.randint(0, 500, (5000,), generator=g)
    index[:100] = 3  # repeated rows
    out = torch.randn(5000, 64, generator=g)
    expected = out + table[index]
    assert fused.gather_add_(out, table, index) is out
    assert torch.equal(out, expected)
    with pytest.raises(IndexError, match=r"gather_add: index 500 at position 2 outside \[0, 500\)"):
        fused.gather_add_(torch.zeros(3, 64), table, torch.tensor([0, 1, 500]))


@pytest.mark.parametrize("width", [64, 20, 3])
def test_index_add_equals_torch_bit_for_bit(width):
    """Every element sums its rows in edge order, as torch's index_add_ does on the CPU: the same floats,
    with one and with two threads."""
    g = torch.Generator().manual_seed(width)
    values = torch.randn(30000, width, generator=g) * torch.logspace(-3, 3, 30000).unsqueeze(1)
    index = torch.randint(0, 700, (30000,), generator=g)
    index[:5000] = 11
    expected = torch.zeros(750, width).index_add_(0, index, values)
    assert torch.equal(fused.index_add(values, index, 750), expected)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert torch.equal(fused.index_add(values, index, 750), expected)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        assert torch.equal(aggregate(values, index, 750, "sum"), expected)
        torch.testing.assert_close(
            aggregate(values, index, 750, "mean"), aggregate(values, index, 750, "mean", backend="native")
        )
    with pytest.raises(IndexError, match=r"index_add_rows: index -1 at position 0"):
        fused.index_add(values[:2], torch.tensor([-1, 0]), 750)


def test_the_kernels_step_aside_while_exporting():
    """torch.export (the ONNX exporter) records torch operators: the kernels must not run under it."""

    class Add(nn.Module):
        def forward(self, values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            return fused.index_add(values, index, 4)

    program = torch.export.export(Add(), (torch.randn(6, 8), torch.tensor([0, 1, 1, 3, 2, 0])))
    assert any("index_add" in str(node.target) for node in program.graph.nodes)


def test_segment_sum_into_equals_index_add_bit_for_bit():
    """Sums written into columns of a node-state buffer, node by node over a stable sort of the index: the
    same floats as index_add_ in edge order; nodes without edges get zeros; the other columns are untouched."""
    g = torch.Generator().manual_seed(9)
    values = torch.randn(40000, 16, generator=g) * torch.logspace(-3, 3, 40000).unsqueeze(1)
    index = torch.randint(0, 900, (40000,), generator=g)
    index[:4000] = 5
    state = torch.randn(1000, 48, generator=g)
    before = state.clone()
    segs = fused.segments(index, 1000)
    fused.segment_sum_into(state, 16, values, segs)
    expected = torch.zeros(1000, 16).index_add_(0, index, values)
    assert torch.equal(state[:, 16:32], expected)
    assert torch.equal(state[:, :16], before[:, :16]) and torch.equal(state[:, 32:], before[:, 32:])
    assert torch.equal(state[950:, 16:32], torch.zeros(50, 16))  # no edges there
    with fused.enabled(False):
        other = before.clone()
        fused.segment_sum_into(other, 16, values, segs)
    assert torch.equal(other, state)
    with pytest.raises(ValueError, match="outside the 48 columns"):
        fused.segment_sum_into(state, 40, values, segs)
    bad = fused.Segments(segs.nodes, segs.order, segs.offsets.flip(0))
    with pytest.raises(ValueError, match="offsets must run from 0"):
        fused.segment_sum_into(state, 0, values, bad)


def _randomised(mlp: nn.Sequential, seed: int) -> nn.Sequential:
    """LayerNorms with non-trivial affine parameters (the defaults 1 / 0 would hide a swapped gamma / beta)."""
    for i, module in enumerate(mlp):
        if isinstance(module, nn.LayerNorm):
            mlp[i] = norm_layer(module.normalized_shape[0], seed + i)
    return mlp.eval()


MLP_VARIANTS = [
    # (first-layer inputs, hidden, out, layers, output activation, activation, layer norm)
    (64, 64, 64, 2, True, "silu", True),  # a GNN message network
    (64, 16, 1, 3, False, "silu", True),  # an output head
    (64, 32, 1, 4, False, "relu", True),
    (64, 64, 64, 1, True, "silu", True),
    (64, 32, 32, 2, False, "silu", True),  # a bare Linear last
    (64, 16, 16, 2, True, "relu", False),  # activations without LayerNorm
]


@pytest.mark.parametrize("variant", MLP_VARIANTS)
@pytest.mark.parametrize("rows", [1, 5, 1003])
def test_mlp_of_concat_equals_the_torch_form(variant, rows):
    """One fused call for a whole MLP of a concatenated input (a per-row block and two gathered node blocks)
    gives the torch form's values to float32 rounding, for row counts off the kernel's chunks and tiles."""
    from tracking.nn.interaction_gnn import _mlp_of_concat
    from tracking.nn.mlp import make_mlp

    width_in, hidden, out_width, n_layers, act_out, activation, layer_norm = variant
    torch.manual_seed(rows)
    mlp = make_mlp(
        width_in + 2 * 24,
        hidden,
        out_width,
        n_layers,
        output_activation=act_out,
        activation=activation,
        layer_norm=layer_norm,
    )
    mlp = _randomised(mlp, rows)
    e, h = torch.randn(rows, width_in) * 3, torch.randn(40, 24)
    src, dst = torch.randint(0, 40, (rows,)), torch.randint(0, 40, (rows,))
    src[: rows // 2] = 3  # repeated nodes
    pieces = [(e, None), (h, src), (h, dst)]
    with torch.no_grad():
        expected = _mlp_of_concat(mlp, pieces)
        got = torch.full((rows, out_width), float("nan")) if out_width > 1 else torch.full((rows,), float("nan"))
        assert fused.mlp_of_concat_(mlp, pieces, got)
    torch.testing.assert_close(got, expected.squeeze(1) if out_width == 1 else expected, rtol=1e-5, atol=2e-5)


def test_mlp_of_concat_accumulates_into_strided_rows_in_place():
    """A residual update in place: out is a column slice of a wider buffer and also the per-row input (each
    row read before it is written); the other columns stay untouched; one thread or two, the same floats."""
    from tracking.nn.interaction_gnn import _mlp_of_concat
    from tracking.nn.mlp import make_mlp

    torch.manual_seed(3)
    mlp = _randomised(make_mlp(96, 32, 32, 2, output_activation=True), 7)
    state = torch.randn(5000, 96)
    with torch.no_grad():
        expected = state[:, :32] + _mlp_of_concat(mlp, [(state, None)])
    results = []
    for threads in (1, 2):
        buffer = state.clone()
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                assert fused.mlp_of_concat_(mlp, [(buffer, None)], buffer[:, :32], accumulate=True)
        finally:
            torch.set_num_threads(before)
        assert torch.equal(buffer[:, 32:], state[:, 32:])
        results.append(buffer)
    torch.testing.assert_close(results[0][:, :32], expected, rtol=1e-5, atol=2e-5)
    assert torch.equal(results[0], results[1])  # rows are independent of the thread split


def test_mlp_of_concat_declines_what_it_cannot_do_and_checks_indices():
    from tracking.nn.mlp import make_mlp

    x, index = torch.randn(10, 8), torch.arange(10)
    out = torch.empty(10, 16)
    with torch.no_grad():
        assert not fused.mlp_of_concat_(make_mlp(8, 16, 16, 2, activation="gelu"), [(x, None)], out)  # GELU
        assert not fused.mlp_of_concat_(make_mlp(8, 24, 16, 2), [(x, None)], out)  # hidden 24: not 16k
        assert not fused.mlp_of_concat_(make_mlp(16, 16, 16, 2), [(x, None), (x, None)], out)  # two row blocks
        assert not fused.mlp_of_concat_(make_mlp(8, 16, 16, 2).double(), [(x.double(), None)], out.double())
        with fused.enabled(False):
            assert not fused.mlp_of_concat_(make_mlp(8, 16, 16, 2), [(x, None)], out)
        out.fill_(7.0)
        with pytest.raises(IndexError, match="mlp_rows gather: index 10 at position 9"):
            fused.mlp_of_concat_(make_mlp(8, 16, 16, 2), [(x, index + 1)], out)
        assert torch.equal(out, torch.full((10, 16), 7.0))  # nothing written before the check
    assert not fused.mlp_fusable(make_mlp(8, 16, 16, 2, activation="tanh"))
    assert fused.mlp_fusable(make_mlp(8, 16, 1, 3), gathers=True)
    assert not fused.mlp_fusable(make_mlp(8, 16, 1, 1), gathers=True)  # a one-output first layer gathers nothing


def test_mlp_of_concat_declines_node_blocks_that_need_gradients():
    from tracking.nn.mlp import make_mlp

    mlp = make_mlp(8, 16, 16, 2)
    nodes = torch.randn(10, 8, requires_grad=True)
    out = torch.empty(4, 16)
    assert not fused.mlp_of_concat_(mlp, [(nodes, torch.tensor([0, 1, 2, 3]))], out)
    with torch.no_grad():
        assert not fused.mlp_of_concat_(mlp, [(nodes.double(), torch.tensor([0, 1, 2, 3]))], out)
        assert fused.mlp_of_concat_(mlp, [(nodes.detach(), torch.tensor([0, 1, 2, 3]))], out)  # detached: runs
