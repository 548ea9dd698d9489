"""Node and edge features against a numpy float64 oracle written from the documented definitions."""

from __future__ import annotations

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
        out.append([
            dr / 1000, dphi / math.pi, dz / 1000, (eta[d] - eta[s]) / 4,
            np.clip(1000 * dphi / safe, -10, 10), np.clip(0.5 * (r[s] + r[d]) * dphi / safe, -10, 10),
            np.clip((z[s] - r[s] * dz / safe) / 1000, -1, 1),
        ])
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
    np.testing.assert_allclose(got.numpy(), oracle_edges(ev), rtol=2e-4, atol=2e-5)
    assert list(F.EDGE_FEATURE_NAMES) == ["dr", "dphi", "dz", "deta", "phi_slope", "rphi_slope", "z0"]


def test_phi_wraps_across_pi():
    r = torch.tensor([100.0, 200.0])
    phi = torch.tensor([math.pi - 0.01, -math.pi + 0.01])
    z = torch.zeros(2)
    feats = F.compute_edge_features(r, phi, z, z, torch.tensor([[0], [1]]))
    assert feats[0, 1].item() == pytest.approx(0.02 / math.pi, rel=1e-3)


def test_equal_radius_gives_finite_slopes():
    r = torch.tensor([300.0, 300.0])
    feats = F.compute_edge_features(r, torch.tensor([0.0, 0.1]), torch.tensor([1220.0, 1500.0]),
                                    torch.zeros(2), torch.tensor([[0], [1]]))
    assert torch.isfinite(feats).all()


def test_empty_graph_and_tensor_event(device):
    ev = make_event(n=5, e=0).to(device)
    assert F.edge_features(ev).shape == (0, 7)
    assert F.node_features(ev).device.type == device
    full = make_event()
    torch.testing.assert_close(F.edge_features(full.to(device)).cpu(), F.edge_features(full))


def test_edge_features_need_a_graph():
    ev = make_event().replace(edge_index=None)
    with pytest.raises(DataError, match="event 3"):
        F.edge_features(ev)
