"""extend_tracks against a direct, loop-by-loop reading of its documented rule, and on a hand-made event."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.ops import extend_tracks


def reference_extend(labels, edge_index, scores, cut, order):
    """The rule of :func:`tracking.ops.extend_tracks`, one claim at a time, every claim listed anew."""
    lab = [int(v) for v in labels]
    edges = [(int(a), int(b), float(s)) for a, b, s in zip(edge_index[0], edge_index[1], scores, strict=True)]
    ends = {}  # (track, side) -> node; side 0 inner end, 1 outer end
    for node, track in enumerate(lab):
        if track >= 0:
            for side, better in ((0, lambda a, b: a < b), (1, lambda a, b: a > b)):
                old = ends.get((track, side))
                if old is None or better((order[node], node), (order[old], old)):
                    ends[(track, side)] = node
    while True:
        claims = []
        for (track, side), node in ends.items():
            for a, b, s in edges:
                if s > cut and side == 1 and a == node and lab[b] < 0:
                    claims.append((-s, track, side, b))
                if s > cut and side == 0 and b == node and lab[a] < 0:
                    claims.append((-s, track, side, a))
        if not claims:
            return np.array(lab, dtype=np.int64)
        _, track, side, hit = min(claims)
        lab[hit] = track
        ends[(track, side)] = hit


@st.composite
def tracked_graphs(draw):
    n = draw(st.integers(1, 25))
    labels = draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n))
    m = draw(st.integers(0, 60))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    scores = draw(st.lists(st.sampled_from([0.0, 0.2, 0.4, 0.4, 0.7, 0.9, float("nan")]), min_size=m, max_size=m))
    order = draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.0, 3.5, 5.0]), min_size=n, max_size=n))
    return (
        np.array(labels, dtype=np.int64),
        np.array([src, dst], dtype=np.int64).reshape(2, m),
        np.array(scores, dtype=np.float32),
        np.array(order, dtype=np.float32),
    )


@settings(max_examples=300, deadline=None)
@given(tracked_graphs(), st.sampled_from([0.1, 0.3, 0.5]))
def test_extend_tracks_follows_its_rule(graph, cut):
    labels, edge_index, scores, order = graph
    got = extend_tracks(labels, edge_index, scores, cut, order)
    np.testing.assert_array_equal(got, reference_extend(labels, edge_index, scores, cut, order))
    assert got.dtype == labels.dtype
    kept = labels >= 0
    np.testing.assert_array_equal(got[kept], labels[kept])  # a hit on a track stays on it


def test_extend_tracks_completes_a_fragment():
    # particle A: hits 0-5 along r; the walk kept 0-2 (track 0), hits 3-5 are on no track; the 3 -> 4 edge
    # scores 0.25 and a competing track 1 (hits 6-7) reaches hit 4 with a worse edge (0.2): best first, track 0
    # takes hit 3 (0.6), then hit 4 (0.25) before track 1 can. Hit 8 hangs below the cut.
    labels = np.array([0, 0, 0, -1, -1, -1, 1, 1, -1])
    order = np.array([1, 2, 3, 4, 5, 6, 3.5, 4.5, 7], dtype=np.float32)
    edges = np.array([[0, 1, 2, 3, 4, 6, 7, 5], [1, 2, 3, 4, 5, 7, 4, 8]])
    scores = np.array([0.9, 0.9, 0.6, 0.25, 0.8, 0.9, 0.2, 0.05], dtype=np.float32)
    got = extend_tracks(torch.from_numpy(labels), edges, scores, 0.1, order)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.int64
    assert got.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, -1]
    # above every score of the gap, nothing grows
    assert extend_tracks(labels, edges, scores, 0.3, order).tolist() == [0, 0, 0, 0, -1, -1, 1, 1, -1]


def test_extend_tracks_checks_its_inputs():
    with pytest.raises(ValueError, match="order"):
        extend_tracks(np.array([0, -1]), np.array([[0], [1]]), np.array([0.5], np.float32), 0.1, np.zeros(3))
