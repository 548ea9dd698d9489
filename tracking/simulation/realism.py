"""Realism of the simulation against real TrackML events: the tables of ``trackpipe bench --only realism``.

Compared with the real event 1000 (all 120,939 hits of a mu = 200 TrackML event, and its particles'
``nhits``) and the sample of event 1 (hits with truth):
- hits per volume and per (volume, layer);
- the fraction of truth segments (consecutive hits of a particle, :func:`tracking.truth.truth_segments`)
  that join two hits on the same layer, i.e. pass through two overlapping modules;
- hits per particle with pT > 1 GeV (from the beam line, with at least one hit) in bins of |eta|, and the
  share of those particles with at most :data:`SHORT_HITS` hits (particles that stop early: hadronic
  interactions, which the simulation has only with ``interaction_probability``).

Ratios are simulated / real; :data:`TOLERANCE` is the agreement the simulation is held to (issue 15).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..event import Event
from .generator import SimulationConfig, simulate_event

TOLERANCE = 0.25
REAL_FULL_EVENT = "event000001000"
REAL_TRUTH_EVENT = 1
ETA_EDGES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
PT_MIN = 1.0
# A particle "from the beam line" starts within this transverse distance of it (mm): the hits-per-particle
# table compares primaries only (both have displaced particles too).
PRIMARY_R_MAX = 1.0
SHORT_HITS = 6


@dataclass
class RealismTables:
    """``volumes``, ``layers``: hits sim vs real; ``overlaps``: same-layer segment fractions;
    ``hits_per_particle``: mean hits per pT > 1 GeV primary in |eta| bins (sim, real event 1000, real event 1),
    and the share with <= SHORT_HITS hits (sim, real event 1000)."""

    volumes: pd.DataFrame
    layers: pd.DataFrame
    overlaps: pd.DataFrame
    hits_per_particle: pd.DataFrame
    n_sim_events: int

    def format(self) -> str:
        parts = [
            f"hits per volume (simulated mean of {self.n_sim_events} event(s) at mu = 200 vs real {REAL_FULL_EVENT})",
            self.volumes.to_string(float_format=lambda v: f"{v:.3f}"),
            "",
            "hits per layer",
            self.layers.to_string(float_format=lambda v: f"{v:.3f}"),
            "",
            f"same-layer (overlap) truth segments (real: event {REAL_TRUTH_EVENT} truth)",
            self.overlaps.to_string(float_format=lambda v: f"{v:.3f}"),
            "",
            f"hits per particle, pT > {PT_MIN} GeV, vertex r < {PRIMARY_R_MAX} mm, >= 1 hit",
            self.hits_per_particle.to_string(float_format=lambda v: f"{v:.2f}"),
        ]
        return "\n".join(parts)


def _count_table(sim: pd.Series, real: pd.Series) -> pd.DataFrame:
    table = pd.DataFrame({"sim": sim, "real": real}).fillna(0.0)
    table["ratio"] = table.sim / table.real.where(table.real > 0)
    table["ok"] = (table.ratio - 1.0).abs() <= TOLERANCE
    return table


def same_layer_fraction(event: Event) -> tuple[float, int]:
    """Fraction of the event's truth segments whose two hits share (volume, layer), and the segment count."""
    from ..truth import truth_segments

    segments = truth_segments(event)
    if segments.shape[1] == 0:
        return float("nan"), 0
    volume, layer = np.asarray(event.volume_id), np.asarray(event.layer_id)
    same = (volume[segments[0]] == volume[segments[1]]) & (layer[segments[0]] == layer[segments[1]])
    return float(same.mean()), int(segments.shape[1])


def _hits_per_particle(pt, eta, r_vertex, nhits, short: bool = False) -> pd.Series:
    """Mean hits per chosen particle in |eta| bins (``short``: the share with <= SHORT_HITS hits)."""
    chosen = (pt > PT_MIN) & (r_vertex < PRIMARY_R_MAX) & (nhits > 0)
    bins = pd.cut(np.abs(eta[chosen]), ETA_EDGES, right=False)
    values = (nhits[chosen] <= SHORT_HITS).astype(np.float64) if short else nhits[chosen]
    return pd.Series(values).groupby(bins, observed=False).mean()


def _eta(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    return np.arcsinh(pz / np.hypot(px, py))


def realism_tables(
    trackml_dir: str | Path, n_events: int = 1, seed: int = 1, config: SimulationConfig | None = None
) -> RealismTables:
    """Simulate ``n_events`` at mu = 200 and compare them with the real TrackML files in ``trackml_dir``
    (``event000001000-hits/particles``, ``event000000001-*``); ``config`` defaults to
    ``SimulationConfig.for_detector("trackml")``."""
    from ..io.trackml_csv import read_trackml_csv

    trackml_dir = Path(trackml_dir)
    config = config or SimulationConfig.for_detector("trackml")
    hits_path = trackml_dir / f"{REAL_FULL_EVENT}-hits.csv.gz"
    particles_path = trackml_dir / f"{REAL_FULL_EVENT}-particles.csv.gz"
    for path in (hits_path, particles_path):
        if not path.is_file():
            raise FileNotFoundError(f"real TrackML file {path} is missing (see ../shared/data/README.md)")
    real_hits = pd.read_csv(hits_path, usecols=["volume_id", "layer_id"])
    real_particles = pd.read_csv(particles_path)
    truth_event = next(iter(read_trackml_csv(trackml_dir, events=[REAL_TRUTH_EVENT], truth=True)))

    sim_events = [simulate_event(mu=200, seed=seed, event_id=i, config=config) for i in range(n_events)]
    sim_hits = pd.concat(pd.DataFrame({"volume_id": e.volume_id, "layer_id": e.layer_id}) for e in sim_events)
    volumes = _count_table(
        sim_hits.groupby("volume_id").size() / n_events, real_hits.groupby("volume_id").size().astype(float)
    )
    layers = _count_table(
        sim_hits.groupby(["volume_id", "layer_id"]).size() / n_events,
        real_hits.groupby(["volume_id", "layer_id"]).size().astype(float),
    )

    fractions = [same_layer_fraction(e) for e in sim_events]
    sim_fraction = float(np.average([f for f, _ in fractions], weights=[n for _, n in fractions]))
    real_fraction, real_segments = same_layer_fraction(truth_event)
    overlaps = pd.DataFrame(
        {
            "sim": [sim_fraction],
            "real": [real_fraction],
            "ratio": [sim_fraction / real_fraction],
            "sim_segments": [sum(n for _, n in fractions)],
            "real_segments": [real_segments],
        },
        index=pd.Index(["same-layer fraction"]),
    )
    overlaps["ok"] = (overlaps.ratio - 1.0).abs() <= TOLERANCE

    sim_p = [e.particles.numpy() for e in sim_events if e.particles is not None]
    sim = {
        name: np.concatenate([np.asarray(getattr(p, name), np.float64) for p in sim_p])
        for name in ("pt", "eta", "vx", "vy", "nhits")
    }
    rp = {name: real_particles[name].to_numpy(np.float64) for name in ("px", "py", "pz", "vx", "vy", "nhits")}
    real_pt = np.hypot(rp["px"], rp["py"])
    real_eta = _eta(rp["px"], rp["py"], rp["pz"])
    real_r = np.hypot(rp["vx"], rp["vy"])
    # Event 1 is a sample: count each particle's hits in its truth, not the particles table's nhits.
    if truth_event.particles is None or truth_event.particle_id is None:
        raise ValueError(f"{trackml_dir}: event {REAL_TRUTH_EVENT} has no truth or particles")
    t = truth_event.particles.numpy()
    truth_counts = pd.Series(np.asarray(truth_event.particle_id)).value_counts()
    t_nhits = truth_counts.reindex(np.asarray(t.particle_id)).fillna(0).to_numpy(np.float64)
    real_column = f"real {REAL_FULL_EVENT}"
    hits_per_particle = pd.DataFrame(
        {
            "sim": _hits_per_particle(sim["pt"], sim["eta"], np.hypot(sim["vx"], sim["vy"]), sim["nhits"]),
            real_column: _hits_per_particle(real_pt, real_eta, real_r, rp["nhits"]),
            f"real event {REAL_TRUTH_EVENT}": _hits_per_particle(
                np.asarray(t.pt), np.asarray(t.eta), np.hypot(t.vx, t.vy), t_nhits
            ),
        }
    )
    hits_per_particle["ratio"] = hits_per_particle["sim"] / hits_per_particle[real_column]
    sim_r = np.hypot(sim["vx"], sim["vy"])
    hits_per_particle[f"sim <= {SHORT_HITS}"] = _hits_per_particle(sim["pt"], sim["eta"], sim_r, sim["nhits"], True)
    hits_per_particle[f"real <= {SHORT_HITS}"] = _hits_per_particle(real_pt, real_eta, real_r, rp["nhits"], True)
    chosen = (real_pt > PT_MIN) & (real_r < PRIMARY_R_MAX) & (rp["nhits"] > 0)
    bins = pd.cut(np.abs(real_eta[chosen]), ETA_EDGES, right=False)
    hits_per_particle["n_real"] = pd.Series(np.ones(int(chosen.sum()))).groupby(bins, observed=False).sum()
    return RealismTables(volumes, layers, overlaps, hits_per_particle, n_events)


if __name__ == "__main__":
    import sys

    print(realism_tables(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/trackml").format())
