"""Simulation API: determinism, counts, truth consistency, edge cases."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from tracking import Event
from tracking.io.barcode import decode_barcode
from tracking.simulation import SimulationConfig, sample_pt, simulate_event, simulate_events
from tracking.simulation.geometry import trackml_detector

FIELDS = ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id")


@pytest.fixture(scope="module")
def event() -> Event:
    return simulate_event(mu=15, seed=7, event_id=3)


def test_same_seed_same_event(event):
    again = simulate_event(mu=15, seed=7, event_id=3)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(event, name), getattr(again, name))
    np.testing.assert_array_equal(event.particles.pt, again.particles.pt)
    np.testing.assert_array_equal(event.meta["sim_truth"]["true_x"], again.meta["sim_truth"]["true_x"])


def test_different_seed_or_event_differs(event):
    for other in (simulate_event(mu=15, seed=8, event_id=3), simulate_event(mu=15, seed=7, event_id=4)):
        assert other.num_hits != event.num_hits or not np.array_equal(other.x, event.x)


def test_simulate_events_matches_single_events():
    events = list(simulate_events(2, mu=5, seed=11, first_event=4))
    assert [e.event_id for e in events] == [4, 5]
    np.testing.assert_array_equal(events[1].x, simulate_event(5, 11, 5).x)


def test_dtypes_and_ids(event):
    assert event.hit_id.dtype == np.int64
    np.testing.assert_array_equal(event.hit_id, np.arange(event.num_hits))
    for name in ("x", "y", "z"):
        assert getattr(event, name).dtype == np.float32
    for name in ("volume_id", "layer_id", "module_id"):
        assert getattr(event, name).dtype == np.int32
    assert event.particle_id.dtype == np.int64
    # Sorted by (volume, layer, module) like TrackML files.
    key = np.stack([event.volume_id, event.layer_id, event.module_id]).astype(np.int64)
    flat = (key[0] * 100 + key[1]) * 100_000 + key[2]
    assert np.all(np.diff(flat) >= 0)


def test_counts_scale_with_mu(event):
    # ~43 particles per vertex, ~10 hits each: mu = 15 gives several thousand hits.
    assert 2_000 < event.num_hits < 15_000
    assert 300 < len(event.particles) < 1_200
    noise = event.particle_id == 0
    assert 0.02 < noise.mean() < 0.2


def test_truth_is_consistent(event):
    pid = event.particle_id
    known = set(event.particles.particle_id.tolist())
    assert set(pid[pid != 0].tolist()) <= known
    ids, counts = np.unique(pid[pid != 0], return_counts=True)
    nhits = dict(zip(event.particles.particle_id.tolist(), event.particles.nhits.tolist()))
    assert all(nhits[i] == c for i, c in zip(ids.tolist(), counts.tolist()))
    fields = decode_barcode(event.particles.particle_id)
    assert np.all(fields["vertex_primary"] >= 1) and np.all(fields["particle"] >= 1)
    primary = fields["generation"] == 0
    # displaced particles: generation 1 from secondary vertex 1, the others primaries of the beam spot
    assert np.array_equal(fields["vertex_secondary"], np.where(primary, 0, 1))
    assert set(np.unique(fields["generation"]).tolist()) == {0, 1}
    assert len(np.unique(event.particles.particle_id)) == len(event.particles)
    assert np.all(np.abs(event.particles.eta[primary]) < 4) and np.all(event.particles.pt >= 0.1)
    assert np.all(event.particles.pt[~primary] >= 0.5)
    assert set(np.unique(event.particles.q).tolist()) <= {-1, 1}


def test_measurement_close_to_truth(event):
    truth = event.meta["sim_truth"]
    signal = event.particle_id != 0
    dx = np.hypot(event.x - truth["true_x"], event.y - truth["true_y"])[signal]
    dz = np.abs(event.z - truth["true_z"])[signal]
    pixel = np.isin(event.volume_id[signal], (7, 8, 9))
    # Digitisation moves a hit by at most half a pitch (cell centre) in each local direction.
    assert dx[pixel].max() < 0.05 and dz[pixel].max() < 0.05
    assert dx.max() < 6 and dz.max() < 6
    assert 0 < dx[pixel].mean() < 0.03


@pytest.fixture(scope="module")
def tiled_event():
    """The tiled detector's event: its barrel layers are exact cylinders."""
    return simulate_event(mu=15, seed=7, event_id=3, config=SimulationConfig.for_detector("tiled"))


def test_hits_lie_on_their_layers(tiled_event):
    event = tiled_event
    det = trackml_detector()
    r = np.hypot(event.x, event.y)
    for layer in det.barrels:
        sel = (event.volume_id == layer.volume_id) & (event.layer_id == layer.layer_id)
        assert sel.any()
        np.testing.assert_allclose(r[sel], layer.r, atol=1e-3 * layer.r)
        assert np.abs(event.z[sel]).max() <= layer.half_z + layer.half_v + 1e-3
        assert event.module_id[sel].min() >= 1 and event.module_id[sel].max() <= layer.n_phi * layer.n_z
    for disk in det.disks:
        sel = (event.volume_id == disk.volume_id) & (event.layer_id == disk.layer_id)
        np.testing.assert_allclose(event.z[sel], disk.z)
        assert r[sel].min() >= disk.r_min - 1 and r[sel].max() <= disk.r_max + 1


def test_hits_follow_a_helix_outwards(tiled_event):
    # Along each particle of the tiled detector (one hit per layer; overlapping real modules can give two
    # hits of one layer in either order) the hits come in crossing order: radius grows (first half-turn only).
    event = tiled_event
    truth = event.meta["sim_truth"]
    signal = event.particle_id != 0
    order = np.lexsort((truth["index"][signal], event.particle_id[signal]))
    pid = event.particle_id[signal][order]
    r = np.hypot(truth["true_x"], truth["true_y"])[signal][order]
    same = pid[1:] == pid[:-1]
    assert np.all(r[1:][same] >= r[:-1][same] - 1e-6)


def test_zero_mu_gives_empty_event():
    empty = simulate_event(mu=0, seed=1)
    assert empty.num_hits == 0 and len(empty.particles) == 0
    assert empty.x.dtype == np.float32


def test_no_material_no_noise_full_efficiency_is_exact_helix():
    config = SimulationConfig(pixel_x_over_x0=1e-12, strip_x_over_x0=1e-12, noise_fraction=0.0, hit_efficiency=1.0)
    ev = simulate_event(mu=1, seed=3, config=config)
    assert np.all(ev.particle_id != 0)
    truth = ev.meta["sim_truth"]
    parts = ev.particles
    row = {pid: i for i, pid in enumerate(parts.particle_id.tolist())}
    for pid in np.unique(ev.particle_id)[:20]:
        i = row[int(pid)]
        sel = ev.particle_id == pid
        pt = float(parts.pt[i])
        radius = pt * 1000 / (0.299792458 * 2.0)
        q = int(parts.q[i])
        phi0 = float(parts.phi[i])
        h = -1.0 if q > 0 else 1.0
        cx = parts.vx[i] - h * radius * np.sin(phi0)
        cy = parts.vy[i] + h * radius * np.cos(phi0)
        dist = np.hypot(truth["true_x"][sel] - cx, truth["true_y"][sel] - cy)
        np.testing.assert_allclose(dist, radius, rtol=1e-5, atol=1e-3)
        # z advances linearly with the transverse arc length: cot(theta) = sinh(eta).
        s_arc = (
            2
            * radius
            * np.arcsin(np.hypot(truth["true_x"][sel] - parts.vx[i], truth["true_y"][sel] - parts.vy[i]) / (2 * radius))
        )
        np.testing.assert_allclose(
            truth["true_z"][sel] - parts.vz[i], s_arc * np.sinh(float(parts.eta[i])), rtol=1e-3, atol=0.05
        )


def test_sample_pt_spectrum():
    rng = np.random.default_rng(0)
    pt = sample_pt(rng, 200_000)
    assert pt.min() >= 0.1
    assert 0.40 < np.median(pt) < 0.50  # TrackML primaries: median 0.45 GeV
    assert 0.8 < np.mean(pt < 1.0) < 0.88  # "most below 1 GeV"
    assert sample_pt(rng, 1000, pt_min=2.0).min() >= 2.0
    assert sample_pt(rng, 1000, pt_min=20.0).min() >= 20.0
    assert len(sample_pt(rng, 0)) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"mu": -1}, "mu"), ({"mu": float("nan")}, "mu"), ({"seed": -2}, "seed"), ({"mu": 5000}, "barcodes")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_event(**kwargs)


def test_bad_config():
    with pytest.raises(ValueError, match="hit_efficiency"):
        simulate_event(mu=1, config=SimulationConfig(hit_efficiency=1.5))


def test_mu_200_size():
    event = simulate_event(mu=200, seed=1)
    assert 60_000 < event.num_hits < 160_000


def test_displaced_particles_like_trackml():
    """Displaced particles (generation 1) start 1-1000 mm from the beam line, fly close to the direction
    of their vertex, leave hits only beyond it, and make up the share of reconstructable pT > 1 GeV
    particles that TrackML event 1000 has (8.5 %)."""
    displaced = total = 0
    for event_id in range(2):
        event = simulate_event(mu=100, seed=11, event_id=event_id)
        p = event.particles
        secondary = decode_barcode(p.particle_id)["generation"] == 1
        r = np.hypot(p.vx, p.vy)
        assert np.all(r[secondary] >= 0.99) and np.all(r[secondary] <= 1001) and np.all(r[~secondary] < 0.5)
        dphi = np.angle(np.exp(1j * (p.phi - np.arctan2(p.vy, p.vx))))[secondary]
        assert 0.03 < np.median(np.abs(dphi)) < 0.08  # TrackML event 1000: 0.05
        # the first hit of a displaced particle lies outside its vertex (it flies outwards)
        pid = event.particle_id
        rows, found = p.lookup(pid)
        hit_r = np.hypot(event.x, event.y)
        on_secondary = found & (pid != 0) & secondary[rows]
        assert on_secondary.any() and np.all(hit_r[on_secondary] > r[rows[on_secondary]] - 60)
        reconstructable = (p.pt > 1) & (p.nhits >= 3)
        displaced += np.count_nonzero(reconstructable & secondary)
        total += np.count_nonzero(reconstructable)
    assert 0.05 < displaced / total < 0.13


def test_hadronic_interactions_end_particles_early():
    """With ``interaction_probability`` a particle that interacts in a layer leaves no hit after it: each
    particle keeps a prefix of the hits it leaves without interactions (same positions, same order), some
    lose their last hits, and pT > 1 GeV primaries leave <= 6 hits about as often as in real TrackML event
    1000 (3-16 % in |eta| bins below 3); at 0 the event is the one of the simulation without interactions."""
    plain = simulate_event(mu=60, seed=5, event_id=1)
    off = simulate_event(mu=60, seed=5, event_id=1, config=SimulationConfig(interaction_probability=0.0))
    np.testing.assert_array_equal(off.x, plain.x)
    np.testing.assert_array_equal(off.particle_id, plain.particle_id)
    stopped = simulate_event(mu=60, seed=5, event_id=1, config=SimulationConfig(interaction_probability=0.01))

    def along(event):  # {(particle, index along it): position} of the particles' hits
        index = event.meta["sim_truth"]["index"]
        signal = event.particle_id != 0
        keys = zip(event.particle_id[signal].tolist(), index[signal].tolist())
        return dict(zip(keys, zip(event.x[signal].tolist(), event.y[signal].tolist(), event.z[signal].tolist())))

    before, after = along(plain), along(stopped)
    assert set(after) < set(before) and all(after[k] == before[k] for k in after)
    # per particle: its hits 0 .. k-1 of the plain ones (a prefix: indices 0 .. k-1, k of them)
    hits_after = collections.Counter(pid for pid, _ in after)
    last_after = {pid: i for pid, i in sorted(after)}
    assert all(last_after[pid] + 1 == n for pid, n in hits_after.items())
    hits_before = collections.Counter(pid for pid, _ in before)
    shortened = [pid for pid, n in hits_before.items() if hits_after.get(pid, 0) < n]
    assert 0.02 * len(hits_before) < len(shortened) < 0.4 * len(hits_before)
    # realism: the share of pT > 1 GeV primaries with <= 6 hits
    short = total = 0
    for event_id in range(2):
        event = simulate_event(
            mu=100, seed=12, event_id=event_id, config=SimulationConfig(interaction_probability=0.01)
        )
        p = event.particles
        primary = (np.hypot(p.vx, p.vy) < 1) & (p.pt > 1) & (np.abs(p.eta) < 3) & (p.nhits >= 1)
        short += np.count_nonzero(primary & (p.nhits <= 6))
        total += np.count_nonzero(primary)
    assert 0.05 < short / total < 0.16
    with pytest.raises(ValueError, match="interaction_probability"):
        simulate_event(mu=1, config=SimulationConfig(interaction_probability=1.0))
    with pytest.raises(ValueError, match="module detector"):
        simulate_event(mu=1, config=SimulationConfig.for_detector("tiled", interaction_probability=0.01))
