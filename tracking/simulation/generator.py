"""Event generation: pileup vertices, particles, propagation, digitisation, noise.

A deliberately simple fast simulation (no secondaries, no energy loss, no clusters) whose hit
occupancies per layer match a real TrackML mu = 200 event within a few tens of percent (see
tests/simulation/test_realism.py). Every random number comes from one ``numpy.random.Generator``
seeded from ``(seed, event_id)``, so the same arguments always give the same event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from ..event import Event, Particles
from ..io.barcode import encode_barcode
from .geometry import BARREL, Detector, trackml_detector

PION_MASS = 0.13957039  # GeV
PION_PDG = 211

# Inverse CDF of primary-particle pT in GeV, read off the particles of TrackML event 1000 that come
# from the beam line (r_vertex < 1 mm): (cumulative fraction, pT). Interpolated in log pT.
PT_QUANTILES = np.array(
    [
        (0.0, 0.100),
        (0.01, 0.110),
        (0.05, 0.142),
        (0.10, 0.179),
        (0.25, 0.271),
        (0.50, 0.454),
        (0.75, 0.745),
        (0.90, 1.243),
        (0.95, 1.709),
        (0.99, 3.146),
        (0.999, 8.355),
    ]
)
PT_TAIL_INDEX = 3.0  # power law above the last quantile: P(pT > x) ~ x^-3
#: Transverse distance (mm) of the production vertex of displaced particles (decays in flight, interactions
#: in the material) from the beam line: (cumulative probability, r) of the pT > 1 GeV particles of TrackML
#: event 1000 produced more than 1 mm from it (8.5 % of its pT > 1 GeV particles with >= 3 hits).
DISPLACEMENT_QUANTILES = np.array(
    [
        (0.0, 1.0),
        (0.05, 2.9),
        (0.10, 6.8),
        (0.25, 19.9),
        (0.50, 59.4),
        (0.75, 205.5),
        (0.90, 344.7),
        (0.95, 467.0),
        (1.0, 1000.0),
    ]
)
#: The angle between a displaced particle's direction and its vertex's direction from the beam line (the
#: direction its parent flew): |dphi| has a median of 0.05 in TrackML event 1000 (pT > 1 GeV), a Gaussian of
#: this width in phi and in eta.
SECONDARY_ANGLE_SIGMA = 0.075
#: Displaced particles are central (material interactions in the barrel layers dominate): their flight
#: directions are flat in |eta| < 2.2, which puts 80 % of them in -1.76 < eta < 1.76 (TrackML event 1000, pT > 1
#: GeV: -1.75 and 2.12 are the 10 % and 90 % quantiles).
SECONDARY_ETA_MAX = 2.2
#: Bumped when the same (mu, seed, event, config) gives other events: part of the training graph-cache key.
#: 2: displaced particles (``secondary_fraction``).
SIMULATION_VERSION = 2
#: The detectors :class:`SimulationConfig` can simulate.
DETECTORS = ("tiled", "trackml")
#: Settings that make each detector's events look like real TrackML ones (see :meth:`SimulationConfig.for_detector`).
#: Real TrackML (event 1000, event 1 truth): noise is 15 % of all hits, uniform per module (0.176 of the
#: particle hits); the primary vertices spread along z by ~55 mm in sample event 1 (pT > 1 GeV particles) and by
#: ~8 mm in event 1000: the wider spread covers both (maps and models trained on the narrow one lose the
#: segments of event 1's displaced vertices). These are the defaults of :class:`SimulationConfig`.
#: The tiled detector keeps the values the pipelines of trackpipe <= 0.1 were fitted on.
DETECTOR_SETTINGS: dict[str, dict[str, object]] = {
    "tiled": {"noise_fraction": 0.10, "vertex_sigma_z": 55.0, "secondary_fraction": 0.0},
    "trackml": {"noise_fraction": 0.176, "vertex_sigma_z": 55.0, "secondary_fraction": 0.095},
}


@dataclass(frozen=True)
class SimulationConfig:
    """Physics and detector knobs of :func:`simulate_event` (defaults: TrackML-like, mu = 200 -> ~100k hits).

    Args:
        particles_per_vertex: mean number of charged primaries per pileup vertex in ``|eta| < eta_max``
            (TrackML event 1000 has ~43 per vertex from the beam line).
        eta_max: primaries are flat in eta within ``|eta| < eta_max``.
        pt_min: lower pT cut in GeV (the spectrum starts at 0.1 GeV).
        vertex_sigma_z, vertex_sigma_xy: Gaussian beam spot, mm.
        bz: solenoid field, tesla.
        pixel_x_over_x0, strip_x_over_x0: material per layer at normal incidence.
        hit_efficiency: probability that a module crossing gives a measurement.
        noise_fraction: noise hits as a fraction of particle hits (Poisson-distributed count), spread
            uniformly over modules like TrackML's (whose ~15% noise makes up half of the long-strip
            barrel hits): 0.176 of the particle hits as in TrackML event 1000.
        max_turn: transverse turning (radians) after which a particle is no longer followed
            (pi: loopers stop after their outgoing half-turn).
        secondary_fraction: displaced particles (decay products, interaction secondaries; barcode
            generation 1) per primary of pT > ``secondary_pt_min``, with that pT spectrum: 0.095 makes 8.5 %
            of the pT > 1 GeV particles with >= 3 hits displaced (> 1 mm), as in TrackML event 1000. Their
            vertices lie along a random flight direction at the transverse distances of
            :data:`DISPLACEMENT_QUANTILES`, and they fly within :data:`SECONDARY_ANGLE_SIGMA` of it.
        secondary_pt_min: GeV; softer displaced particles are not simulated.
        interaction_probability: probability that a particle interacts in a layer it crosses (at normal
            incidence; times the path length through the layer, 1 / |cos| of the incidence angle, at most
            5) and leaves no hit on the layers after it (hadronic interactions: real pT > 1 GeV primaries of
            TrackML event 1000 leave <= 6 hits at 3-16 % in |eta| bins of 0.5 below 3, trackpipe's simulation
            without them 0 %; ``trackpipe bench --only realism`` compares). 0 (default): off, and the events are those
            of the simulation without it. Module detector (``"trackml"``) only.
        detector: ``"trackml"`` (default): the real TrackML modules one by one (:mod:`.modules`: real ids,
            tilts, staggering and overlaps, each module's pitch), so that simulated and real TrackML events
            share one numbering; ``"tiled"``: the layers of :mod:`.geometry` tiled with trackpipe's own
            module grid and numbering (what the pipelines of trackpipe <= 0.1 were fitted on; use
            ``SimulationConfig.for_detector("tiled")`` for its settings).
    """

    particles_per_vertex: float = 43.0
    eta_max: float = 4.0
    pt_min: float = 0.1
    vertex_sigma_z: float = 55.0
    vertex_sigma_xy: float = 0.015
    bz: float = 2.0
    pixel_x_over_x0: float = 0.02
    strip_x_over_x0: float = 0.03
    hit_efficiency: float = 0.98
    noise_fraction: float = 0.176
    max_turn: float = np.pi
    detector: Literal["tiled", "trackml"] = "trackml"
    secondary_fraction: float = 0.095
    secondary_pt_min: float = 0.5
    interaction_probability: float = 0.0

    @classmethod
    def for_detector(cls, detector: str, **overrides: object) -> SimulationConfig:
        """The realistic settings for ``detector`` (:data:`DETECTOR_SETTINGS`), then ``overrides`` (one whose
        value is None keeps the detector's setting: no field takes None)."""
        if detector not in DETECTORS:
            raise ValueError(f"unknown simulation detector {detector!r}; expected one of {', '.join(DETECTORS)}")
        given = {key: value for key, value in overrides.items() if value is not None}
        return cls(**{"detector": detector, **DETECTOR_SETTINGS[detector], **given})  # type: ignore[arg-type]

    def validate(self) -> None:
        """Raise ValueError naming the first field out of range."""
        checks = {
            "particles_per_vertex": self.particles_per_vertex >= 0,
            "eta_max": self.eta_max > 0,
            "pt_min": self.pt_min > 0,
            "vertex_sigma_z": self.vertex_sigma_z >= 0,
            "vertex_sigma_xy": self.vertex_sigma_xy >= 0,
            "bz": self.bz != 0,
            "pixel_x_over_x0": self.pixel_x_over_x0 > 0,
            "strip_x_over_x0": self.strip_x_over_x0 > 0,
            "hit_efficiency": 0 <= self.hit_efficiency <= 1,
            "noise_fraction": self.noise_fraction >= 0,
            "max_turn": self.max_turn > 0,
            "secondary_fraction": self.secondary_fraction >= 0,
            "secondary_pt_min": self.secondary_pt_min > 0,
            "interaction_probability": 0 <= self.interaction_probability < 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SimulationConfig.{name} = {getattr(self, name)!r} is out of range")
        if self.detector not in DETECTORS:
            raise ValueError(f"SimulationConfig.detector = {self.detector!r}; expected one of {', '.join(DETECTORS)}")
        if self.interaction_probability > 0 and self.detector != "trackml":
            raise ValueError("SimulationConfig.interaction_probability needs the module detector ('trackml')")


@lru_cache(maxsize=8)
def _detector_tables(pixel_x_over_x0: float, strip_x_over_x0: float):
    detector = trackml_detector(pixel_x_over_x0, strip_x_over_x0)
    return detector, detector.surface_arrays(), detector.module_rows(), detector.surface_pitches()


def detector_for(config: SimulationConfig) -> Detector:
    """The detector a configuration simulates."""
    return _detector_tables(config.pixel_x_over_x0, config.strip_x_over_x0)[0]


def sample_pt(rng: np.random.Generator, n: int, pt_min: float = 0.1) -> np.ndarray:
    """Draw ``n`` pT values (GeV) from the TrackML-like spectrum, restricted to ``pT >= pt_min``."""
    u_lo = float(np.interp(np.log(pt_min), np.log(PT_QUANTILES[:, 1]), PT_QUANTILES[:, 0], left=0.0, right=1.0))
    last_u, last_pt = PT_QUANTILES[-1]
    if pt_min > last_pt:
        u_lo = 1.0 - (1.0 - last_u) * (pt_min / last_pt) ** -PT_TAIL_INDEX
    u = u_lo + (1.0 - u_lo) * rng.random(n)
    pt = np.exp(np.interp(u, PT_QUANTILES[:, 0], np.log(PT_QUANTILES[:, 1])))
    tail = u > last_u
    pt[tail] = last_pt * ((1.0 - last_u) / (1.0 - u[tail])) ** (1.0 / PT_TAIL_INDEX)
    return np.maximum(pt, pt_min)


def _event_rng(seed: int, event_id: int, stream: int = 0) -> np.random.Generator:
    """The event's generator; ``stream`` > 0: an independent one of the same event (hadronic interactions)."""
    if seed < 0 or event_id < 0:
        raise ValueError(f"seed and event_id must be >= 0, got seed={seed}, event_id={event_id}")
    key = [int(seed), int(event_id)] + ([int(stream)] if stream else [])
    return np.random.default_rng(np.random.SeedSequence(key))


def _generate_particles(rng: np.random.Generator, mu: float, config: SimulationConfig) -> dict[str, np.ndarray]:
    n_vertices = int(rng.poisson(mu)) if mu > 0 else 0
    if n_vertices > 4094:
        raise ValueError(f"mu = {mu} gives {n_vertices} vertices; barcodes hold at most 4094")
    vertex_z = rng.normal(0.0, config.vertex_sigma_z, n_vertices)
    vertex_x = rng.normal(0.0, config.vertex_sigma_xy, n_vertices)
    vertex_y = rng.normal(0.0, config.vertex_sigma_xy, n_vertices)
    per_vertex = rng.poisson(config.particles_per_vertex, n_vertices)
    n = int(per_vertex.sum())
    vertex = np.repeat(np.arange(n_vertices), per_vertex)
    pt = sample_pt(rng, n, config.pt_min)
    eta = rng.uniform(-config.eta_max, config.eta_max, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    q = np.where(rng.random(n) < 0.5, -1, 1).astype(np.int32)
    gen = {
        "vertex_primary": vertex + 1,
        "vertex_secondary": np.zeros(n, np.int64),
        "generation": np.zeros(n, np.int64),
        "vx": vertex_x[vertex],
        "vy": vertex_y[vertex],
        "vz": vertex_z[vertex],
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "q": q,
    }
    n_sec = 0
    if config.secondary_fraction > 0 and n_vertices:
        n_sec = int(rng.poisson(config.secondary_fraction * np.count_nonzero(pt > config.secondary_pt_min)))
    if n_sec:
        gen = {name: np.concatenate([gen[name], part]) for name, part in _secondaries(rng, n_sec, config,
               vertex_x, vertex_y, vertex_z).items()}  # fmt: skip
    # 1-based particle number within its (primary, secondary) vertex (barcode "particle" field).
    key = gen["vertex_primary"] * 2 + gen["vertex_secondary"]
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key)
    starts = np.cumsum(counts) - counts
    number = np.empty(len(key), np.int64)
    number[order] = np.arange(len(key)) - starts[key[order]] + 1
    gen["particle"] = number
    gen["px"] = gen["pt"] * np.cos(gen["phi"])
    gen["py"] = gen["pt"] * np.sin(gen["phi"])
    gen["pz"] = gen["pt"] * np.sinh(gen["eta"])
    return gen


def _secondaries(rng, n, config, vertex_x, vertex_y, vertex_z) -> dict[str, np.ndarray]:
    """``n`` displaced particles: each from a random primary vertex, at a transverse distance drawn from
    :data:`DISPLACEMENT_QUANTILES` along a random flight direction, flying close to that direction."""
    parent = rng.integers(0, len(vertex_z), n)
    u = rng.random(n)
    distance = np.exp(np.interp(u, DISPLACEMENT_QUANTILES[:, 0], np.log(DISPLACEMENT_QUANTILES[:, 1])))
    flight_eta = rng.uniform(-SECONDARY_ETA_MAX, SECONDARY_ETA_MAX, n)
    flight_phi = rng.uniform(-np.pi, np.pi, n)
    pt = sample_pt(rng, n, config.secondary_pt_min)
    eta = flight_eta + rng.normal(0.0, SECONDARY_ANGLE_SIGMA, n)
    phi = (flight_phi + rng.normal(0.0, SECONDARY_ANGLE_SIGMA, n) + np.pi) % (2 * np.pi) - np.pi
    q = np.where(rng.random(n) < 0.5, -1, 1).astype(np.int32)
    return {
        "vertex_primary": parent + 1,
        "vertex_secondary": np.ones(n, np.int64),
        "generation": np.ones(n, np.int64),
        "vx": vertex_x[parent] + distance * np.cos(flight_phi),
        "vy": vertex_y[parent] + distance * np.sin(flight_phi),
        "vz": vertex_z[parent] + distance * np.sinh(flight_eta),
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "q": q,
    }


def _digitise(local: np.ndarray, half: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Centre of the readout cell containing ``local`` (cells of ``pitch`` from ``-half``)."""
    cell = np.floor((local + half) / pitch)
    cell = np.clip(cell, 0, np.maximum(np.ceil(2 * half / pitch) - 1, 0))
    return -half + (cell + 0.5) * pitch


def _measured_positions(rows, surfaces, pitches, surface, row, iphi, u, v):
    """Global position of the digitised measurement (cell centre) on its module."""
    pitch_u, pitch_v = pitches[0][surface], pitches[1][surface]
    u_d = _digitise(u, rows["hu_max"][row], pitch_u)
    v_d = _digitise(v, rows["hv"][row], pitch_v)
    phi_c = 2 * np.pi * (iphi + 0.5) / rows["n_phi"][row] - np.pi
    barrel = surfaces["kind"][surface] == BARREL
    radius = surfaces["a"][surface]
    centre = rows["centre"][row]
    phi_b = phi_c + u_d / np.where(barrel, radius, 1.0)
    r_d = centre + v_d
    x = np.where(barrel, radius * np.cos(phi_b), r_d * np.cos(phi_c) - u_d * np.sin(phi_c))
    y = np.where(barrel, radius * np.sin(phi_b), r_d * np.sin(phi_c) + u_d * np.cos(phi_c))
    z = np.where(barrel, centre + v_d, surfaces["a"][surface])
    return x, y, z


def _noise(rng, n_noise, rows, surfaces):
    """Uniformly random modules and positions within them: (surface, row, iphi, u, v)."""
    n_rows = len(rows["n_phi"])
    weights = rows["n_phi"] / rows["n_phi"].sum()
    row = rng.choice(n_rows, size=n_noise, p=weights)
    surface = np.searchsorted(rows["row_start"], row, side="right") - 1
    iphi = (rng.random(n_noise) * rows["n_phi"][row]).astype(np.int64)
    v = (rng.random(n_noise) * 2 - 1) * rows["hv"][row]
    hv = rows["hv"][row]
    half_u = rows["hu_min"][row] + (rows["hu_max"][row] - rows["hu_min"][row]) * (v + hv) / (2 * hv)
    u = (rng.random(n_noise) * 2 - 1) * half_u
    return surface, row, iphi, u, v


def _propagate(rng, gen, config, surfaces, x_over_x0):
    from .propagate import propagate_particles

    n_surfaces = len(surfaces["kind"])
    kicks = rng.standard_normal((len(gen["pt"]), n_surfaces, 2))
    _, c_particle, c_surface, c_pos, c_mom, c_delta, c_index = propagate_particles(
        gen["vx"], gen["vy"], gen["vz"], gen["px"], gen["py"], gen["pz"], gen["q"], PION_MASS,
        surfaces["kind"], surfaces["a"], surfaces["lo"], surfaces["hi"], x_over_x0,
        float(config.bz), kicks, float(config.max_turn),
    )  # fmt: skip
    return c_particle, c_surface, c_pos, c_mom, c_delta, c_index


def _hits_on_tiled_layers(rng, gen, config) -> dict:
    """Hits on the tiled layers of :mod:`.geometry`: per-hit arrays, noise last (``particle`` = -1)."""
    from .propagate import find_modules

    _, surfaces, rows, pitches = _detector_tables(config.pixel_x_over_x0, config.strip_x_over_x0)
    c_particle, c_surface, c_pos, c_mom, c_delta, c_index = _propagate(
        rng, gen, config, surfaces, surfaces["x_over_x0"]
    )
    cross, row, iphi, module_id, u, v = find_modules(
        c_surface, c_pos[:, 0], c_pos[:, 1], c_pos[:, 2], surfaces["kind"], rows["row_start"],
        rows["centre"], rows["n_phi"], rows["hu_min"], rows["hu_max"], rows["hv"], rows["id0"], rows["reach"],
    )  # fmt: skip
    keep = rng.random(len(cross)) < config.hit_efficiency
    cross, row, iphi, module_id, u, v = cross[keep], row[keep], iphi[keep], module_id[keep], u[keep], v[keep]
    surface = c_surface[cross]

    n_noise = int(rng.poisson(config.noise_fraction * len(cross))) if len(cross) else 0
    n_surface, n_row, n_iphi, n_u, n_v = _noise(rng, n_noise, rows, surfaces)
    n_module = rows["id0"][n_row] + n_iphi + 1

    surface = np.concatenate([surface, n_surface])
    row = np.concatenate([row, n_row])
    iphi = np.concatenate([iphi, n_iphi])
    module_id = np.concatenate([module_id, n_module])
    x, y, z = _measured_positions(
        rows, surfaces, pitches, surface, row, iphi, np.concatenate([u, n_u]), np.concatenate([v, n_v])
    )
    truth = {
        "true_x": np.concatenate([c_pos[cross, 0], x[len(cross) :]]),
        "true_y": np.concatenate([c_pos[cross, 1], y[len(cross) :]]),
        "true_z": np.concatenate([c_pos[cross, 2], z[len(cross) :]]),
        "true_t": np.concatenate([c_pos[cross, 3], np.zeros(n_noise)]),
        "true_px": np.concatenate([c_mom[cross, 0], np.zeros(n_noise)]),
        "true_py": np.concatenate([c_mom[cross, 1], np.zeros(n_noise)]),
        "true_pz": np.concatenate([c_mom[cross, 2], np.zeros(n_noise)]),
        "delta_px": np.concatenate([c_delta[cross, 0], np.zeros(n_noise)]),
        "delta_py": np.concatenate([c_delta[cross, 1], np.zeros(n_noise)]),
        "delta_pz": np.concatenate([c_delta[cross, 2], np.zeros(n_noise)]),
        "index": np.concatenate([c_index[cross], np.full(n_noise, -1, np.int64)]),
    }
    return {
        "particle": np.concatenate([c_particle[cross], np.full(n_noise, -1, np.int64)]),
        "x": x,
        "y": y,
        "z": z,
        "volume_id": surfaces["volume_id"][surface],
        "layer_id": surfaces["layer_id"][surface],
        "module_id": module_id,
        "truth": truth,
    }


def _module_positions(detector, module, u, v):
    """Global position of the readout cell centre containing local ``(u, v)`` on each ``module``."""
    u_d = _digitise(u, detector["half_u_max"][module], detector["pitch_u"][module])
    v_d = _digitise(v, detector["half_v"][module], detector["pitch_v"][module])
    rot = detector["rotation"][module]
    xyz = detector["centre"][module] + u_d[:, None] * rot[:, :, 0] + v_d[:, None] * rot[:, :, 1]
    return xyz[:, 0], xyz[:, 1], xyz[:, 2]


def _after_interaction(rng, c_particle, c_surface, c_pos, c_mom, kind, config) -> np.ndarray:
    """bool per layer crossing: the particle interacted in an earlier layer (crossings in order along each
    particle). The interaction probability grows with the path through the layer (1 / |cos| of the
    incidence angle against the layer's normal, at most 5)."""
    from .propagate import BARREL

    barrel = kind[c_surface] == BARREL
    r = np.hypot(c_pos[:, 0], c_pos[:, 1])
    normal_p = np.where(
        barrel, (c_pos[:, 0] * c_mom[:, 0] + c_pos[:, 1] * c_mom[:, 1]) / np.maximum(r, 1e-9), c_mom[:, 2]
    )
    p = np.linalg.norm(c_mom[:, :3], axis=1)
    path = np.minimum(p / np.maximum(np.abs(normal_p), 1e-9), 5.0)
    interacts = rng.random(len(c_particle)) < config.interaction_probability * path
    # interactions of the particle strictly before each crossing
    total = np.cumsum(interacts)
    start = np.searchsorted(c_particle, c_particle, side="left")
    before = total - interacts - np.where(start > 0, total[start - 1], 0)
    return before > 0


def _hits_on_real_modules(rng, gen, config, detector, rng_interactions) -> dict:
    """Hits on the real TrackML modules: per-hit arrays as :func:`_hits_on_tiled_layers` gives them.
    ``rng_interactions``: the generator of the interactions (its own, so that the other draws, and with
    ``interaction_probability`` 0 the whole event, stay those of the simulation without them)."""
    from .propagate import hits_on_modules

    surfaces = {name: detector[name] for name in ("kind", "a", "lo", "hi")}
    x_over_x0 = detector.x_over_x0(config.pixel_x_over_x0, config.strip_x_over_x0)
    c_particle, c_surface, c_pos, c_mom, c_delta, _ = _propagate(rng, gen, config, surfaces, x_over_x0)
    d = detector
    cross, module, f = hits_on_modules(
        c_surface, c_pos, c_mom, gen["q"][c_particle], PION_MASS, float(config.bz), d["kind"], d["band_lo"],
        d["band_hi"], d["n_phi"], d["n_c"], d["c_lo"], d["c_step"], d["cell_offset"], d["cell_start"],
        d["cell_modules"], d["centre"], d["rotation"], d["half_u_min"], d["half_u_max"], d["half_v"],
    )  # fmt: skip
    keep = rng.random(len(cross)) < config.hit_efficiency
    if config.interaction_probability > 0:
        keep &= ~_after_interaction(rng_interactions, c_particle, c_surface, c_pos, c_mom, d["kind"], config)[cross]
    cross, module, f = cross[keep], module[keep], f[keep]
    # The kernel gives hits along each particle (crossings in order, overlaps by turning angle).
    particle = c_particle[cross]
    first = np.searchsorted(particle, particle, side="left") if len(particle) else particle
    index = np.arange(len(particle)) - first
    # The scattering kick of a layer belongs to the last hit the particle leaves on it.
    last_of_crossing = np.ones(len(cross), bool)
    last_of_crossing[:-1] = cross[1:] != cross[:-1]
    delta = np.where(last_of_crossing[:, None], c_delta[cross], 0.0)

    n_signal = len(cross)
    n_noise = int(rng.poisson(config.noise_fraction * n_signal)) if n_signal else 0
    n_module = rng.integers(0, detector.num_modules, n_noise)
    hv = detector["half_v"][n_module]
    n_v = (rng.random(n_noise) * 2 - 1) * hv
    half_u = detector["half_u_min"][n_module] + (
        detector["half_u_max"][n_module] - detector["half_u_min"][n_module]
    ) * (n_v + hv) / (2 * hv)
    n_u = (rng.random(n_noise) * 2 - 1) * half_u
    all_module = np.concatenate([module, n_module])
    x, y, z = _module_positions(detector, all_module, np.concatenate([f[:, 0], n_u]), np.concatenate([f[:, 1], n_v]))
    zeros = np.zeros(n_noise)
    truth = {
        "true_x": np.concatenate([f[:, 2], x[n_signal:]]),
        "true_y": np.concatenate([f[:, 3], y[n_signal:]]),
        "true_z": np.concatenate([f[:, 4], z[n_signal:]]),
        "true_t": np.concatenate([f[:, 5], zeros]),
        "true_px": np.concatenate([f[:, 6], zeros]),
        "true_py": np.concatenate([f[:, 7], zeros]),
        "true_pz": np.concatenate([f[:, 8], zeros]),
        "delta_px": np.concatenate([delta[:, 0], zeros]),
        "delta_py": np.concatenate([delta[:, 1], zeros]),
        "delta_pz": np.concatenate([delta[:, 2], zeros]),
        "index": np.concatenate([index, np.full(n_noise, -1, np.int64)]),
    }
    return {
        "particle": np.concatenate([particle, np.full(n_noise, -1, np.int64)]),
        "x": x,
        "y": y,
        "z": z,
        "volume_id": detector["volume_id"][all_module].astype(np.int32),
        "layer_id": detector["layer_id"][all_module].astype(np.int32),
        "module_id": detector["module_id"][all_module].astype(np.int32),
        "truth": truth,
    }


def simulate_event(mu: float = 200, seed: int = 0, event_id: int = 0, config: SimulationConfig | None = None) -> Event:
    """Simulate one TrackML-like event with ``Poisson(mu)`` pileup vertices.

    Returns an :class:`~tracking.Event` (numpy arrays) with hits sorted by (volume, layer, module),
    ``hit_id = 0..N-1`` in that order, measured (digitised) ``x, y, z``, per-hit ``particle_id``
    (ACTS barcode packed by :func:`tracking.io.barcode.encode_barcode`; 0 = noise) and the
    :class:`~tracking.Particles` table (every generated particle, also those with no hit).
    ``event.meta["sim_truth"]`` holds per-hit truth aligned with the hits (true position and time,
    momentum before the crossing and its change, index along the particle; noise: measured position,
    zero momentum, index -1) and ``event.meta["sim_particles"]`` the particles' ``px, py, pz``,
    ``particle_type`` and ``mass``. The same ``(mu, seed, event_id, config)`` gives the same event.
    """
    # The numba kernels (the `sim` extra) load inside the helpers, not at import: the pipeline uses this
    # package's geometry without numba.
    config = config or SimulationConfig()
    config.validate()
    if not np.isfinite(mu) or mu < 0:
        raise ValueError(f"mu must be a finite number >= 0, got {mu!r}")
    rng = _event_rng(seed, event_id)
    gen = _generate_particles(rng, mu, config)
    if config.detector == "trackml":
        from .modules import trackml_module_detector

        detector = trackml_module_detector()
        hits = _hits_on_real_modules(rng, gen, config, detector, _event_rng(seed, event_id, stream=1))
    else:
        hits = _hits_on_tiled_layers(rng, gen, config)
    n_particles = len(gen["pt"])
    particle_index, truth = hits["particle"], hits["truth"]
    x, y, z = hits["x"], hits["y"], hits["z"]
    volume_id, layer_id, module_id = hits["volume_id"], hits["layer_id"], hits["module_id"]
    barcode = encode_barcode(gen["vertex_primary"], gen["vertex_secondary"], gen["particle"], gen["generation"], 0)
    signal = particle_index >= 0
    particle_of_hit = np.where(signal, barcode[np.maximum(particle_index, 0)], 0).astype(np.int64)
    # Shuffle before the stable sort so that noise is not recognisable by its place in a module.
    shuffle = rng.permutation(len(x))
    order = shuffle[np.lexsort((module_id[shuffle], layer_id[shuffle], volume_id[shuffle]))]

    p_total = gen["pt"] * np.cosh(gen["eta"])
    nhits = np.bincount(particle_index[signal], minlength=n_particles).astype(np.int32)
    particles = Particles(
        particle_id=barcode,
        pt=gen["pt"].astype(np.float32),
        eta=gen["eta"].astype(np.float32),
        phi=gen["phi"].astype(np.float32),
        vx=gen["vx"].astype(np.float32),
        vy=gen["vy"].astype(np.float32),
        vz=gen["vz"].astype(np.float32),
        q=gen["q"].astype(np.int32),
        nhits=nhits,
    )
    meta = {
        "source": "trackpipe simulation",
        "mu": float(mu),
        "seed": int(seed),
        "detector": config.detector,
        "sim_truth": {name: values[order] for name, values in truth.items()},
        "sim_particles": {
            "px": gen["px"],
            "py": gen["py"],
            "pz": gen["pz"],
            "energy": np.sqrt(p_total**2 + PION_MASS**2),
            "particle_type": (PION_PDG * gen["q"]).astype(np.int32),
            "mass": np.full(n_particles, PION_MASS),
        },
    }
    return Event(
        event_id=event_id,
        hit_id=np.arange(len(order), dtype=np.int64),
        x=x[order].astype(np.float32),
        y=y[order].astype(np.float32),
        z=z[order].astype(np.float32),
        volume_id=volume_id[order].astype(np.int32),
        layer_id=layer_id[order].astype(np.int32),
        module_id=module_id[order].astype(np.int32),
        particle_id=particle_of_hit[order],
        particles=particles,
        meta=meta,
    )


def simulate_events(n: int, mu: float = 200, seed: int = 0, first_event: int = 0,
                    config: SimulationConfig | None = None) -> Iterator[Event]:  # fmt: skip
    """Yield ``n`` events; event ``i`` is ``simulate_event(mu, seed, first_event + i, config)``.

    Each event's random stream is seeded from ``(seed, event_id)``, so any event can be regenerated
    on its own and runs with different ``n`` agree on the events they share.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    for i in range(n):
        yield simulate_event(mu, seed, first_event + i, config)
