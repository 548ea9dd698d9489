"""TrackML score and weights: hand-computed cases and loop references of the TrackML library's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata

from tracking.metrics import order_weight, pt_weight, trackml_score, trackml_weights
from tracking.metrics.trackml_score import ORDER_MATRIX

from ._events import make_event


def test_order_matrix_rows_by_hand():
    # 4 hits: the 9-point proposal stretched over 0..3 -> 10, 16/3, 3, 6 (sum 73/3)
    np.testing.assert_allclose(ORDER_MATRIX[4, :4], np.array([30, 16, 9, 18]) / 73)
    # 5 hits: supports every 0.5 -> 10, 6, 3, 3, 6 (sum 28)
    np.testing.assert_allclose(ORDER_MATRIX[5, :5], np.array([10, 6, 3, 3, 6]) / 28)
    np.testing.assert_allclose(ORDER_MATRIX[4:].sum(axis=1), 1.0)
    assert not ORDER_MATRIX[:4].any()


def test_pt_and_order_weight_edges():
    np.testing.assert_allclose(pt_weight([0.01, 0.05, 0.3, 0.5, 2.0, 3.0, 10.0]), [0, 0.2, 0.2, 0.2, 0.68, 1, 1])
    assert order_weight(0, 3) == 0.0  # < 4 hits
    assert order_weight(20, 25) == 0.0  # hit ranked 20 or later
    np.testing.assert_allclose(order_weight(3, 30), ORDER_MATRIX[20, 3])  # long particles use the 20-hit row
    with pytest.raises(ValueError, match="hit index"):
        order_weight(4, 4)


def test_score_with_given_weights_hand_computed():
    # p1: hits 0-3, p2: 4-7, p3: 8-9, noise: 10; weights 0.1 each, noise 0 -> total 1.0
    pid = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 0]
    w = [0.1] * 10 + [0.0]
    labels = [0, 0, 0, 1, 0, 1, 1, 1, 2, -1, 1]
    ev = make_event(pid, track_labels=labels)
    # T0 = {p1 x3, p2}: good (3/4, 3/4) -> 0.3; T1 = {p1, p2 x3, noise}: good (3/5, 3/4) -> 0.3;
    # T2 = {p3}: 1/2 of p3, not > 50%; hit 9 alone: 1/2 of p3 -> no
    assert trackml_score(ev, weights=w) == pytest.approx(0.6)
    # unnormalised weights are divided by their sum
    assert trackml_score(ev, weights=np.array(w) * 7) == pytest.approx(0.6)
    # a perfect submission scores 1
    assert trackml_score(ev, np.array(pid) * 1 - (np.array(pid) == 0) * 1, weights=w) == pytest.approx(1.0)
    # purity exactly 50% is not enough: T = {p1 x2, p2 x2}
    ev2 = make_event([1, 1, 2, 2, 1, 2], track_labels=[0, 0, 0, 0, -1, -1])
    assert trackml_score(ev2, weights=[1.0] * 6) == 0.0


def test_weights_from_truth_hand_computed():
    # p1: 4 hits, pT 2 (w_pt 0.68), vz = 10, hits in shuffled |z - vz| order;
    # p2: 5 hits, pT 4 (w_pt 1); p3: 3 hits (order weight 0); noise
    pid = [1, 2, 1, 2, 1, 2, 1, 2, 2, 3, 3, 3, 0]
    z = [13, 5, 11, 1, 14, 2, 12, 4, 3, 1, 2, 3, 0]
    ev = make_event(pid, z=z, particles={1: (2.0, 0), 2: (4.0, 0), 3: (5.0, 0)}, vz={1: 10.0})
    w = trackml_weights(ev)
    o4 = np.array([30, 16, 9, 18]) / 73
    o5 = np.array([10, 6, 3, 3, 6]) / 28
    expect = np.zeros(13)
    expect[[2, 6, 0, 4]] = 0.68 * o4  # p1 ranked by |z - 10|: 1, 2, 3, 4
    expect[[3, 5, 8, 7, 1]] = o5  # p2 ranked by |z|: 1, 2, 3, 4, 5
    expect /= 0.68 + 1.0
    np.testing.assert_allclose(w, expect, rtol=1e-6)
    assert w.sum() == pytest.approx(1.0)


def test_default_weights_come_from_meta_then_truth():
    ev = make_event([1, 1, 1, 1, 0], track_labels=[0, 0, 0, 0, -1], particles={1: (2.0, 0)})
    assert trackml_score(ev) == pytest.approx(1.0)
    # the noise hit sits on the track: its weight counts in the total, not in the score
    ev = ev.replace(track_labels=np.zeros(5, dtype=np.int64), meta={"weight": np.array([0.5, 0.5, 0, 0, 1.0])})
    assert trackml_score(ev) == pytest.approx(0.5)


def test_degenerate_events():
    empty = make_event([], particles={}, track_labels=[])
    assert math.isnan(trackml_score(empty))
    only_short = make_event([1, 1, 0], particles={1: (2.0, 0)}, track_labels=[0, 0, -1])
    assert math.isnan(trackml_score(only_short))  # every weight is zero
    with pytest.raises(ValueError, match="weights has 2 entries"):
        trackml_score(make_event([1, 1, 0], track_labels=[0, 0, 0]), weights=[1, 1])


def _reference_weights(pid, z, particles, vz):
    """Per-particle loops of ``weight_hits_phase1`` (hit count from the event)."""
    w = np.zeros(len(pid))
    for p in set(pid) - {0}:
        idx = [i for i in range(len(pid)) if pid[i] == p]
        if p not in particles:
            continue
        nh = len(idx)
        ranks = rankdata([abs(z[i] - vz.get(p, 0.0)) for i in idx]) - 1
        for i, r in zip(idx, ranks):
            ih = int(r)
            ow = 0.0 if nh < 4 or ih >= 20 else ORDER_MATRIX[min(nh, 20), ih]
            w[i] = float(pt_weight(particles[p][0])) * ow
    return w / w.sum() if w.sum() else w


def _reference_score(pid, labels, w):
    """Track-by-track loop of ``score_event`` (unassigned hits as one-hit tracks)."""
    labels = list(labels)
    nxt = max([t for t in labels if t >= 0], default=-1) + 1
    for i, t in enumerate(labels):
        if t < 0:
            labels[i], nxt = nxt, nxt + 1
    pnh: dict[int, int] = {}
    for p in pid:
        pnh[p] = pnh.get(p, 0) + 1
    score = 0.0
    for t in set(labels):
        idx = [i for i in range(len(pid)) if labels[i] == t]
        counts: dict[int, int] = {}
        for i in idx:
            counts[pid[i]] = counts.get(pid[i], 0) + 1
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] / len(idx) > 0.5 and counts[best] / pnh[best] > 0.5:
            score += sum(w[i] for i in idx if pid[i] == best)
    return score / sum(w)


@pytest.mark.parametrize("seed", range(8))
def test_against_loop_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    n_particles = int(rng.integers(1, 30))
    pid = rng.integers(0, n_particles + 1, n)
    z = rng.integers(-50, 50, n).astype(float)  # integers: rank ties happen
    particles = {int(p): (float(rng.uniform(0.0, 4.0)), 0.0) for p in range(1, n_particles + 1) if rng.random() < 0.9}
    vz = {p: float(rng.integers(-5, 5)) for p in particles}
    labels = np.where(rng.random(n) < 0.75, pid, rng.integers(-1, n_particles, n))
    ev = make_event(pid, z=z, particles=particles, vz=vz, track_labels=labels)
    w = trackml_weights(ev)
    w_ref = _reference_weights(pid.tolist(), z.tolist(), particles, vz)
    np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-12)
    if w.sum() > 0:
        assert trackml_score(ev, weights=w) == pytest.approx(_reference_score(pid.tolist(), labels.tolist(), w))
    random_w = rng.random(n)
    assert trackml_score(ev, weights=random_w) == pytest.approx(
        _reference_score(pid.tolist(), labels.tolist(), random_w)
    )


def test_phase2_zeroes_secondaries():
    from tracking.io.barcode import encode_barcode
    from tracking.metrics.trackml_score import particle_generation

    trackml_secondary = (7 << 55) | (3 << 24)  # TrackML layout: generation in bits 24-35
    assert particle_generation([trackml_secondary, 1 << 55, 0]).tolist() == [3, 0, 0]
    acts = encode_barcode([1, 1], [0, 0], [5, 6], [0, 2], [0, 0])
    assert particle_generation(acts, "acts").tolist() == [0, 2]
    with pytest.raises(ValueError, match="id_layout"):
        particle_generation([1], "cms")
    p1, p2 = 1 << 55, (1 << 55) | (1 << 24)
    ev = make_event([p1] * 4 + [p2] * 4, particles={p1: (2.0, 0), p2: (2.0, 0)})
    w1, w2 = trackml_weights(ev), trackml_weights(ev, phase=2)
    np.testing.assert_allclose(w1[:4], w1[4:])
    np.testing.assert_allclose(w2, np.r_[2 * w1[:4], np.zeros(4)])


def test_weights_reproduce_released_trackml_weights(trackml_dir):
    """The real truth ``weight`` column equals phase-2 weights up to the event normalisation (the file is
    a 5% sample of an event whose weights summed to 1), when ranked by the true ``tz`` as the library does."""
    import pandas as pd

    from tracking import registry

    (event,) = registry.create("reader", "trackml_csv", {"events": [1]})(trackml_dir)
    truth = pd.read_csv(trackml_dir / "event000000001-truth.csv.gz").set_index("hit_id").reindex(event.hit_id)
    released = truth["weight"].to_numpy()
    ours = trackml_weights(event.replace(z=truth["tz"].to_numpy(np.float32)), phase=2)
    np.testing.assert_array_equal(ours > 0, released > 0)
    np.testing.assert_allclose(ours * (released.sum() / ours.sum()), released, rtol=0, atol=1e-5 * released.max())
