"""The detector description: built in, saved and loaded, and fitted from events of two toy detectors (a 2 T
barrel of cylinders and a field-free forward detector of planes along z, built here analytically)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracking.detector import BUILTIN, BUILTIN_NUMBERING, DetectorDescription, fit_description, load_description
from tracking.errors import ConfigError, DataError
from tracking.event import Event, Particles

BARREL_RADII = (32.0, 72.0, 116.0, 172.0, 260.0, 360.0, 500.0, 660.0, 820.0, 1020.0)
VELO_PLANES = tuple(float(z) for z in range(-275, 776, 25))


def _event(event_id, x, y, z, layer, module, pid, particles, volume: int, beam=(0.0, 0.0)) -> Event:
    n = len(x)
    table = {k: np.asarray(v) for k, v in particles.items()}
    return Event(
        event_id=event_id,
        hit_id=np.arange(1, n + 1, dtype=np.int64),
        x=np.asarray(x, np.float32),
        y=np.asarray(y, np.float32),
        z=np.asarray(z, np.float32),
        volume_id=np.full(n, volume, np.int32),
        layer_id=np.asarray(layer, np.int32),
        module_id=np.asarray(module, np.int32),
        particle_id=np.asarray(pid, np.int64),
        particles=Particles(
            particle_id=table["particle_id"].astype(np.int64),
            pt=table["pt"].astype(np.float32),
            eta=table["eta"].astype(np.float32),
            phi=table["phi"].astype(np.float32),
            vx=np.full(len(table["pt"]), beam[0], np.float32),
            vy=np.full(len(table["pt"]), beam[1], np.float32),
            vz=table["vz"].astype(np.float32),
            q=table["q"].astype(np.int32),
            nhits=table["nhits"].astype(np.int32),
        ),
    )


def barrel_event(seed: int, n_particles: int = 300, field: float = 2.0, sigma: float = 0.02) -> Event:
    """Helices from the beam line (vertex z spread 50 mm) through cylinders at BARREL_RADII, |z| < 1000 mm."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(0.3, 5.0, n_particles)
    phi0 = rng.uniform(-math.pi, math.pi, n_particles)
    eta = rng.uniform(-1.2, 1.2, n_particles)
    vz = rng.normal(0.0, 50.0, n_particles)
    q = rng.choice([-1, 1], n_particles)
    radius = pt / (0.299792458 * field) * 1000.0  # mm
    cols: dict[str, list] = {k: [] for k in ("x", "y", "z", "layer", "module", "pid")}
    nhits = np.zeros(n_particles, int)
    for layer, rho in enumerate(BARREL_RADII):
        ok = rho < 2 * radius
        half_turn = np.arcsin(np.clip(rho / (2 * radius), -1, 1))
        phi = phi0 - q * half_turn
        z = vz + 2 * radius * half_turn * np.sinh(eta)
        ok &= np.abs(z) < 1000
        idx = np.flatnonzero(ok)
        phi = phi[idx] + rng.normal(0, sigma / rho, len(idx))
        cols["x"].append(rho * np.cos(phi))
        cols["y"].append(rho * np.sin(phi))
        cols["z"].append(z[idx] + rng.normal(0, sigma, len(idx)))
        cols["layer"].append(np.full(len(idx), 2 * layer + 2))
        cols["module"].append(1 + np.floor((phi + math.pi) / (2 * math.pi) * 16).astype(int) % 16)
        cols["pid"].append(idx + 1)
        nhits[idx] += 1
    particles = {"particle_id": np.arange(1, n_particles + 1), "pt": pt, "eta": eta, "phi": phi0, "vz": vz}
    particles |= {"q": q, "nhits": nhits}
    c = {k: np.concatenate(v) for k, v in cols.items()}
    return _event(seed, c["x"], c["y"], c["z"], c["layer"], c["module"], c["pid"], particles, volume=100)


# mm: the beam runs 12 mm off the detector's z axis (a forward detector not centred on the beam, like the
# LHCb VELO halves when open): the radius from the axis no longer grows along a track, the distance does
VELO_BEAM = (12.0, -0.3)


def velo_event(seed: int, n_particles: int = 200, sigma: float = 0.012) -> Event:
    """Straight tracks (no field) at small angles, forward and backward, from a beam off the z axis through
    planes along z (5 < r < 45 mm)."""
    rng = np.random.default_rng(seed)
    eta = rng.uniform(2.0, 5.0, n_particles) * rng.choice([-1, 1], n_particles, p=[0.3, 0.7])
    phi0 = rng.uniform(-math.pi, math.pi, n_particles)
    vz = rng.normal(0.0, 40.0, n_particles)
    p = rng.uniform(2.0, 20.0, n_particles)
    pt = p / np.cosh(eta)
    tan_theta = 1.0 / np.sinh(np.abs(eta))
    cols: dict[str, list] = {k: [] for k in ("x", "y", "z", "layer", "module", "pid")}
    nhits = np.zeros(n_particles, int)
    for layer, zp in enumerate(VELO_PLANES):
        dz = zp - vz
        r = np.abs(dz) * tan_theta
        ok = (np.sign(dz) == np.sign(eta)) & (r > 5) & (r < 45)
        idx = np.flatnonzero(ok)
        x = VELO_BEAM[0] + r[idx] * np.cos(phi0[idx]) + rng.normal(0, sigma, len(idx))
        y = VELO_BEAM[1] + r[idx] * np.sin(phi0[idx]) + rng.normal(0, sigma, len(idx))
        cols["x"].append(x)
        cols["y"].append(y)
        cols["z"].append(np.full(len(idx), zp))
        cols["layer"].append(np.full(len(idx), layer + 1))
        cols["module"].append(1 + (np.arctan2(y, x) > 0).astype(int))
        cols["pid"].append(idx + 1)
        nhits[idx] += 1
    particles = {"particle_id": np.arange(1, n_particles + 1), "pt": pt, "eta": eta, "phi": phi0, "vz": vz}
    particles |= {"q": rng.choice([-1, 1], n_particles), "nhits": nhits}
    c = {k: np.concatenate(v) for k, v in cols.items()}
    return _event(seed, c["x"], c["y"], c["z"], c["layer"], c["module"], c["pid"], particles, volume=1, beam=VELO_BEAM)


def test_builtin_is_todays_constants():
    from tracking.nn import features as F

    assert BUILTIN.field_tesla == 2.0 and BUILTIN.track_start == "radius" and BUILTIN.numbering == BUILTIN_NUMBERING
    assert (BUILTIN.r_scale, BUILTIN.z_scale, BUILTIN.eta_scale) == (F.R_SCALE, F.Z_SCALE, F.ETA_SCALE)
    assert BUILTIN.triplet_kappa_scale == F.TRIPLET_KAPPA_SCALE
    assert BUILTIN.triplet_theta_scale == F.TRIPLET_THETA_SCALE
    assert load_description(None) is BUILTIN and load_description("builtin") is BUILTIN


def test_save_load_round_trip(tmp_path):
    d = DetectorDescription(name="velo", field_tesla=0.0, r_scale=45.5, track_start="distance", numbering="ids-x")
    path = d.save(tmp_path / "detector.yaml")
    assert DetectorDescription.load(path) == d
    assert DetectorDescription.from_dict(d.to_dict()) == d
    assert d.key() != BUILTIN.key() and BUILTIN.key() == DetectorDescription().key()


def test_bad_descriptions_are_named_errors(tmp_path):
    with pytest.raises(ConfigError, match="track_start"):
        DetectorDescription.from_dict({"track_start": "radius_"})
    with pytest.raises(ConfigError, match="r_scale"):
        DetectorDescription.from_dict({"r_scale": -1})
    with pytest.raises(ConfigError, match="unknown key 'feild_tesla'.*field_tesla"):
        DetectorDescription.from_dict({"feild_tesla": 2})
    with pytest.raises(DataError, match="not found"):
        DetectorDescription.load(tmp_path / "missing.yaml")


def test_fit_barrel_recovers_field_and_radius_start():
    d = fit_description((barrel_event(seed) for seed in range(3)), name="barrel")
    assert d.name == "barrel" and d.events == 3
    assert d.field_tesla == pytest.approx(2.0, rel=0.03)
    assert d.track_start == "radius"
    assert 800 < d.r_scale <= 1020 and 500 < d.z_scale <= 1000
    assert d.numbering.startswith("ids-")  # hand-made ids, not the built-in numbering
    assert d.hits_per_particle_median is not None and d.hits_per_particle_median >= 6
    # the scales make a typical true segment O(1) and triplet agreement tight
    assert 0.05 < d.curvature_scale < 5 and d.triplet_kappa_scale < 0.2 and d.triplet_theta_scale < 0.01


def test_fit_field_is_given_or_taken_as_stated():
    d = fit_description([barrel_event(0, field=3.8)])
    assert d.field_tesla == pytest.approx(3.8, rel=0.03)
    assert fit_description([barrel_event(0)], field_tesla=1.0).field_tesla == 1.0


def test_fit_straight_forward_tracks_give_no_field_and_distance_start():
    d = fit_description(velo_event(seed) for seed in range(3))
    assert d.field_tesla == 0.0 and d.straight
    assert d.track_start == "distance"
    assert d.beam_spot[:2] == pytest.approx(VELO_BEAM, abs=0.02) and abs(d.beam_spot[2]) < 10
    assert 30 < d.r_scale < 60 and 500 < d.z_scale < 800
    assert d.numbering != fit_description([barrel_event(0)]).numbering


def test_fit_without_truth_needs_the_field():
    ev = velo_event(0)
    bare = ev.replace(particle_id=None, particles=None)
    with pytest.raises(ValueError, match="field_tesla"):
        fit_description([bare])
    d = fit_description([bare], field_tesla=0.0)
    assert d.straight and d.track_start == "radius" and d.hits_per_particle_median is None
