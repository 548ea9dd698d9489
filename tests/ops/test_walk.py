"""Junction removal and walk-through against the references of their documented rules
(:mod:`tracking.benchmarks.reference`, which the benchmark times as the ACORN-style baseline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.benchmarks.reference import numpy_junction_removal, python_walkthrough
from tracking.ops import connected_components, junction_removal, walkthrough

SCORE_VALUES = [0.0, 0.3, 0.5, 0.6, 0.6, 0.8, 0.9, -0.0, float("nan")]


# -- strategies ----------------------------------------------------------------------------------------
@st.composite
def scored_graphs(draw, max_nodes=30, max_edges=70):
    num_nodes = draw(st.integers(0, max_nodes))
    num_edges = 0 if num_nodes == 0 else draw(st.integers(0, max_edges))
    nodes = st.integers(0, max(num_nodes - 1, 0))
    forward = draw(st.booleans())  # mostly DAGs inner -> outer, like real graphs; sometimes anything
    src, dst = [], []
    for _ in range(num_edges):
        a, b = draw(nodes), draw(nodes)
        if forward and a > b:
            a, b = b, a
        src.append(a)
        dst.append(b)
    if num_edges and draw(st.booleans()):  # duplicates
        src.append(src[0])
        dst.append(dst[0])
    scores = draw(st.lists(st.sampled_from(SCORE_VALUES), min_size=len(src), max_size=len(src)))
    edge_index = np.array([src, dst], dtype=np.int64).reshape(2, len(src))
    return edge_index, num_nodes, np.array(scores, dtype=np.float32)


# -- junction removal ----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(graph=scored_graphs(), cut=st.sampled_from([0.5, -1.0, 0.95]))
def test_junction_removal_matches_reference(graph, cut):
    edge_index, num_nodes, scores = graph
    got = junction_removal(edge_index, scores, cut, num_nodes)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, numpy_junction_removal(edge_index, scores, cut))


def test_junction_removal_leaves_paths_only():
    rng = np.random.default_rng(3)
    n, e = 2000, 6000
    edge_index = rng.integers(0, n, (2, e))
    edge_index = np.sort(edge_index, axis=0)  # inner -> outer
    scores = rng.random(e, dtype=np.float32)
    keep = junction_removal(edge_index, scores, 0.2, n)
    kept = edge_index[:, keep]
    assert np.bincount(kept[0], minlength=n).max() <= 1
    assert np.bincount(kept[1], minlength=n).max() <= 1
    np.testing.assert_array_equal(keep, numpy_junction_removal(edge_index, scores, 0.2))


def test_junction_removal_ties_go_to_the_lower_edge_index():
    edge_index = np.array([[0, 0, 1], [1, 2, 2]])
    scores = np.array([0.7, 0.7, -0.0], dtype=np.float32)
    np.testing.assert_array_equal(junction_removal(edge_index, scores, 0.5, 3), [True, False, False])
    # -0.0 and +0.0 are equal scores: the tie goes to edge 0.
    scores = np.array([-0.0, 0.0, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(junction_removal(edge_index, scores, -1.0, 3), [True, False, False])


def test_junction_removal_empty_and_validation():
    assert junction_removal(np.zeros((2, 0), np.int64), np.zeros(0, np.float32), 0.5, 0).shape == (0,)
    with pytest.raises(ValueError, match="scores: expected shape"):
        junction_removal(np.array([[0], [1]]), np.zeros(2, np.float32), 0.5, 2)
    with pytest.raises(ValueError, match="num_nodes"):
        junction_removal(np.array([[0], [1]]), np.zeros(1, np.float32), 0.5, -3)


def test_junction_removal_torch(device):
    rng = np.random.default_rng(5)
    edge_index = rng.integers(0, 300, (2, 1000))
    scores = rng.choice(np.array([0.4, 0.6, 0.7, 0.9], np.float32), 1000)
    expected = numpy_junction_removal(edge_index, scores, 0.5)
    got = junction_removal(torch.from_numpy(edge_index).to(device), torch.from_numpy(scores).to(device), 0.5, 300)
    assert got.dtype == torch.bool and got.device.type == device
    np.testing.assert_array_equal(got.cpu().numpy(), expected)


@pytest.mark.gpu
@settings(max_examples=60, deadline=None)
@given(graph=scored_graphs(max_nodes=100, max_edges=400))
def test_junction_removal_cuda_equals_cpu(graph):
    edge_index, num_nodes, scores = graph
    cpu = junction_removal(edge_index, scores, 0.5, num_nodes)
    gpu = junction_removal(torch.from_numpy(edge_index).cuda(), torch.from_numpy(scores).cuda(), 0.5, num_nodes)
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)


def test_junction_removal_then_components():
    # Two tracks crossing at node 2: junction removal splits them where scores say.
    edge_index = np.array([[0, 1, 2, 2], [2, 2, 3, 4]])
    scores = np.array([0.9, 0.8, 0.7, 0.95], dtype=np.float32)
    keep = junction_removal(edge_index, scores, 0.5, 5)
    np.testing.assert_array_equal(keep, [True, False, False, True])
    labels = connected_components(edge_index, 5, keep.astype(np.float32), cut=0.5)
    np.testing.assert_array_equal(labels, [0, 1, 0, 2, 0])


# -- walk-through --------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    graph=scored_graphs(),
    cut=st.sampled_from([0.5, -1.0]),
    walk_cut=st.sampled_from([None, 0.55, 0.85]),
    min_hits=st.integers(0, 3),
    with_scores=st.booleans(),
    with_order=st.booleans(),
    data=st.data(),
)
def test_walkthrough_matches_reference(graph, cut, walk_cut, min_hits, with_scores, with_order, data):
    edge_index, num_nodes, scores = graph
    scores = scores if with_scores else None
    order = None
    if with_order:
        values = data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 3.0]), min_size=num_nodes, max_size=num_nodes))
        order = np.array(values, dtype=np.float32)
    got = walkthrough(edge_index, num_nodes, scores, cut=cut, walk_cut=walk_cut, min_hits=min_hits, order=order)
    expected = python_walkthrough(edge_index, num_nodes, scores, cut, walk_cut, min_hits, order)
    np.testing.assert_array_equal(got, expected)


def _recovery_reference(edge_index, num_nodes, scores, cut, min_hits, order, recovery_cut):
    """The recovery pass by its documented rule, from the reference walk: the free nodes walked again over the
    edges between two of them above recovery_cut, then every track numbered by its smallest node."""
    first = python_walkthrough(edge_index, num_nodes, scores, cut, None, min_hits, order)
    free = first < 0
    keep = free[edge_index[0]] & free[edge_index[1]] & (scores > recovery_cut)
    second = python_walkthrough(edge_index[:, keep], num_nodes, scores[keep], recovery_cut, None, min_hits, order)
    merged = np.where(free & (second >= 0), second + num_nodes, first)
    labels = np.full(num_nodes, -1, dtype=np.int64)
    for new, old in enumerate(dict.fromkeys(int(v) for v in merged if v >= 0)):  # first appearance = smallest node
        labels[merged == old] = new
    return labels


@settings(max_examples=200, deadline=None)
@given(
    graph=scored_graphs(),
    recovery_cut=st.sampled_from([0.2, 0.55, 0.85]),
    min_hits=st.integers(0, 3),
    data=st.data(),
)
def test_walkthrough_recovery_matches_reference(graph, recovery_cut, min_hits, data):
    edge_index, num_nodes, scores = graph
    scores = np.nan_to_num(scores, nan=0.0)
    order = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.5]), min_size=num_nodes, max_size=num_nodes)))
    order = order.astype(np.float32)
    got = walkthrough(edge_index, num_nodes, scores, cut=0.7, min_hits=min_hits, order=order, recovery_cut=recovery_cut)
    expected = _recovery_reference(edge_index, num_nodes, scores, 0.7, min_hits, order, recovery_cut)
    np.testing.assert_array_equal(got, expected)


def test_walkthrough_recovery_finds_short_tracks_the_cut_broke():
    # 0 -> 1 -> 2 -> 3 confident; 4 -> 5 -> 6 has one edge under the cut; 7 -> 8 -> 9 too, but only to 0.4.
    edge_index = np.array([[0, 1, 2, 4, 5, 7, 8], [1, 2, 3, 5, 6, 8, 9]])
    scores = np.array([0.95, 0.95, 0.95, 0.95, 0.75, 0.95, 0.4], dtype=np.float32)
    plain = walkthrough(edge_index, 10, scores, cut=0.9, min_hits=3)
    np.testing.assert_array_equal(plain, [0, 0, 0, 0, -1, -1, -1, -1, -1, -1])
    got = walkthrough(edge_index, 10, scores, cut=0.9, min_hits=3, recovery_cut=0.7)
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 1, 1, 1, -1, -1, -1])
    # the first pass's tracks stay as they are; torch in, torch out
    got = walkthrough(torch.from_numpy(edge_index), 10, torch.from_numpy(scores), cut=0.9, min_hits=3, recovery_cut=0.3)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    # a recovery cut at or above the cut finds nothing new here; without scores there is nothing to recover
    np.testing.assert_array_equal(walkthrough(edge_index, 10, scores, cut=0.9, min_hits=3, recovery_cut=0.9), plain)
    np.testing.assert_array_equal(
        walkthrough(edge_index, 10, None, min_hits=3, recovery_cut=0.5), walkthrough(edge_index, 10, None, min_hits=3)
    )
    with pytest.raises(ValueError, match="recovery_cut"):
        walkthrough(edge_index, 10, scores, recovery_cut=float("nan"))


def test_walkthrough_fork_and_merge():
    # 0 -> 1 -> 3 and 0 -> 2 -> 4 (a fork at 0), 5 -> 3 (a merge at 3), 6 -> 7 -> 8 a clean path.
    edge_index = np.array([[0, 0, 1, 2, 5, 6, 7], [1, 2, 3, 4, 3, 7, 8]])
    scores = np.array([0.9, 0.8, 0.9, 0.9, 0.95, 0.6, 0.6], dtype=np.float32)
    got = walkthrough(edge_index, 9, scores, cut=0.5, min_hits=1)
    # Starts by index: 0 walks 0-1-3, then 5 (3 used) alone; then the leftover 2 walks 2-4.
    np.testing.assert_array_equal(got, [0, 0, 1, 0, 1, 2, 3, 3, 3])
    # Start order by "radius": 5 first takes 3, so 0 walks 0-1 only.
    order = np.array([0, 1, 1, 2, 2, -1, 0, 1, 2], dtype=np.float32)
    got = walkthrough(edge_index, 9, scores, cut=0.5, min_hits=1, order=order)
    np.testing.assert_array_equal(got, [0, 0, 1, 2, 1, 2, 3, 3, 3])
    # min_hits 3 keeps only the path component and no walk (every walk here has <= 2 hits).
    got = walkthrough(edge_index, 9, scores, cut=0.5, min_hits=3, order=order)
    np.testing.assert_array_equal(got, [-1, -1, -1, -1, -1, -1, 0, 0, 0])


def test_walk_cut_applies_to_ambiguous_components_only():
    # Component A (0..3) forks at 0; component B (4 -> 5 -> 6) is a path with low scores.
    edge_index = np.array([[0, 0, 1, 4, 5], [1, 2, 3, 5, 6]])
    scores = np.array([0.9, 0.8, 0.6, 0.6, 0.6], dtype=np.float32)
    got = walkthrough(edge_index, 7, scores, cut=0.5, walk_cut=0.7, min_hits=1)
    # The walk from 0 stops at 1 (1 -> 3 is below walk_cut); 2 and 3 are left over as singles.
    np.testing.assert_array_equal(got, [0, 0, 1, 2, 3, 3, 3])


def test_walkthrough_cycle_and_degenerates():
    cycle = np.array([[0, 1, 2], [1, 2, 0]])
    np.testing.assert_array_equal(walkthrough(cycle, 3, min_hits=3), [0, 0, 0])
    assert walkthrough(np.zeros((2, 0), np.int64), 0).shape == (0,)
    np.testing.assert_array_equal(walkthrough(np.zeros((2, 0), np.int64), 3, min_hits=1), [0, 1, 2])
    np.testing.assert_array_equal(walkthrough(np.array([[1], [1]]), 2, min_hits=1), [0, 1])  # self-loop ignored


def test_walkthrough_validation():
    with pytest.raises(ValueError, match=r"order: expected shape \[3\]"):
        walkthrough(np.array([[0], [1]]), 3, order=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="order: contains NaN"):
        walkthrough(np.array([[0], [1]]), 2, order=np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="walk_cut"):
        walkthrough(np.array([[0], [1]]), 2, walk_cut=float("nan"))
    with pytest.raises(ValueError, match="order is torch on cpu but edge_index is numpy"):
        walkthrough(np.array([[0], [1]]), 2, order=torch.zeros(2))


def test_walkthrough_torch(device):
    rng = np.random.default_rng(11)
    edge_index = np.sort(rng.integers(0, 400, (2, 900)), axis=0)
    scores = rng.random(900, dtype=np.float32)
    order = rng.random(400).astype(np.float32)
    expected = python_walkthrough(edge_index, 400, scores, 0.4, 0.6, 2, order)
    got = walkthrough(
        torch.from_numpy(edge_index).to(device),
        400,
        torch.from_numpy(scores).to(device),
        cut=0.4,
        walk_cut=0.6,
        min_hits=2,
        order=torch.from_numpy(order).to(device),
    )
    assert isinstance(got, torch.Tensor) and got.device.type == device
    np.testing.assert_array_equal(got.cpu().numpy(), expected)
