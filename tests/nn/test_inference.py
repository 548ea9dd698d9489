"""Blocked inference (``infer``) equals ``forward`` bit for bit in float32 without the fused kernels, and to
float32 rounding with them; precision and compile runners."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from tracking import accel
from tracking.nn import EdgeFilter, InteractionGNN, fused
from tracking.nn import runtime as rt
from tracking.nn.inference import mlp_tail, row_blocks
from tracking.nn.mlp import ACTIVATIONS, make_mlp


def graph(n: int = 300, e: int = 2000, edge_features: int = 10, seed: int = 0):
    """Random graph with repeated destinations and nodes on no edge (the last 50)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    edge_index = torch.randint(0, n - 50, (2, e), generator=g)
    edge_index[1, : e // 4] = 7  # many messages into one node
    return x, edge_index, torch.randn(e, edge_features, generator=g)


GNN_VARIANTS = [
    {},
    {"recurrent": False},
    {"aggregation": "mean", "activation": "relu", "layer_norm": False},
    {"aggregation": "max", "mlp_layers": 1, "output_layers": 1, "activation": "leaky_relu"},
    {"activation": "gelu", "mlp_layers": 3},
    {"n_iterations": 0},
    {"edge_features": 0},
    {"edge_features": 7},
    {"output_layers": 1},
]


@pytest.mark.parametrize("kw", GNN_VARIANTS)
@pytest.mark.parametrize("block", [16, 97, 100_000])
def test_gnn_infer_equals_forward_bit_for_bit(kw, block):
    torch.manual_seed(1)
    model = InteractionGNN(**{"hidden": 16, "n_iterations": 3, **kw}).eval()
    x, ei, ea = graph(edge_features=model.edge_features)
    attr = ea if model.edge_features else None
    with torch.no_grad():
        expected = model(x, ei, attr)
    with fused.enabled(False):
        got = model.infer(x, ei, attr, block=block)
    assert got.dtype == torch.float32 and got.shape == (ei.shape[1],)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("kw", GNN_VARIANTS)
def test_gnn_infer_with_fused_kernels_equals_forward_to_rounding(kw):
    """The default CPU inference (fused LayerNorm + activation, gather-add, index-add, the one-output layer
    block by block) gives forward's logits to float32 rounding."""
    torch.manual_seed(1)
    model = InteractionGNN(**{"hidden": 16, "n_iterations": 3, **kw}).eval()
    x, ei, ea = graph(edge_features=model.edge_features)
    attr = ea if model.edge_features else None
    with torch.no_grad(), fused.enabled(False):
        expected = model(x, ei, attr)
    with fused.enabled(True):
        got = model.infer(x, ei, attr, block=97)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize(
    "kw", [{}, {"edge_features": 0}, {"activation": "tanh", "layer_norm": False, "n_layers": 2}, {"n_layers": 1}]
)
@pytest.mark.parametrize("block", [16, 333, 100_000])
def test_filter_infer_equals_forward_bit_for_bit(kw, block):
    torch.manual_seed(2)
    model = EdgeFilter(hidden=32, **kw).eval()
    x, ei, ea = graph(edge_features=model.edge_features)
    attr = ea if model.edge_features else None
    with torch.no_grad():
        expected = model(x, ei, attr)
    with fused.enabled(False):
        assert torch.equal(model.infer(x, ei, attr, block=block), expected)
    with fused.enabled(True):
        torch.testing.assert_close(model.infer(x, ei, attr, block=block), expected, rtol=1e-5, atol=2e-5)


def test_infer_on_an_empty_graph_and_bad_inputs():
    gnn, filt = InteractionGNN(hidden=8, n_iterations=1), EdgeFilter(hidden=8)
    x = torch.randn(5, 4)
    empty = torch.zeros(2, 0, dtype=torch.int64)
    for model in (gnn, filt):
        assert model.infer(x, empty, torch.zeros(0, 10)).shape == (0,)
        with pytest.raises(ValueError, match="edge_attr must have shape"):
            model.infer(x, torch.zeros(2, 3, dtype=torch.int64), None)
    with pytest.raises(ValueError, match="block must be >= 16"):
        list(row_blocks(10, 8))
    # a remainder under 16 rows joins the block before it: no one-row products
    assert [(s.start, s.stop) for s in row_blocks(70, 32)] == [(0, 32), (32, 70)]
    assert [(s.start, s.stop) for s in row_blocks(80, 32)] == [(0, 32), (32, 64), (64, 80)]
    assert list(row_blocks(0, 32)) == []
    # blocks are a multiple of 8 rows (element-wise kernels' scalar remainder where the whole tensor has it)
    assert [(s.start, s.stop) for s in row_blocks(200, 97)] == [(0, 96), (96, 200)]


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_tail_equals_the_sequential(activation):
    torch.manual_seed(3)
    mlp = make_mlp(6, 12, 3, 3, activation=activation, output_activation=True)
    h = torch.randn(40, 6)
    with torch.no_grad():
        expected = mlp(h)
        with fused.enabled(False):
            assert torch.equal(mlp_tail(mlp, h.clone(), start=0), expected)
            assert torch.equal(mlp_tail(mlp, cast_first(mlp, h), start=1), expected)
        with fused.enabled(True):
            torch.testing.assert_close(mlp_tail(mlp, h.clone(), start=0), expected, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(mlp_tail(mlp, cast_first(mlp, h), start=1), expected, rtol=1e-5, atol=1e-5)


def cast_first(mlp: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    return mlp[0](h)


def test_precision_values_and_auto():
    assert rt.resolve_precision("fp32", "cpu") == "fp32"
    assert rt.resolve_precision("bf16", "cpu") == "bf16"
    assert rt.resolve_precision("auto", "cpu") == "fp32"  # the CPU keeps the fp32 reference tracks
    with pytest.raises(ValueError, match="precision='fp16'"):
        rt.resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="compile='yes'"):
        rt.InferenceRunner(EdgeFilter(hidden=8), compile="yes")


def test_auto_is_bf16_on_a_gpu_that_has_it(monkeypatch):
    monkeypatch.setattr(accel, "bf16_fast", lambda device="cpu": True)
    assert rt.resolve_precision("auto", "cuda") == "bf16"
    assert rt.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(accel, "bf16_fast", lambda device="cpu": False)
    assert rt.resolve_precision("auto", "cuda") == "fp32"


def test_bf16_detection_reads_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not accel.bf16_fast("cpu")
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert accel.bf16_fast("cpu")
    monkeypatch.setattr(accel, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert accel.bf16_fast("cpu")
    assert not accel.bf16_fast("meta")


@pytest.mark.parametrize("model_class", [InteractionGNN, EdgeFilter])
def test_bf16_scores_close_to_fp32(model_class):
    """Runs everywhere (emulated where the CPU has no bf16: then it warns)."""
    torch.manual_seed(4)
    model = model_class(hidden=16).eval()
    x, ei, ea = graph(e=500)
    fp32 = torch.sigmoid(rt.InferenceRunner(model, precision="fp32")(x, ei, ea))
    runner = rt.InferenceRunner(model, precision="bf16", label="test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bf16 = torch.sigmoid(runner(x, ei, ea).float())
    assert [str(w.message) for w in caught if "emulated" in str(w.message)] == (
        []
        if accel.bf16_fast("cpu")
        else [
            "test: precision bf16 on cpu, which has no native bfloat16 (no AMX / "
            "AVX512-BF16): emulated, slower than fp32"
        ]
    )
    assert not torch.equal(bf16, fp32)  # bf16 really ran
    assert (bf16 - fp32).abs().max() < 0.05


def test_failed_compilation_falls_back_to_eager(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C compiler found")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: broken)
    model = EdgeFilter(hidden=8).eval()
    x, ei, ea = graph(e=50)
    runner = rt.InferenceRunner(model, precision="fp32", compile="on", label="edge_classifier 'edge_filter'")
    with pytest.warns(RuntimeWarning, match="edge_filter'.*torch.compile failed \\(RuntimeError: no C compiler"):
        got = runner(x, ei, ea)
    assert torch.equal(got, model.infer(x, ei, ea))
    assert runner.compile == "off"  # not tried again
    assert torch.equal(runner(x, ei, ea), got)
