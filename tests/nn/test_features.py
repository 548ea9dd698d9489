"""Node and edge features against a numpy float64 oracle written from the documented definitions."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from tracking.errors import DataError
from tracking.event import Event
from tracking.nn import features as F


def make_event(n: int = 50, e: int = 120, seed: int = 0) -> Event:
    rng = np.random.default_rng(seed)
    r = rng.uniform(30, 1000, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    z = rng.uniform(-2500, 2500, n)
    ei = rng.integers(0, n, (2, e))
    return Event(
        event_id=3,
        hit_id=np.arange(n, dtype=np.int64),
        x=(r * np.cos(phi)).astype(np.float32),
        y=(r * np.sin(phi)).astype(np.float32),
        z=z.astype(np.float32),
        edge_index=ei.astype(np.int64),
    )


def oracle_edges(ev: Event) -> np.ndarray:
    r, phi, z, eta = (np.asarray(getattr(ev, k), dtype=np.float64) for k in ("r", "phi", "z", "eta"))
    out = []
    for s, d in np.asarray(ev.edge_index).T:
        dr = r[d] - r[s]
        dphi = (phi[d] - phi[s] + math.pi) % (2 * math.pi) - math.pi
        dz = z[d] - z[s]
        safe = dr if abs(dr) >= 1e-3 else math.copysign(1e-3, dr if dr != 0 else 1.0)
        out.append(
            [
                dr / 1000,
                dphi / math.pi,
                dz / 1000,
                (eta[d] - eta[s]) / 4,
                np.clip(1000 * dphi / safe, -10, 10),
                np.clip(0.5 * (r[s] + r[d]) * dphi / safe, -10, 10),
                np.clip((z[s] - r[s] * dz / safe) / 1000, -1, 1),
            ]
        )
    return np.array(out).reshape(-1, 7)


def test_node_features_definition():
    ev = make_event()
    x = F.node_features(ev)
    assert x.dtype == torch.float32 and x.shape == (ev.num_hits, F.NUM_NODE_FEATURES)
    want = np.stack([ev.r / 1000, ev.phi / np.pi, ev.z / 1000, ev.eta / 4], axis=1)
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-6, atol=1e-7)


def test_edge_features_definition():
    ev = make_event()
    got = F.edge_features(ev)
    assert got.dtype == torch.float32 and got.shape == (ev.num_edges, F.NUM_EDGE_FEATURES)
    np.testing.assert_allclose(got[:, :7].numpy(), oracle_edges(ev), rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(got[:, 7:].numpy(), oracle_triplets(ev), rtol=1e-4, atol=1e-5)
    assert list(F.EDGE_FEATURE_NAMES) == [
        "dr",
        "dphi",
        "dz",
        "deta",
        "phi_slope",
        "rphi_slope",
        "z0",
        "curvature",
        "triplet_in",
        "triplet_out",
    ]
    # width 7: the doublet features alone, as FEATURES_VERSION 2 checkpoints were trained on
    torch.testing.assert_close(F.edge_features(ev, width=7), got[:, :7])
    with pytest.raises(ValueError, match="width"):
        F.edge_features(ev, width=8)


def oracle_triplets(ev: Event) -> np.ndarray:
    """Brute force over every ordered pair of edges, straight from the documented definitions."""
    x, y, z = (np.asarray(getattr(ev, k), dtype=np.float64) for k in ("x", "y", "z"))
    ei = np.asarray(ev.edge_index)
    kappa, theta = [], []
    for s, d in ei.T:
        p1, p2 = np.array([x[s], y[s]]), np.array([x[d], y[d]])
        cross = p1[0] * p2[1] - p1[1] * p2[0]
        norm = np.linalg.norm(p1) * np.linalg.norm(p2) * np.linalg.norm(p2 - p1)
        kappa.append(2 * cross / max(norm, 1e-9) * 1000)
        theta.append(math.atan2(np.linalg.norm(p2 - p1), z[d] - z[s]))
    best_in = np.full(ei.shape[1], 1e6)
    best_out = np.full(ei.shape[1], 1e6)
    for e in range(ei.shape[1]):
        for f in range(ei.shape[1]):
            if ei[1, e] == ei[0, f]:
                chi2 = min(((kappa[f] - kappa[e]) / 0.05) ** 2 + ((theta[f] - theta[e]) / 0.005) ** 2, 1e6)
                best_out[e] = min(best_out[e], chi2)
                best_in[f] = min(best_in[f], chi2)
    scale = math.log1p(1e6)
    return np.stack([np.clip(np.array(kappa) / 2, -5, 5), np.log1p(best_in) / scale, np.log1p(best_out) / scale], 1)


def test_triplet_features_denser_graph():
    ev = make_event(n=40, e=400, seed=4)  # ~10 triplets per edge
    np.testing.assert_allclose(F.edge_features(ev)[:, 7:].numpy(), oracle_triplets(ev), rtol=1e-4, atol=1e-5)


def test_triplet_features_of_a_helix():
    """Hits of one pT = 2 GeV track from the origin in 2 T: every segment has kappa_0 = 0.3 (1/m,
    / 2 = 0.15), consecutive segments agree (chi2 ~ 0), the end segments have no match (1)."""
    radius = 2.0 / (0.3 * 2.0) * 1000  # mm
    r = np.array([50.0, 100.0, 200.0, 350.0, 500.0])
    alpha = 2 * np.arcsin(r / (2 * radius))  # turning angle around the circle's centre
    cx, cy = 0.0, radius
    x = cx + radius * np.sin(alpha)
    y = cy - radius * np.cos(alpha)
    z = r * 0.7
    ev = Event(
        event_id=0,
        hit_id=np.arange(5),
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        z=z.astype(np.float32),
        edge_index=np.array([[0, 1, 2, 3], [1, 2, 3, 4]]),
    )
    feats = F.edge_features(ev)[:, 7:].numpy()
    np.testing.assert_allclose(np.abs(feats[:, 0]), 0.15, rtol=2e-3)
    assert (np.sign(feats[:, 0]) == np.sign(feats[0, 0])).all()
    assert feats[0, 1] == pytest.approx(1.0) and feats[3, 2] == pytest.approx(1.0)
    assert (feats[1:, 1] < 0.05).all() and (feats[:3, 2] < 0.05).all()


def test_phi_wraps_across_pi():
    r = torch.tensor([100.0, 200.0])
    phi = torch.tensor([math.pi - 0.01, -math.pi + 0.01])
    z = torch.zeros(2)
    feats = F.compute_edge_features(r, phi, z, z, torch.tensor([[0], [1]]))
    assert feats[0, 1].item() == pytest.approx(0.02 / math.pi, rel=1e-3)


def test_equal_radius_gives_finite_slopes():
    r = torch.tensor([300.0, 300.0])
    feats = F.compute_edge_features(
        r, torch.tensor([0.0, 0.1]), torch.tensor([1220.0, 1500.0]), torch.zeros(2), torch.tensor([[0], [1]])
    )
    assert torch.isfinite(feats).all()


def test_empty_graph_and_tensor_event(device):
    ev = make_event(n=5, e=0).to(device)
    assert F.edge_features(ev).shape == (0, F.NUM_EDGE_FEATURES)
    assert F.edge_features(ev, width=7).shape == (0, 7)
    assert F.node_features(ev).device.type == device
    full = make_event()
    torch.testing.assert_close(F.edge_features(full.to(device)).cpu(), F.edge_features(full))


def test_edge_features_need_a_graph():
    ev = make_event().replace(edge_index=None)
    with pytest.raises(DataError, match="event 3"):
        F.edge_features(ev)


# -- the detector description ----------------------------------------------------------------------------
# The features as they were before the detector description (FEATURES_VERSION 3), frozen here: the
# built-in description must reproduce them bit for bit, so that every existing checkpoint scores as before.
def _features_before_descriptions(ev: Event, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    from tracking.ops import triplet_best

    r, phi, z, eta = (torch.from_numpy(np.asarray(getattr(ev, k))).float() for k in ("r", "phi", "z", "eta"))
    nodes = torch.stack([r / 1000.0, phi / math.pi, z / 1000.0, eta / 4.0], dim=1).float()
    ei = torch.from_numpy(np.asarray(ev.edge_index))
    src, dst = ei[0], ei[1]
    dr = r[dst] - r[src]
    dphi = torch.remainder(phi[dst] - phi[src] + math.pi, 2 * math.pi) - math.pi
    dz = z[dst] - z[src]
    sign = torch.where(dr < 0, -1.0, 1.0).to(dr.dtype)
    dr_safe = torch.where(dr.abs() < 1e-3, sign * 1e-3, dr)
    phi_slope = dphi / dr_safe
    doublets = torch.stack(
        [
            dr / 1000.0,
            dphi / math.pi,
            dz / 1000.0,
            (eta[dst] - eta[src]) / 4.0,
            (phi_slope * 1000.0).clamp(-10.0, 10.0),
            (0.5 * (r[src] + r[dst]) * phi_slope).clamp(-10.0, 10.0),
            ((z[src] - r[src] * dz / dr_safe) / 1000.0).clamp(-1.0, 1.0),
        ],
        dim=1,
    ).float()
    if width == 7:
        return nodes, doublets
    x, y, zz = (torch.from_numpy(np.asarray(getattr(ev, k))).double() for k in ("x", "y", "z"))
    x1, y1, x2, y2 = x[src], y[src], x[dst], y[dst]
    cross = x1 * y2 - y1 * x2
    norm = torch.hypot(x1, y1) * torch.hypot(x2, y2) * torch.hypot(x2 - x1, y2 - y1)
    kappa = 2.0 * cross / norm.clamp_min(1e-9) * 1000.0
    theta = torch.atan2(torch.hypot(x2 - x1, y2 - y1), zz[dst] - zz[src])
    best_in, best_out = triplet_best(ei, ev.num_hits, kappa, theta, 0.05, 0.005, 1e6)
    scale = math.log1p(1e6)
    triplets = torch.stack(
        [(kappa / 2.0).clamp(-5.0, 5.0), torch.log1p(best_in) / scale, torch.log1p(best_out) / scale], dim=1
    ).float()
    return nodes, torch.cat([doublets, triplets], dim=1)


@pytest.mark.parametrize("width", [7, 10])
def test_builtin_description_gives_the_features_bit_for_bit(width):
    from tracking.detector import BUILTIN

    ev = make_event(n=400, e=3000, seed=7)
    want_nodes, want_edges = _features_before_descriptions(ev, width)
    assert torch.equal(F.node_features(ev), want_nodes)
    assert torch.equal(F.node_features(ev, detector=BUILTIN), want_nodes)
    assert torch.equal(F.edge_features(ev, width=width), want_edges)
    assert torch.equal(F.edge_features(ev, width=width, detector=BUILTIN), want_edges)


def test_description_scales_the_features():
    from tracking.detector import DetectorDescription

    ev = make_event()
    small = DetectorDescription(r_scale=50.0, z_scale=500.0, eta_scale=5.0)
    x = F.node_features(ev, detector=small).numpy()
    np.testing.assert_allclose(x[:, 0], ev.r / 50.0, rtol=1e-6)
    np.testing.assert_allclose(x[:, 2], ev.z / 500.0, rtol=1e-6)
    np.testing.assert_allclose(x[:, 3], ev.eta / 5.0, rtol=1e-6)
    e = F.edge_features(ev, width=7, detector=small).numpy()
    np.testing.assert_allclose(e[:, 0], oracle_edges(ev)[:, 0] * 1000 / 50, rtol=1e-5, atol=1e-7)


def test_zero_field_gives_straight_line_features():
    """Without a field, hits of straight tracks from the beam line give d0 ~ 0 and perfect triplet matches;
    edges between two tracks do not."""
    from tracking.detector import DetectorDescription

    straight = DetectorDescription(field_tesla=0.0, curvature_scale=1.0, triplet_kappa_scale=0.1)
    z_planes = np.array([100.0, 125.0, 150.0, 175.0])
    xs, ys, zs = [], [], []
    for phi0, tan_theta in ((0.3, 0.1), (2.0, 0.05)):
        r = z_planes * tan_theta
        xs.append(r * np.cos(phi0))
        ys.append(r * np.sin(phi0))
        zs.append(z_planes)
    n = 8
    true_edges = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7)]
    fake_edges = [(0, 5), (4, 1), (1, 6)]
    ev = Event(
        event_id=1,
        hit_id=np.arange(n, dtype=np.int64),
        x=np.concatenate(xs).astype(np.float32),
        y=np.concatenate(ys).astype(np.float32),
        z=np.concatenate(zs).astype(np.float32),
        edge_index=np.array(true_edges + fake_edges, dtype=np.int64).T,
    )
    feats = F.edge_features(ev, detector=straight).numpy()
    d0, t_in, t_out = feats[:, 7], feats[:, 8], feats[:, 9]
    assert np.all(np.abs(d0[:6]) < 1e-3) and np.all(np.abs(d0[6:]) > 1.0)
    # inner edges of a track match their continuation, outer ones their predecessor, almost exactly
    assert np.all(t_out[[0, 1, 3, 4]] < 0.01) and np.all(t_in[[1, 2, 4, 5]] < 0.01)
    # the same graph under the built-in 2 T description: no such separation in the curvature column
    builtin = F.edge_features(ev).numpy()
    assert not np.allclose(builtin[:, 7], feats[:, 7])


def test_native_doublet_features_equal_the_torch_form_bit_for_bit():
    """The one-pass native kernel (float32 CPU inference) against the torch operations it replaces, on edges
    between hits at equal radius (dr = 0), within 1e-3 mm, across the phi = +-pi seam, and for a fitted
    detector's scales."""
    from tracking.detector import BUILTIN
    from tracking.nn import fused

    ev = make_event(n=2000, e=100_000, seed=11)
    x, y = np.asarray(ev.x).copy(), np.asarray(ev.y).copy()
    x[:10], y[:10] = x[10:20], y[10:20]  # hits 0-9 at the radius of 10-19 (and the same phi)
    x[20], y[20] = -500.0, 1e-4  # phi just under +pi ...
    x[21], y[21] = -510.0, -1e-4  # ... and just over -pi
    ei = np.asarray(ev.edge_index).copy()
    ei[:, :10] = [np.arange(10), np.arange(10, 20)]
    ei[:, 10] = [20, 21]
    ev = ev.replace(x=x, y=y, edge_index=ei)
    fitted = dataclasses.replace(BUILTIN, r_scale=60.0, z_scale=850.0, phi_slope_clamp=3.0, min_abs_dr=0.5)
    coords = F._hit_coordinates(ev, None)
    edges = torch.from_numpy(ei)
    for detector in (BUILTIN, fitted):
        with torch.inference_mode():
            native = F.compute_edge_features(*coords, edges, detector=detector)
            with fused.enabled(False):
                reference = F.compute_edge_features(*coords, edges, detector=detector)
        assert torch.equal(native, reference)
    bad = torch.tensor([[0, 1], [2, 2000]])
    with torch.inference_mode(), pytest.raises(IndexError, match=r"edge 1 \(1 -> 2000\) outside \[0, 2000\) hits"):
        F.compute_edge_features(*coords, bad)


def _ulps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in float32 units in the last place (same-sign values)."""
    return (a.view(torch.int32).long() - b.view(torch.int32).long()).abs()


@pytest.mark.parametrize("field", ["builtin", "straight", "fitted"])
def test_native_edge_features_equal_the_torch_form(field):
    """All ten features in one native buffer against the torch form (kernels off): the doublets bit for bit,
    the triplets (float64 hypot / atan2 / log1p of the C library against torch's SLEEF) within one float32
    ulp and nearly always equal; also from known doublets (the GNN after the filter), on a dense graph
    (many triplets through each hit), with repeated edges, and with no edges."""
    from tracking.detector import BUILTIN
    from tracking.nn import fused

    detector = {
        "builtin": BUILTIN,
        "straight": dataclasses.replace(BUILTIN, field_tesla=0.0, curvature_scale=1.0, triplet_kappa_scale=0.1),
        "fitted": dataclasses.replace(BUILTIN, triplet_kappa_scale=0.02, triplet_theta_scale=0.01, curvature_clamp=2.0),
    }[field]
    ev = make_event(n=300, e=40_000, seed=5)  # ~130 edges per hit: ~17k triplets through each
    ei = np.asarray(ev.edge_index).copy()
    ei[:, :50] = ei[:, 50:100]  # repeated edges
    ev = ev.replace(edge_index=ei)
    edges = torch.from_numpy(ei)
    with torch.inference_mode():
        assert F._native_edge_features(ev, edges, 10, detector, None) is not None  # the native path runs
        native = F.edge_features(ev, edges, detector=detector)
        with fused.enabled(False):
            assert F._native_edge_features(ev, edges, 10, detector, None) is None
            reference = F.edge_features(ev, edges, detector=detector)
        assert torch.equal(native[:, :7], reference[:, :7])
        ulps = _ulps(native[:, 7:], reference[:, 7:])
        assert int(ulps.max()) <= 1 and float((ulps > 0).float().mean()) < 1e-3
        # from known doublet columns, on a pruned graph: the triplets of that graph
        keep = torch.arange(0, edges.shape[1], 3)
        pruned = F.edge_features(ev, edges[:, keep], detector=detector, known=native[keep])
        with fused.enabled(False):
            pruned_ref = F.edge_features(ev, edges[:, keep], detector=detector, known=reference[keep])
        assert torch.equal(pruned[:, :7], native[keep, :7])
        assert int(_ulps(pruned[:, 7:], pruned_ref[:, 7:]).max()) <= 1
        assert not torch.equal(pruned[:, 8:], native[keep, 8:])  # the triplets depend on the graph
        empty = F.edge_features(ev, edges[:, :0], detector=detector)
    assert empty.shape == (0, 10) and empty.dtype == torch.float32


def test_native_triplet_kernel_checks_its_inputs():
    from tracking._native import core

    x = np.zeros(4, dtype=np.float32)
    src, dst = np.array([0, 1], dtype=np.int64), np.array([1, 4], dtype=np.int64)
    scales = {
        "kappa_scale": 0.05,
        "theta_scale": 0.005,
        "chi2_max": 1e6,
        "log_chi2_max": math.log1p(1e6),
        "curvature_scale": 0.5,
        "curvature_clamp": 5.0,
        "straight": False,
    }
    out = np.zeros((2, 10), dtype=np.float32)
    with pytest.raises(IndexError, match=r"triplet_features: edge 1 \(1 -> 4\) outside \[0, 4\) hits"):
        core.triplet_features_cpu(x, x, x, src, dst, scales, out, 10, 7, 1)
    with pytest.raises(ValueError, match="offset"):
        core.triplet_features_cpu(x, x, x, src, src, scales, out, 10, 8, 1)
    assert not out.any()  # nothing written
