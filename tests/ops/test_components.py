"""connected_components against scipy (the oracle, :func:`tracking.benchmarks.reference.scipy_connected_components`),
on hand-made, random and large graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking import _native
from tracking.benchmarks.reference import same_partition, scipy_connected_components
from tracking.ops import connected_components

# Scores include the cut itself (an edge exactly at the cut is dropped) and NaN (never kept).
SCORE_VALUES = [0.0, 0.25, 0.5, 0.75, 1.0, float("nan")]


@st.composite
def scored_graphs(draw, max_nodes=40, max_edges=120):
    num_nodes = draw(st.integers(0, max_nodes))
    num_edges = 0 if num_nodes == 0 else draw(st.integers(0, max_edges))
    nodes = st.integers(0, max(num_nodes - 1, 0))
    src = draw(st.lists(nodes, min_size=num_edges, max_size=num_edges))
    # Bias towards duplicate edges and self-loops, which random pairs rarely produce.
    dst = [draw(st.sampled_from([s, *src[: i + 1]]) | nodes) for i, s in enumerate(src)]
    scores = draw(st.lists(st.sampled_from(SCORE_VALUES), min_size=num_edges, max_size=num_edges))
    edge_index = np.array([src, dst], dtype=np.int64).reshape(2, num_edges)
    return edge_index, num_nodes, np.array(scores, dtype=np.float32)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Runs a test with the serial and (above the size threshold) the lock-free parallel union."""
    before = _native.core.max_threads()
    _native.core.set_max_threads(request.param)
    yield request.param
    _native.core.set_max_threads(before)


@settings(max_examples=150, deadline=None)
@given(
    graph=scored_graphs(),
    cut=st.sampled_from([0.5, -1.0, 2.0]),
    min_hits=st.integers(0, 4),
    with_scores=st.booleans(),
)
def test_matches_scipy_on_random_graphs(graph, cut, min_hits, with_scores):
    edge_index, num_nodes, scores = graph
    scores = scores if with_scores else None
    got = connected_components(edge_index, num_nodes, scores, cut=cut, min_hits=min_hits)
    expected = scipy_connected_components(edge_index, num_nodes, scores, cut, min_hits)
    assert got.dtype == np.int64
    assert same_partition(got, expected)
    np.testing.assert_array_equal(got, expected)


def test_hand_made_graph():
    edge_index = np.array([[0, 1, 3, 5, 6], [1, 2, 4, 5, 6]])
    scores = np.array([0.9, 0.5, 0.8, 0.9, 0.1], dtype=np.float32)
    # 1-2 sits exactly at the cut and is dropped; 5-5 is a self-loop.
    np.testing.assert_array_equal(connected_components(edge_index, 8, scores, cut=0.5), [0, 0, 1, 2, 2, 3, 4, 5])
    np.testing.assert_array_equal(
        connected_components(edge_index, 8, scores, cut=0.5, min_hits=2), [0, 0, -1, 1, 1, -1, -1, -1]
    )
    np.testing.assert_array_equal(connected_components(edge_index, 8), [0, 0, 0, 1, 1, 2, 3, 4])


@pytest.mark.parametrize(
    ("num_nodes", "edges", "scores", "expected"),
    [
        (0, [], [], []),
        (3, [], [], [0, 1, 2]),
        (3, [(0, 1), (1, 2)], [0.1, 0.2], [0, 1, 2]),  # every score below the cut
        (3, [(2, 1), (1, 0)], [0.9, 0.9], [0, 0, 0]),  # every score above, edges pointing down
        (2, [(1, 1), (1, 1), (0, 0)], [1.0, 1.0, 1.0], [0, 1]),  # self-loops only
        (2, [(0, 1)] * 5, [0.7] * 5, [0, 0]),  # duplicates
    ],
)
def test_degenerate_graphs(num_nodes, edges, scores, expected):
    edge_index = np.array(edges, dtype=np.int64).reshape(-1, 2).T.copy()
    got = connected_components(edge_index, num_nodes, np.array(scores, np.float32))
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.int64))


def test_one_giant_component_is_a_chain_in_reverse_order():
    # A long chain given from its far end is the worst case for naive union-find depth.
    n = 100_000
    edge_index = np.stack([np.arange(n - 1, 0, -1), np.arange(n - 2, -1, -1)]).astype(np.int64)
    got = connected_components(edge_index, n, min_hits=n)
    assert (got == 0).all()
    assert (connected_components(edge_index, n, min_hits=n + 1) == -1).all()


def test_parallel_and_serial_agree(threads):
    # Above the kernel's parallel threshold (2^21 edges), so 2 threads take the lock-free path.
    rng = np.random.default_rng(7)
    n, e = 1_000_000, 2_200_000
    edge_index = rng.integers(0, n, (2, e))
    scores = rng.random(e, dtype=np.float32)
    got = connected_components(edge_index, n, scores, cut=0.3, min_hits=2)
    np.testing.assert_array_equal(got, scipy_connected_components(edge_index, n, scores, 0.3, 2))


def test_parallel_giant_chain(threads):
    # One component spanning every node, edges in random order: the most contended case for the CAS links.
    n = 2_200_000
    chain = np.stack([np.arange(n - 1), np.arange(1, n)]).astype(np.int64)
    edge_index = np.ascontiguousarray(chain[:, np.random.default_rng(9).permutation(n - 1)])
    got = connected_components(edge_index, n + 1, min_hits=2)
    assert (got[:n] == 0).all() and got[n] == -1


def test_torch_in_torch_out(device):
    rng = np.random.default_rng(1)
    edge_index = rng.integers(0, 500, (2, 800))
    scores = rng.random(800, dtype=np.float32)
    expected = scipy_connected_components(edge_index, 500, scores, 0.6, 3)
    got = connected_components(
        torch.from_numpy(edge_index).to(device), 500, torch.from_numpy(scores).to(device), cut=0.6, min_hits=3
    )
    assert isinstance(got, torch.Tensor) and got.device.type == device and got.dtype == torch.int64
    np.testing.assert_array_equal(got.cpu().numpy(), expected)


def test_non_contiguous_torch_input():
    edge_index = torch.tensor([[0, 2], [1, 3], [2, 4]]).T  # a transposed view
    assert not edge_index.is_contiguous()
    np.testing.assert_array_equal(connected_components(edge_index, 5).numpy(), [0, 1, 0, 1, 0])


@pytest.mark.gpu
@settings(max_examples=60, deadline=None)
@given(graph=scored_graphs(max_nodes=200, max_edges=600), min_hits=st.integers(0, 4))
def test_cuda_equals_cpu(graph, min_hits):
    edge_index, num_nodes, scores = graph
    cpu = connected_components(edge_index, num_nodes, scores, min_hits=min_hits)
    gpu = connected_components(
        torch.from_numpy(edge_index).cuda(), num_nodes, torch.from_numpy(scores).cuda(), min_hits=min_hits
    )
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edge_index": np.zeros((2, 3), np.int32)}, "edge_index: expected dtype int64"),
        ({"edge_index": np.zeros((3, 2), np.int64)}, r"edge_index: expected shape \[2, E\]"),
        ({"edge_index": np.array([[0], [5]])}, r"edge_index: node indices must lie in \[0, num_nodes=5\)"),
        ({"edge_index": np.array([[-1], [0]])}, r"found range \[-1, 0\]"),
        ({"scores": np.zeros(2, np.float32)}, r"scores: expected shape \[1\]"),
        ({"scores": np.zeros(1, np.float64)}, "scores: expected dtype float32"),
        ({"scores": torch.zeros(1)}, "scores is torch on cpu but edge_index is numpy"),
        ({"num_nodes": -1}, "num_nodes: expected an integer >= 0"),
        ({"num_nodes": True}, "num_nodes"),
        ({"min_hits": 1.5}, "min_hits"),
        ({"cut": float("nan")}, "cut: expected a real number"),
        ({"edge_index": [[0], [1]]}, "edge_index: expected a numpy array or a torch tensor"),
    ],
)
def test_validation_names_the_argument(kwargs, message):
    args = {"edge_index": np.array([[0], [1]]), "num_nodes": 5, "scores": None, "cut": 0.5, "min_hits": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        connected_components(**args)


@pytest.mark.slow
def test_ten_million_edges():
    rng = np.random.default_rng(2026)
    n, e = 2_000_000, 10_000_000
    edge_index = rng.integers(0, n, (2, e))
    scores = rng.random(e, dtype=np.float32)
    got = connected_components(edge_index, n, scores, cut=0.55, min_hits=2)
    expected = scipy_connected_components(edge_index, n, scores, 0.55, 2)
    assert same_partition(got, expected)
    np.testing.assert_array_equal(got, expected)


def test_drop_weak_short_tracks_keeps_confident_short_tracks_and_all_long_ones():
    from tracking.ops import drop_weak_short_tracks

    # tracks: 0 = hits 0-2 (short, confident), 1 = hits 3-5 (short, weak), 2 = hits 6-11 (long, weak)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, -1], dtype=np.int64)
    edges = np.array([[0, 1, 3, 4, 6, 7, 8, 9, 10, 2], [1, 2, 4, 5, 7, 8, 9, 10, 11, 12]], dtype=np.int64)
    scores = np.array([0.99, 0.97, 0.6, 0.7, 0.3, 0.3, 0.3, 0.3, 0.3, 0.1], dtype=np.float32)
    out = drop_weak_short_tracks(labels, edges, scores, short_hits=5, score_cut=0.9)
    # track 1 dropped; the rest renumbered in order; the edge to an unassigned hit does not count
    assert out.tolist() == [0, 0, 0, -1, -1, -1, 1, 1, 1, 1, 1, 1, -1]
    assert drop_weak_short_tracks(labels, edges, scores, short_hits=0, score_cut=0.9) is labels
    everything = drop_weak_short_tracks(labels, edges, scores, short_hits=7, score_cut=0.95)
    assert everything.tolist() == [0, 0, 0] + [-1] * 10  # only track 0 (mean 0.98) passes
    as_torch = drop_weak_short_tracks(
        torch.from_numpy(labels), torch.from_numpy(edges), torch.from_numpy(scores), 5, 0.9
    )
    assert isinstance(as_torch, torch.Tensor) and as_torch.tolist() == out.tolist()
