"""Doublet builder against a plain Python reference (same float32 arithmetic, so equality is exact)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tracking.ops import CUT_VARIABLES, build_doublets, doublet_cut_variables

V = len(CUT_VARIABLES)


def reference(r, phi, z, eta, group, src_group, dst_group, cut_min, cut_max):
    """Loops over entries, inner hits, outer hits, in (group, phi, index) order."""
    members: dict[int, list[int]] = {}
    for i in sorted(range(len(r)), key=lambda i: (phi[i], i)):
        if group[i] >= 0:
            members.setdefault(int(group[i]), []).append(i)
    edges = []
    for m in range(len(src_group)):
        for a in members.get(int(src_group[m]), []):
            outer = [b for b in members.get(int(dst_group[m]), []) if b != a]  # never a self-loop
            if not outer:
                continue
            values = doublet_cut_variables(r, phi, z, eta, np.full(len(outer), a), np.array(outer))
            ok = np.all((values >= cut_min[m]) & (values <= cut_max[m]), axis=1)
            edges += [(a, b) for b, keep in zip(outer, ok) if keep]
    return np.array(edges, dtype=np.int64).reshape(-1, 2).T


def random_hits(rng, n, n_groups):
    r = rng.uniform(30, 1000, n).astype(np.float32)
    phi = rng.uniform(-math.pi, math.pi, n).astype(np.float32)
    z = rng.uniform(-1000, 1000, n).astype(np.float32)
    eta = np.arcsinh(z / r).astype(np.float32)
    group = rng.integers(-1, n_groups, n).astype(np.int64)
    return r, phi, z, eta, group


def windows_from_pairs(rng, r, phi, z, eta, group, n_entries, n_groups, spread=0.3):
    """Windows around the values of random actual pairs, so that a fair share of pairs pass."""
    src = rng.integers(0, n_groups, n_entries).astype(np.int32)
    dst = rng.integers(0, n_groups, n_entries).astype(np.int32)
    lo = np.full((n_entries, V), -np.inf, dtype=np.float32)
    hi = np.full((n_entries, V), np.inf, dtype=np.float32)
    a, b = rng.integers(0, len(r), n_entries), rng.integers(0, len(r), n_entries)
    values = doublet_cut_variables(r, phi, z, eta, a, b)
    for m in range(n_entries):
        for v in range(V):
            if rng.random() < 0.7 and np.isfinite(values[m, v]):
                width = spread * (abs(values[m, v]) + 1.0)
                lo[m, v], hi[m, v] = values[m, v] - width, values[m, v] + width * rng.random()
    return src, dst, lo, hi


def check(args, **kw):
    got = build_doublets(*args, **kw)
    want = reference(*args)
    assert got.dtype == np.int64 and got.shape[0] == 2
    np.testing.assert_array_equal(got, want)
    return got


@pytest.mark.parametrize("seed", range(4))
def test_random_against_reference(seed):
    rng = np.random.default_rng(seed)
    hits = random_hits(rng, 400, 12)
    edges = check((*hits, *windows_from_pairs(rng, *hits, 40, 12)))
    assert edges.shape[1] > 0


def test_phi_window_wrapping_around_pi():
    rng = np.random.default_rng(7)
    r, phi, z, eta, group = random_hits(rng, 300, 2)
    phi[:50] = np.float32(math.pi) - rng.uniform(0, 0.05, 50).astype(np.float32)
    phi[50:100] = np.float32(-math.pi) + rng.uniform(0, 0.05, 50).astype(np.float32)
    lo = np.full((4, V), -np.inf, dtype=np.float32)
    hi = np.full((4, V), np.inf, dtype=np.float32)
    lo[:, 4], hi[:, 4] = [-0.1, 0.0, -0.05, -3.2], [0.1, 0.08, 0.0, 3.2]
    src = np.array([0, 0, 1, 1], dtype=np.int32)
    dst = np.array([1, 0, 0, 1], dtype=np.int32)
    edges = check((r, phi, z, eta, group, src, dst, lo, hi))
    wraps = np.abs(phi[edges[0]] - phi[edges[1]]) > math.pi
    assert wraps.any()


def test_empty_inputs():
    e = np.zeros(0, dtype=np.float32)
    lo = np.zeros((0, V), dtype=np.float32)
    out = build_doublets(
        e, e, e, e, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), lo, lo
    )
    assert out.shape == (2, 0) and out.dtype == np.int64
    rng = np.random.default_rng(0)
    hits = random_hits(rng, 20, 3)
    assert build_doublets(*hits, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), lo, lo).shape == (2, 0)
    # a map whose groups have no hits
    out = build_doublets(
        e,
        e,
        e,
        e,
        np.zeros(0, dtype=np.int64),
        np.array([0], dtype=np.int32),
        np.array([1], dtype=np.int32),
        np.zeros((1, V), np.float32),
        np.ones((1, V), np.float32),
    )
    assert out.shape == (2, 0)


def test_one_hit_and_all_in_one_module():
    one = [np.array([v], dtype=np.float32) for v in (100.0, 0.5, 10.0, 0.1)]
    everything = (np.full((1, V), -np.inf, np.float32), np.full((1, V), np.inf, np.float32))
    same = (np.array([0], np.int32), np.array([0], np.int32))
    # a hit is never paired with itself, whatever the windows
    assert build_doublets(*one, np.array([0]), *same, *everything).shape == (2, 0)
    rng = np.random.default_rng(3)
    r, phi, z, eta, _ = random_hits(rng, 60, 1)
    group = np.zeros(60, dtype=np.int64)
    edges = check((r, phi, z, eta, group, *same, *everything))
    assert edges.shape[1] == 60 * 59  # every ordered pair of distinct hits (r differ almost surely)


def test_output_indexes_event_hits_and_torch_roundtrip():
    rng = np.random.default_rng(11)
    hits = random_hits(rng, 200, 5)
    maps = windows_from_pairs(rng, *hits, 10, 5)
    want = build_doublets(*hits, *maps)
    got = build_doublets(*(torch.from_numpy(a) for a in (*hits, *maps)))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), want)
    assert (hits[4][want] >= 0).all()


@pytest.mark.gpu
def test_gpu_equals_cpu():
    rng = np.random.default_rng(5)
    hits = random_hits(rng, 3000, 20)
    maps = windows_from_pairs(rng, *hits, 200, 20)
    cpu = build_doublets(*hits, *maps)
    gpu = build_doublets(*(torch.from_numpy(a).cuda() for a in (*hits, *maps)))
    assert gpu.device.type == "cuda"
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(r=np.zeros(5, np.float64)), "r: expected dtype float32"),
        (dict(phi=np.zeros(4, np.float32)), r"phi: expected 5 entries \(as r\), got 4"),
        (dict(group=np.zeros(5, np.float32)), "group: expected dtype int32 or int64"),
        (dict(group=np.full(5, -2)), "group: ids must be >= 0"),
        (dict(src_group=np.array([-1], np.int32)), "src_group: contains negative"),
        (dict(cut_min=np.zeros((1, 3), np.float32)), "cut_min: expected shape"),
        (dict(cut_max=np.full((1, V), -1, np.float32)), "cut_min: must be <= cut_max"),
        (dict(cut_min=np.full((1, V), np.nan, np.float32)), "cut_min: contains NaN"),
        (dict(z=np.full(5, np.inf, np.float32)), "z: contains NaN or infinite"),
        (dict(phi=np.full(5, 4.0, np.float32)), "phi: must lie in"),
        (dict(eta=torch.zeros(5)), "eta is torch on cpu but r is numpy"),
    ],
)
def test_validation_names_the_argument(change, message):
    args = dict(
        r=np.ones(5, np.float32),
        phi=np.zeros(5, np.float32),
        z=np.zeros(5, np.float32),
        eta=np.zeros(5, np.float32),
        group=np.zeros(5, np.int64),
        src_group=np.zeros(1, np.int32),
        dst_group=np.zeros(1, np.int32),
        cut_min=np.zeros((1, V), np.float32),
        cut_max=np.ones((1, V), np.float32),
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        build_doublets(**args)


def test_n_groups_too_small():
    rng = np.random.default_rng(0)
    hits = random_hits(rng, 10, 4)
    with pytest.raises(ValueError, match="n_groups: 2 but"):
        build_doublets(*hits, *windows_from_pairs(rng, *hits, 2, 4), n_groups=2)
