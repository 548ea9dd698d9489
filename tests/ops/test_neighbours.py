"""Fixed-radius neighbours against brute force (float32, dimension by dimension, as the kernel)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from tracking.ops import radius_graph


def brute_force(points: np.ndarray, r: float, k_max: int | None = None):
    n, d = points.shape
    d2 = np.zeros((n, n), dtype=np.float32)
    for k in range(d):  # same order and rounding as the kernel
        diff = points[None, :, k] - points[:, None, k]
        d2 = d2 + diff * diff
    r2 = np.float32(r) * np.float32(r)
    edges, capped = [], 0
    for i in range(n):
        nbrs = [j for j in np.flatnonzero(d2[i] <= r2) if j != i]
        if k_max is not None and len(nbrs) > k_max:
            capped += 1
            nbrs = sorted(sorted(nbrs, key=lambda j: (d2[i, j], j))[:k_max])
        edges += [(i, j) for j in nbrs]
    return np.array(edges, dtype=np.int64).reshape(-1, 2).T, capped


@pytest.mark.parametrize("dim", range(1, 17))
def test_every_dimension_against_brute_force(dim):
    rng = np.random.default_rng(dim)
    points = rng.random((300, dim), dtype=np.float32)
    r = float(np.quantile(np.linalg.norm(points[:100, None] - points[None, :100], axis=2), 0.03))
    got, capped = radius_graph(points, r)
    want, _ = brute_force(points, r)
    assert capped == 0
    np.testing.assert_array_equal(got, want)
    assert got.shape[1] > 0


@pytest.mark.parametrize(("dim", "k"), [(2, 1), (3, 4), (8, 3), (16, 2)])
def test_k_cap_keeps_the_nearest(dim, k):
    rng = np.random.default_rng(100 + dim)
    points = rng.random((250, dim), dtype=np.float32)
    r = float(np.quantile(np.linalg.norm(points[:100, None] - points[None, :100], axis=2), 0.1))
    got, capped = radius_graph(points, r, k_max=k)
    want, want_capped = brute_force(points, r, k)
    np.testing.assert_array_equal(got, want)
    assert capped == want_capped > 0


def test_coincident_points_and_ties():
    points = np.zeros((6, 3), dtype=np.float32)
    points[3:] = 1.0
    got, capped = radius_graph(points, 0.0)
    want, _ = brute_force(points, 0.0)
    np.testing.assert_array_equal(got, want)
    assert got.shape[1] == 2 * 6 and capped == 0
    # all at the same distance: the cap keeps the lowest indices
    got, capped = radius_graph(points[:3], 0.5, k_max=1)
    np.testing.assert_array_equal(got, [[0, 1, 2], [1, 0, 0]])
    assert capped == 3


def test_empty_and_single_point():
    for n in (0, 1):
        got, capped = radius_graph(np.zeros((n, 4), dtype=np.float32), 1.0, k_max=3)
        assert got.shape == (2, 0) and got.dtype == np.int64 and capped == 0


def test_larger_against_ckdtree():
    rng = np.random.default_rng(42)
    points = rng.random((20000, 3), dtype=np.float32)
    got, _ = radius_graph(points, 0.02)
    pairs = cKDTree(points.astype(np.float64)).query_pairs(0.02, output_type="ndarray")
    want = np.concatenate([pairs, pairs[:, ::-1]]).T
    want = want[:, np.lexsort((want[1], want[0]))]
    # float32 vs float64 distances may differ for a pair at the boundary; none expected here
    np.testing.assert_array_equal(got, want)


def test_wide_spread_with_tiny_radius():
    points = np.array([[0.0, 0.0], [1e7, 1e7], [1e7 + 0.5, 1e7], [5.0, 0.0]], dtype=np.float32)
    got, _ = radius_graph(points, 1.0)
    np.testing.assert_array_equal(got, brute_force(points, 1.0)[0])


def test_torch_in_torch_out():
    points = torch.rand(100, 5)
    got, _ = radius_graph(points, 0.4)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), radius_graph(points.numpy(), 0.4)[0])


@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.gpu
def test_gpu_equals_cpu(k):
    rng = np.random.default_rng(9)
    for dim in (1, 3, 8, 16):
        points = rng.random((5000, dim), dtype=np.float32)
        r = 0.05 * dim**0.5
        cpu, cpu_capped = radius_graph(points, r, k_max=k)
        gpu, gpu_capped = radius_graph(torch.from_numpy(points).cuda(), r, k_max=k)
        np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)
        assert gpu_capped == cpu_capped


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((3, 2), np.float64), 1.0), "points: expected dtype float32"),
        ((np.zeros(3, np.float32), 1.0), "points: expected 2-d"),
        ((np.zeros((3, 17), np.float32), 1.0), "points: expected 1 to 16 columns"),
        ((np.zeros((3, 2), np.float32), -1.0), "r: expected a finite real number >= 0"),
        ((np.zeros((3, 2), np.float32), float("nan")), "r: expected a finite real number >= 0"),
        ((np.full((3, 2), np.nan, np.float32), 1.0), "points: contains NaN"),
        ((np.zeros((3, 2), np.float32), 1.0, 0), "k_max: expected an integer >= 1"),
    ],
)
def test_validation_names_the_argument(args, message):
    with pytest.raises(ValueError, match=message):
        radius_graph(*args)


def test_clustered_embedding_hashes_more_dimensions():
    """20k points in tight 8-d clusters make the grid hash on several dimensions (cost model); still exact."""
    from tracking.benchmarks.bench_graph import clustered_embedding

    points = clustered_embedding(20000, 8, np.random.default_rng(5))
    got, _capped = radius_graph(points, 0.1)
    pairs = cKDTree(points.astype(np.float64)).query_pairs(0.1, output_type="ndarray")
    want = np.concatenate([pairs, pairs[:, ::-1]]).T
    np.testing.assert_array_equal(got, want[:, np.lexsort((want[1], want[0]))])
    capped_edges, n_capped = radius_graph(points, 0.1, k_max=3)
    degree = np.bincount(got[0], minlength=len(points))
    assert n_capped == int((degree > 3).sum()) > 0
    assert (np.bincount(capped_edges[0], minlength=len(points)) == np.minimum(degree, 3)).all()


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
def test_lattice_pairs_at_exactly_the_radius(dim):
    """Points on a lattice of spacing r sit on cell boundaries and have neighbours at exactly r: kept."""
    rng = np.random.default_rng(dim)
    r = 0.25
    points = (rng.integers(0, 3, (400, dim)) * r).astype(np.float32)
    points[:, 3:] = rng.integers(0, 2, (400, max(dim - 3, 0))) * r  # denser: more pairs at exactly r
    points[::7] += np.float32(r / 2)  # some off the lattice, in the middle of a cell
    got, _ = radius_graph(points, r)
    want, _ = brute_force(points, r)
    np.testing.assert_array_equal(got, want)
    assert got.shape[1] > 100


def test_sparse_clusters_use_many_cells():
    """A radius tiny against the spread makes far more grid cells than points (hashed cell lookup)."""
    from tracking.benchmarks.bench_graph import clustered_embedding

    points = clustered_embedding(1500, 8, np.random.default_rng(8), sigma=0.001)
    for k in (None, 2):
        got, capped = radius_graph(points, 0.005, k_max=k)
        want, want_capped = brute_force(points, 0.005, k)
        np.testing.assert_array_equal(got, want)
        assert capped == want_capped
    assert got.shape[1] > 0 and capped > 0


def test_result_does_not_depend_on_threads():
    from tracking._native import core
    from tracking.benchmarks.bench_graph import clustered_embedding

    points = clustered_embedding(5000, 6, np.random.default_rng(3))
    before = core.max_threads()
    try:
        core.set_max_threads(1)
        one = radius_graph(points, 0.1, k_max=4)
        core.set_max_threads(2)
        two = radius_graph(points, 0.1, k_max=4)
    finally:
        core.set_max_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1] == two[1]
