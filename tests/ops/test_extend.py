"""extend_tracks against a direct, loop-by-loop reading of its documented rule, and on a hand-made event."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.ops import extend_tracks, extend_tracks_helix


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


# -- extend_tracks_helix ---------------------------------------------------------------------------------
def _reference_helix(px, py, pz):
    """Principal axis of the points (eigenvector of the x-y covariance), a least-squares parabola across it
    and a least-squares line z(s): written independently of the kernel's batched normal equations."""
    cx, cy = px - px.mean(), py - py.mean()
    _, vectors = np.linalg.eigh(np.cov(np.stack([cx, cy]), bias=True))
    ux, uy = vectors[:, -1]
    s, q = cx * ux + cy * uy, cy * ux - cx * uy
    coef = np.linalg.lstsq(np.stack([np.ones_like(s), s, s * s], 1), q, rcond=None)[0]
    zcoef = np.linalg.lstsq(np.stack([np.ones_like(s), s], 1), pz, rcond=None)[0]

    def distance(hx, hy, hz):
        hs, hq = (hx - px.mean()) * ux + (hy - py.mean()) * uy, (hy - py.mean()) * ux - (hx - px.mean()) * uy
        d_xy = abs(hq - (coef[0] + coef[1] * hs + coef[2] * hs * hs)) / np.sqrt(1 + (coef[1] + 2 * coef[2] * hs) ** 2)
        return d_xy, abs(hz - (zcoef[0] + zcoef[1] * hs))

    return distance


def reference_extend_helix(labels, edge_index, x, y, z, order, tol, fit_hits=5, min_hits=4):
    """The rule of :func:`tracking.ops.extend_tracks_helix`, every end and every claim worked out anew each round."""
    lab = [int(v) for v in labels]
    edges = list(zip(edge_index[0].tolist(), edge_index[1].tolist(), strict=True))
    while True:
        claims = []  # (cost, track, side, hit)
        for track in sorted({t for t in lab if t >= 0}):
            hits = sorted((h for h, t in enumerate(lab) if t == track), key=lambda h: (order[h], h))
            if len(hits) < min_hits:
                continue
            for side in (0, 1):
                near = np.array(hits[:fit_hits] if side == 0 else hits[-fit_hits:])
                end = hits[0] if side == 0 else hits[-1]
                distance = _reference_helix(x[near], y[near], z[near])
                best = None
                for a, b in edges:
                    for c in ({b} if a == end else set()) | ({a} if b == end else set()):
                        beyond = order[c] < order[end] if side == 0 else order[c] > order[end]
                        if lab[c] >= 0 or not beyond:
                            continue
                        d_xy, d_z = distance(x[c], y[c], z[c])
                        if d_xy < tol[0] and d_z < tol[1]:
                            item = (d_xy / tol[0] + d_z / tol[1], c)
                            best = item if best is None or item < best else best
                if best is not None:
                    claims.append((best[0], track, side, best[1]))
        if not claims:
            return np.array(lab, dtype=np.int64)
        taken = {}
        for _cost, track, _side, hit in sorted(claims):
            taken.setdefault(hit, track)
        for hit, track in taken.items():
            lab[hit] = track


def _helix_event(seed):
    """Particles on circles through the origin (hits at radii 30..330 mm, 1 mm noise at random), their first or
    last hits on a track, the rest on no track, random hits, and graph edges: each particle's chain plus random
    pairs."""
    rng = np.random.default_rng(seed)
    xs, ys, zs, labels, chains = [], [], [], [], []
    for p in range(rng.integers(1, 5)):
        radius, phi0, cot = rng.uniform(300, 3000), rng.uniform(-np.pi, np.pi), rng.uniform(-2, 2)
        sign = rng.choice([-1, 1])
        r = np.sort(rng.uniform(30, 330, rng.integers(4, 10)))
        phi = phi0 + sign * np.arcsin(r / (2 * radius))
        noise = rng.choice([0.0, 1.0], size=(3, len(r)), p=[0.7, 0.3])
        start = len(xs)
        xs += (r * np.cos(phi) + noise[0] * rng.normal(0, 1, len(r))).tolist()
        ys += (r * np.sin(phi) + noise[1] * rng.normal(0, 1, len(r))).tolist()
        zs += (cot * r + noise[2] * rng.normal(0, 3, len(r))).tolist()
        kept = rng.integers(3, len(r) + 1)
        lab = np.full(len(r), -1)
        if rng.random() < 0.5:
            lab[:kept] = p
        else:
            lab[len(r) - kept :] = p
        labels += lab.tolist()
        chains.append(np.arange(start, len(xs)))
    for _ in range(rng.integers(0, 8)):
        r, phi = rng.uniform(30, 330), rng.uniform(-np.pi, np.pi)
        xs.append(r * np.cos(phi)), ys.append(r * np.sin(phi)), zs.append(rng.uniform(-600, 600)), labels.append(-1)
    n = len(xs)
    pairs = [(a, b) for c in chains for a, b in itertools.pairwise(c)]
    pairs += [tuple(rng.integers(0, n, 2)) for _ in range(rng.integers(0, 3 * n))]
    edge_index = np.array(pairs, dtype=np.int64).T.reshape(2, -1)
    x, y, z = (np.array(v) for v in (xs, ys, zs))
    return np.array(labels, dtype=np.int64), edge_index, x, y, z, np.hypot(x, y)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(0.5, 2.0), (2.0, 10.0), (20.0, 100.0)]), st.sampled_from([3, 5]))
def test_extend_tracks_helix_follows_its_rule(seed, tol, fit_hits):
    labels, edge_index, x, y, z, order = _helix_event(seed)
    got = extend_tracks_helix(labels, edge_index, x, y, z, order, tol, fit_hits=fit_hits, min_hits=3)
    want = reference_extend_helix(labels, edge_index, x, y, z, order, tol, fit_hits=fit_hits, min_hits=3)
    np.testing.assert_array_equal(got, want)
    kept = labels >= 0
    np.testing.assert_array_equal(got[kept], labels[kept])  # a hit on a track stays on it


def test_extend_tracks_helix_completes_a_stem_and_leaves_a_decoy():
    # a particle on a circle of radius 1 m through the origin, 8 hits at r = 40..320 mm; the walk kept its outer
    # 4 (track 0); its inner hits share an edge with the stem's inner end (and each other) but score nothing. A
    # decoy hit 5 mm off the circle at the same radius as hit 2 competes for the stem's inner end.
    r = np.arange(40.0, 321.0, 40.0)
    phi = np.arcsin(r / 2000.0)
    x, y, z = (
        np.r_[r * np.cos(phi), 120 * np.cos(0.06) + 5],
        np.r_[r * np.sin(phi), 120 * np.sin(0.06)],
        np.r_[0.5 * r, 60],
    )
    labels = np.array([-1, -1, -1, -1, 0, 0, 0, 0, -1])
    edges = np.array([[0, 1, 2, 3, 4, 5, 6, 8], [1, 2, 3, 4, 5, 6, 7, 4]])
    order = np.hypot(x, y)
    got = extend_tracks_helix(torch.from_numpy(labels), edges, x, y, z, order, (1.0, 5.0))
    assert isinstance(got, torch.Tensor) and got.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, -1]
    # a tolerance below the hits' distance from a parabola fitted to a circle: nothing grows past the fit error
    assert extend_tracks_helix(labels, edges, x, y, z, order, (1e-9, 5.0)).tolist() == labels.tolist()
    with pytest.raises(ValueError, match="tolerance"):
        extend_tracks_helix(labels, edges, x, y, z, order, (0.0, 5.0))
    with pytest.raises(ValueError, match="order"):
        extend_tracks_helix(labels, edges, x, y, z, order[:-1], (1.0, 5.0))
