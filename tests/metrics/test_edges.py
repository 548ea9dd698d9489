"""Edge efficiency / purity against the truth graph."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracking.metrics import EdgeMetricsAccumulator, edge_metrics, truth_segments

from ._events import make_event


def graph_event():
    # hits at x = 1..8; p1 = hits 0,1,2,3 (pT 2), p2 = 4,5,6 (pT 0.5), noise = 7
    ev = make_event([1, 1, 1, 1, 2, 2, 2, 0], particles={1: (2.0, 0.0), 2: (0.5, 0.0)})
    # truth segments: (0,1) (1,2) (2,3) (4,5) (5,6)
    edges = np.array([[0, 2, 3, 4, 0, 6, 1], [1, 1, 2, 5, 2, 7, 4]], dtype=np.int64)
    # true: 0-1, 2-1 (reversed), 3-2 (reversed), 4-5; false: 0-2 (skips a hit), 6-7, 1-4
    return ev.replace(edge_index=edges)


def test_truth_segments_are_consecutive_hits():
    assert truth_segments(graph_event()).T.tolist() == [[0, 1], [1, 2], [2, 3], [4, 5], [5, 6]]


def test_all_edges_hand_computed():
    m = edge_metrics(graph_event())
    assert m == {
        "efficiency": 4 / 5,
        "purity": 4 / 7,
        "n_edges": 7,
        "n_true_edges": 4,
        "n_truth_segments": 5,
        "n_found_segments": 4,
    }


def test_pt_restricted_efficiency():
    m = edge_metrics(graph_event(), pt_min=1.0)
    # only p1's 3 segments are targets, all found; purity still over all 7 edges
    assert (m["efficiency"], m["n_truth_segments"], m["purity"]) == (1.0, 3, 4 / 7)


def test_score_cut():
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.6, 0.2, 0.95], dtype=np.float32)
    m = edge_metrics(graph_event(), edge_scores=scores, score_cut=0.5)
    # kept: 0-1, 2-1, 4-5 (true), 0-2, 1-4 (false)
    assert (m["n_edges"], m["n_true_edges"], m["n_found_segments"]) == (5, 3, 3)
    assert m["purity"] == 3 / 5 and m["efficiency"] == 3 / 5
    # scores on the event are used by default
    ev = graph_event()
    ev = ev.replace(edge_scores=scores)
    assert edge_metrics(ev, score_cut=0.5) == m


def test_duplicate_edges_do_not_inflate_efficiency():
    ev = graph_event()
    ev = ev.replace(edge_index=np.array([[0, 1, 0], [1, 0, 1]], dtype=np.int64))
    m = edge_metrics(ev)
    assert (m["n_found_segments"], m["n_true_edges"], m["purity"]) == (1, 3, 1.0)


def test_bare_edge_index_and_errors():
    ev = graph_event()
    seg = truth_segments(ev)
    assert edge_metrics(ev.edge_index, segments=seg, num_hits=ev.num_hits) == edge_metrics(ev)
    with pytest.raises(ValueError, match="segments= and num_hits="):
        edge_metrics(ev.edge_index)
    with pytest.raises(ValueError, match="needs an Event"):
        edge_metrics(ev.edge_index, segments=seg, num_hits=8, pt_min=1.0)
    with pytest.raises(ValueError, match="no edge_index"):
        edge_metrics(make_event([1, 1]))
    with pytest.raises(ValueError, match="edge_scores has 2 entries"):
        edge_metrics(ev, edge_scores=np.zeros(2, dtype=np.float32))


def test_empty_graph_and_accumulator():
    ev = graph_event().replace(edge_index=np.zeros((2, 0), dtype=np.int64))
    m = edge_metrics(ev)
    assert m["n_edges"] == 0 and m["efficiency"] == 0.0 and math.isnan(m["purity"])
    acc = EdgeMetricsAccumulator()
    acc.add(m)
    acc.add(edge_metrics(graph_event()))
    r = acc.result()
    assert (r["efficiency"], r["purity"], r["n_events"]) == (4 / 10, 4 / 7, 2)


def test_against_brute_force():
    rng = np.random.default_rng(3)
    n = 300
    pid = rng.integers(0, 25, n)
    ev = make_event(pid, particles={p: (float(p) / 10, 0.0) for p in range(1, 25)})
    edges = rng.integers(0, n, (2, 2000)).astype(np.int64)
    seg = truth_segments(ev)
    seg_set = {frozenset(s) for s in seg.T.tolist()}
    true = [frozenset(e) in seg_set for e in edges.T.tolist()]
    edge_set = {frozenset(e) for e in edges.T.tolist()}
    target = [s for s in seg.T.tolist() if pid[s[0]] / 10 > 1.0]
    found = sum(frozenset(s) in edge_set for s in target)
    m = edge_metrics(ev.replace(edge_index=edges), pt_min=1.0)
    assert m["n_true_edges"] == sum(true)
    assert m["efficiency"] == pytest.approx(found / len(target))
