"""aggregate(): native torch against a per-node loop oracle, and against torch-scatter when installed."""

from __future__ import annotations

import pytest
import torch

from tracking import accel
from tracking.nn.aggregation import aggregate

REDUCES = ("sum", "mean", "max")
requires_scatter = pytest.mark.skipif(not accel.TORCH_SCATTER, reason="torch-scatter is not installed")


def loop_reference(messages: torch.Tensor, index: torch.Tensor, num_nodes: int, reduce: str) -> torch.Tensor:
    """One node at a time; a node with no message gets zeros."""
    out = torch.zeros((num_nodes, *messages.shape[1:]), dtype=messages.dtype)
    for node in range(num_nodes):
        rows = messages[index == node]
        if len(rows) == 0:
            continue
        out[node] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0).values}[reduce]
    return out


def random_case(num_edges: int, num_nodes: int, features: int, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    messages = torch.randn(num_edges, features, generator=g, dtype=dtype)
    # Only the first half of the nodes receive messages, so empty nodes are always exercised.
    index = torch.randint(0, max(num_nodes // 2, 1), (num_edges,), generator=g)
    return messages, index


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("shape", [(0, 5, 3), (1, 1, 1), (7, 4, 2), (300, 60, 8)])
def test_native_matches_loop(reduce, shape):
    messages, index = random_case(*shape)
    got = aggregate(messages, index, shape[1], reduce, backend="native")
    want = loop_reference(messages, index, shape[1], reduce)
    assert got.dtype == torch.float64 and got.shape == (shape[1], shape[2])
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("reduce", REDUCES)
def test_empty_nodes_get_zero(reduce):
    messages = torch.tensor([[-3.0, -1.0], [-5.0, -2.0]])
    out = aggregate(messages, torch.tensor([1, 1]), 3, reduce, backend="native")
    assert torch.equal(out[0], torch.zeros(2)) and torch.equal(out[2], torch.zeros(2))
    # max of negative messages stays negative: the zero fill must not leak into visited nodes
    if reduce == "max":
        assert torch.equal(out[1], torch.tensor([-3.0, -1.0]))


@pytest.mark.parametrize("reduce", REDUCES)
def test_native_gradient_matches_loop(reduce):
    messages, index = random_case(120, 30, 4)
    weights = torch.randn(30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a = messages.clone().requires_grad_()
    b = messages.clone().requires_grad_()
    (aggregate(a, index, 30, reduce, backend="native") * weights).sum().backward()
    (loop_reference(b, index, 30, reduce) * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_gradcheck_native():
    messages, index = random_case(20, 6, 3)
    for reduce in REDUCES:
        assert torch.autograd.gradcheck(
            lambda m, reduce=reduce: aggregate(m, index, 6, reduce, backend="native"), (messages.requires_grad_(),)
        )


def test_float32_and_trailing_dims():
    messages, index = random_case(50, 10, 6, dtype=torch.float32)
    messages = messages.view(50, 2, 3)
    out = aggregate(messages, index, 10, "max", backend="native")
    assert out.dtype == torch.float32 and out.shape == (10, 2, 3)
    torch.testing.assert_close(out, loop_reference(messages, index, 10, "max"))


def test_auto_backend_follows_probe():
    messages, index = random_case(40, 8, 3)
    for reduce in REDUCES:
        torch.testing.assert_close(aggregate(messages, index, 8, reduce), loop_reference(messages, index, 8, reduce))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(reduce="min"), "reduce"),
        (dict(backend="pyg"), "backend"),
        (dict(index=torch.zeros(3, dtype=torch.int32)), "int64"),
        (dict(index=torch.zeros(4, dtype=torch.int64)), "3 rows"),
        (dict(num_nodes=-1), "num_nodes"),
    ],
)
def test_errors_name_the_argument(kwargs, match):
    args = dict(messages=torch.zeros(3, 2), index=torch.zeros(3, dtype=torch.int64), num_nodes=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        aggregate(**args)


@pytest.mark.skipif(accel.TORCH_SCATTER, reason="torch-scatter is installed")
def test_forcing_missing_torch_scatter_says_how_to_install():
    with pytest.raises(ImportError, match="pip install"):
        aggregate(torch.zeros(2, 1), torch.zeros(2, dtype=torch.int64), 1, backend="torch_scatter")


@requires_scatter
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("shape", [(0, 5, 3), (1, 1, 1), (500, 80, 16)])
def test_backends_agree_outputs_and_gradients(device, reduce, shape):
    messages, index = random_case(*shape)
    messages, index = messages.to(device), index.to(device)
    weights = torch.randn(shape[1], shape[2], dtype=messages.dtype, device=device)
    results = {}
    for backend in ("native", "torch_scatter"):
        m = messages.clone().requires_grad_()
        out = aggregate(m, index, shape[1], reduce, backend=backend)
        (out * weights).sum().backward()
        results[backend] = (out.detach(), m.grad)
    torch.testing.assert_close(results["native"][0], results["torch_scatter"][0])
    # Random float64 messages do not tie, so max gradients are comparable too (see module docstring).
    torch.testing.assert_close(results["native"][1], results["torch_scatter"][1])


@pytest.mark.parametrize("reduce", REDUCES)
def test_device_matches_cpu(device, reduce):
    messages, index = random_case(200, 40, 5, dtype=torch.float32)
    got = aggregate(messages.to(device), index.to(device), 40, reduce, backend="native").cpu()
    torch.testing.assert_close(got, aggregate(messages, index, 40, reduce, backend="native"))


def test_auto_dispatches_to_torch_scatter_when_probed(monkeypatch):
    """The glue to torch-scatter (dim, dim_size, reduce) with a stand-in module, so it is exercised
    even where torch-scatter is not installed."""
    calls = []

    def fake_scatter(src, index, dim, dim_size, reduce):
        calls.append((dim, dim_size, reduce))
        return loop_reference(src, index, dim_size, reduce)

    monkeypatch.setattr(accel, "TORCH_SCATTER", True)
    monkeypatch.setattr(accel, "require_torch_scatter", lambda: type("M", (), {"scatter": staticmethod(fake_scatter)}))
    messages, index = random_case(30, 9, 2)
    out = aggregate(messages, index, 9, "mean")
    assert calls == [(0, 9, "mean")]
    torch.testing.assert_close(out, aggregate(messages, index, 9, "mean", backend="native"))
    aggregate(messages, index, 9, "sum", backend="native")
    assert len(calls) == 1  # an explicit native backend never goes to torch-scatter


def test_benchmark_baselines_compute_the_same_thing():
    """bench_aggregation compares like with like: its baselines give aggregate()'s answers."""
    from tracking.benchmarks.bench_aggregation import _dense_matmul, _segment_max, _sparse_matmul

    messages, index = random_case(200, 50, 4, dtype=torch.float32)
    for reduce in ("sum", "mean"):
        want = aggregate(messages, index, 50, reduce, backend="native")
        torch.testing.assert_close(_sparse_matmul(messages, index, 50, reduce), want)
        torch.testing.assert_close(_dense_matmul(messages, index, 50, reduce), want)
    torch.testing.assert_close(_segment_max(messages, index, 50, "max"), aggregate(messages, index, 50, "max"))
