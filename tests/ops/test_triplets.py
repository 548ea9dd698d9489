"""tracking.ops.triplet_best (native CPU kernel and torch path) against a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.ops import triplet_best
from tracking.ops import triplets as T

SCALES = (0.05, 0.005, 1e6)


def oracle(edge_index: np.ndarray, kappa: np.ndarray, theta: np.ndarray, ks: float, ts: float, cap: float):
    n_edges = edge_index.shape[1]
    best_in, best_out = np.full(n_edges, cap), np.full(n_edges, cap)
    for e in range(n_edges):
        for f in range(n_edges):
            if edge_index[1, e] == edge_index[0, f]:
                chi2 = min(((kappa[f] - kappa[e]) / ks) ** 2 + ((theta[f] - theta[e]) / ts) ** 2, cap)
                best_out[e] = min(best_out[e], chi2)
                best_in[f] = min(best_in[f], chi2)
    return best_in, best_out


def random_graph(n: int, e: int, seed: int):
    rng = np.random.default_rng(seed)
    ei = rng.integers(0, max(n, 1), (2, e)).astype(np.int64)
    kappa = rng.normal(0, 0.5, e)
    theta = rng.uniform(0, np.pi, e)
    return ei, kappa, theta


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize(("n", "e", "seed"), [(0, 0, 0), (1, 0, 0), (1, 3, 1), (2, 1, 2), (10, 40, 3), (40, 300, 4)])
def test_equals_brute_force(backend, n, e, seed):
    ei, kappa, theta = random_graph(n, e, seed)
    got = triplet_best(
        torch.from_numpy(ei), n, torch.from_numpy(kappa), torch.from_numpy(theta), *SCALES, backend=backend
    )
    want = oracle(ei, kappa, theta, *SCALES)
    for g, w in zip(got, want):
        assert g.dtype == torch.float64 and g.shape == (e,)
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-12, atol=0)


def test_degenerate_graphs():
    """Self-loops match themselves (chi2 0), a chain matches end to end, parallel edges each get their
    own value, and the cap bounds every chi2."""
    ei = torch.tensor([[0, 1, 1, 2, 2], [1, 2, 2, 3, 2]])
    kappa = torch.tensor([0.1, 0.1, 0.3, 0.1, 0.0], dtype=torch.float64)
    theta = torch.zeros(5, dtype=torch.float64)
    best_in, best_out = triplet_best(ei, 4, kappa, theta, 0.1, 1.0, 1e6)
    np.testing.assert_allclose(best_out.numpy(), [0.0, 0.0, 4.0, 1e6, 0.0], atol=1e-12)
    np.testing.assert_allclose(best_in.numpy(), [1e6, 0.0, 4.0, 0.0, 0.0], atol=1e-12)
    capped = triplet_best(ei, 4, kappa, theta + torch.arange(5.0, dtype=torch.float64), 0.1, 1e-3, 2.0)
    assert float(capped[0].max()) <= 2.0 and float(capped[1].max()) <= 2.0


def test_large_graph_native_equals_torch_in_small_chunks(monkeypatch):
    ei, kappa, theta = random_graph(3000, 60000, 7)  # ~1.2M triplets
    args = (torch.from_numpy(ei), 3000, torch.from_numpy(kappa), torch.from_numpy(theta), *SCALES)
    native = triplet_best(*args, backend="native")
    monkeypatch.setattr(T, "TRIPLETS_PER_CHUNK", 50_000)
    chunked = triplet_best(*args, backend="torch")
    for a, b in zip(native, chunked):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


def test_bad_input_is_a_clear_error():
    ei = torch.tensor([[0, 1], [1, 2]])
    k = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="must lie in"):
        triplet_best(ei, 2, k, k, *SCALES)
    with pytest.raises(ValueError, match="kappa"):
        triplet_best(ei, 3, torch.zeros(3), k, *SCALES)
    with pytest.raises(ValueError, match="int64"):
        triplet_best(ei.int(), 3, k, k, *SCALES)
    with pytest.raises(ValueError, match="> 0"):
        triplet_best(ei, 3, k, k, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="backend"):
        triplet_best(ei, 3, k, k, *SCALES, backend="magic")


@pytest.mark.gpu
def test_gpu_equals_cpu():
    ei, kappa, theta = random_graph(2000, 30000, 9)
    cpu = triplet_best(torch.from_numpy(ei), 2000, torch.from_numpy(kappa), torch.from_numpy(theta), *SCALES)
    gpu = triplet_best(
        torch.from_numpy(ei).cuda(), 2000, torch.from_numpy(kappa).cuda(), torch.from_numpy(theta).cuda(), *SCALES
    )
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda"
        torch.testing.assert_close(a, b.cpu(), rtol=1e-12, atol=0)


def test_native_is_bit_for_bit_the_oracle_on_runs_of_every_length():
    """The native kernel's vector form (four candidate edges at a time, a scalar tail) does the oracle's float64
    operations in the same order: equal to the last bit, for nodes with 0-11 outgoing edges (every tail length)
    and edges into every one of them."""
    rng = np.random.default_rng(12)
    src, dst = [], []
    for hub in range(12):
        src += [hub] * hub  # hub h has h outgoing edges ...
        dst += list(rng.integers(12, 40, hub))
        src += list(rng.integers(12, 40, 3))  # ... and three incoming ones
        dst += [hub] * 3
    ei = np.array([src, dst], dtype=np.int64)
    kappa, theta = rng.normal(0, 0.5, ei.shape[1]), rng.uniform(0, np.pi, ei.shape[1])
    got = triplet_best(
        torch.from_numpy(ei), 40, torch.from_numpy(kappa), torch.from_numpy(theta), *SCALES, backend="native"
    )
    for g, w in zip(got, oracle(ei, kappa, theta, *SCALES)):
        assert np.array_equal(g.numpy(), w)
