"""Track efficiency, fake rate and duplicate rate with truth matching as ACTS does it.

Definitions (ACTS ``TrackTruthMatcher`` + ``TrackFinderPerformanceWriter`` defaults):

- **track**: the hits sharing one label ``>= 0`` in ``track_labels`` (``-1`` = on no track). Tracks
  with fewer than ``min_track_hits`` hits (default 3) are ignored: they count nowhere, neither as
  tracks, nor fakes, nor matches (the track builders drop them too, so this only guards odd inputs).
- **majority particle** of a track: the non-noise particle with the most hits on the track (ties go to
  the smaller particle id). Its *purity* is those hits / all the track's hits (noise hits included).
- **matched track**: purity > ``matching_fraction`` (0.5) and, with ``double_majority`` (default),
  the track also holds > ``matching_fraction`` of the particle's hits in the event. With single
  majority only the purity condition applies. A track matched to *any* particle (reconstructable or
  not) is matched, not fake; this is what ACTS does.
- **fake track**: a counted track that matches no particle.
- **duplicate track**: a matched track whose particle already has a matched track; a particle matched
  by k tracks gives k - 1 duplicates.
- **reconstructable particle**: not noise, pT > ``pt_min`` (default 1 GeV; ``None`` or <= 0 = no pT
  cut), at least ``min_particle_hits`` hits in the event (default 3), and |eta| < ``eta_max`` when set.
  A particle missing from the particle table has unknown pT and is reconstructable only without a pT
  cut.

Rates (per event, and over many events by summing the counts first, then dividing):

- efficiency = reconstructable particles with >= 1 matched track / reconstructable particles;
- fake rate = fake tracks / counted tracks (ACTS ``nFakeTracks / nAllTracks``);
- duplicate rate = duplicate tracks / counted tracks (ACTS ``nDuplicateTracks / nAllTracks``);
  ``duplicates_per_matched`` = duplicate tracks / matched tracks is given too.

A ratio with a zero denominator is NaN (undefined), never a made-up 0 or 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..arrays import as_numpy
from ..event import Event
from ._ratio import ratio

DEFAULT_PT_BINS: tuple[float, ...] = (
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.8,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
)
DEFAULT_ETA_BINS: tuple[float, ...] = tuple(np.round(np.linspace(-4.0, 4.0, 17), 6))
#: Transverse distance (mm) of a particle's production vertex from the beam line: prompt (< 1 mm), decays and
#: conversions near it, and particles produced in or beyond the first layers (the "large-radius tracking" of
#: ATLAS starts at a few hundred mm); the last bin holds anything beyond a 1 m tracker.
DEFAULT_VERTEX_R_BINS: tuple[float, ...] = (0.0, 1.0, 10.0, 50.0, 200.0, 400.0, 1000.0, 1.0e4)


@dataclass(frozen=True)
class TrackMatchConfig:
    """Cuts of the track matching; the defaults are ACTS's.

    Args:
        pt_min: reconstructable particles have pT > pt_min GeV (default 1.0; None or <= 0: no cut).
        min_particle_hits: reconstructable particles have at least this many hits (default 3).
        eta_max: reconstructable particles have |eta| < eta_max (default None: no cut).
        min_track_hits: tracks with fewer hits are ignored (default 3).
        double_majority: also require the track to hold > matching_fraction of the particle's hits
            (default True; False = single majority).
        matching_fraction: the majority threshold, strictly exceeded (default 0.5).
    """

    pt_min: float | None = 1.0
    min_particle_hits: int = 3
    eta_max: float | None = None
    min_track_hits: int = 3
    double_majority: bool = True
    matching_fraction: float = 0.5


@dataclass
class TrackMatching:
    """The matching of one event: per counted track and per truth particle (non-noise, with hits)."""

    event_id: int
    track_id: np.ndarray  # int64 [T], counted tracks only
    track_nhits: np.ndarray  # int64 [T]
    track_particle: np.ndarray  # int64 [T], majority particle (0 when the track has only noise)
    track_majority_nhits: np.ndarray  # int64 [T]
    track_matched: np.ndarray  # bool [T]
    track_duplicate: np.ndarray  # bool [T]
    particle_id: np.ndarray  # int64 [P]
    particle_nhits: np.ndarray  # int64 [P], hits in the event
    particle_pt: np.ndarray  # float64 [P], NaN when not in the particle table
    particle_eta: np.ndarray  # float64 [P]
    particle_vertex_r: np.ndarray  # float64 [P], production vertex distance from the beam line (mm), NaN if unknown
    particle_reconstructable: np.ndarray  # bool [P]
    particle_n_matched_tracks: np.ndarray  # int64 [P]
    particle_passes_all_but_pt: np.ndarray  # bool [P], for efficiency vs pT

    @property
    def particle_matched(self) -> np.ndarray:
        return self.particle_n_matched_tracks > 0

    def counts(self) -> dict[str, int]:
        """The counts the rates are built from."""
        return {
            "n_tracks": len(self.track_id),
            "n_matched_tracks": int(self.track_matched.sum()),
            "n_fake_tracks": int((~self.track_matched).sum()),
            "n_duplicate_tracks": int(self.track_duplicate.sum()),
            "n_reconstructable": int(self.particle_reconstructable.sum()),
            "n_reconstructed": int((self.particle_reconstructable & self.particle_matched).sum()),
            "n_particles": len(self.particle_id),
        }


def truth_and_labels(event: Event, track_labels: Any, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """(particle_id, track labels) of ``event`` as int64 numpy arrays of one length per hit;
    ``track_labels`` defaults to ``event.track_labels``. ValueError names ``caller`` and the event."""
    if event.particle_id is None:
        raise ValueError(f"{caller}: event {event.event_id} has no truth (particle_id)")
    labels = event.track_labels if track_labels is None else track_labels
    if labels is None:
        raise ValueError(f"{caller}: event {event.event_id} has no track_labels")
    pid = as_numpy(event.particle_id).astype(np.int64, copy=False)
    labels = as_numpy(labels).astype(np.int64, copy=False).reshape(-1)
    if len(labels) != len(pid):
        raise ValueError(
            f"{caller}: track_labels has {len(labels)} entries, event {event.event_id} has {len(pid)} hits"
        )
    return pid, labels


def particle_columns(event: Event, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, eta, production vertex r in mm) of each particle id; NaN where the id is not in the table."""
    columns = [np.full(len(pids), np.nan) for _ in range(3)]
    p = event.particles
    if p is not None:
        rows, found = p.lookup(pids)
        rows = rows[found]
        columns[0][found] = as_numpy(p.pt)[rows]
        columns[1][found] = as_numpy(p.eta)[rows]
        columns[2][found] = np.hypot(as_numpy(p.vx)[rows].astype(np.float64), as_numpy(p.vy)[rows].astype(np.float64))
    return columns[0], columns[1], columns[2]


def match_tracks(event: Event, track_labels: Any = None, config: TrackMatchConfig | None = None) -> TrackMatching:
    """Match the tracks of one event to its truth particles (see the module docstring).

    Args:
        event: needs ``particle_id`` per hit; ``particles`` for pT / eta (required when a pT cut is set).
        track_labels: int64 [N] track label per hit, -1 = no track (default: ``event.track_labels``).
        config: the cuts (default :class:`TrackMatchConfig`).
    """
    cfg = config or TrackMatchConfig()
    pid, labels = truth_and_labels(event, track_labels, "match_tracks")
    pt_cut = cfg.pt_min is not None and cfg.pt_min > 0
    if pt_cut and event.particles is None:
        raise ValueError(
            f"match_tracks: pt_min={cfg.pt_min} needs the particle table (event {event.event_id} has none); "
            "set pt_min to None for no pT cut"
        )

    # particles: every non-noise particle with hits in the event
    particle_ids, particle_nhits = np.unique(pid[pid != 0], return_counts=True)
    pt, eta, vertex_r = particle_columns(event, particle_ids)
    passes = particle_nhits >= cfg.min_particle_hits
    if cfg.eta_max is not None:
        passes &= np.abs(eta) < cfg.eta_max
    reconstructable = passes & (pt > cfg.pt_min) if pt_cut else passes.copy()

    # tracks: labels >= 0 with enough hits
    on_track = labels >= 0
    track_ids, track_nhits = np.unique(labels[on_track], return_counts=True)
    keep = track_nhits >= cfg.min_track_hits
    track_ids, track_nhits = track_ids[keep], track_nhits[keep]

    # majority particle per track: count (track, particle) pairs over non-noise hits
    sel = on_track & (pid != 0) & np.isin(labels, track_ids)
    pairs, pair_counts = np.unique(np.stack([labels[sel], pid[sel]]), axis=1, return_counts=True)
    # sort by track, then most hits first, then smallest particle id: the first row per track wins
    order = np.lexsort((pairs[1], -pair_counts, pairs[0]))
    pairs, pair_counts = pairs[:, order], pair_counts[order]
    first = np.ones(pairs.shape[1], dtype=bool)
    first[1:] = pairs[0, 1:] != pairs[0, :-1]
    maj_track, maj_pid, maj_n = pairs[0, first], pairs[1, first], pair_counts[first]

    track_particle = np.zeros(len(track_ids), dtype=np.int64)
    track_majority = np.zeros(len(track_ids), dtype=np.int64)
    pos = np.searchsorted(track_ids, maj_track)
    track_particle[pos] = maj_pid
    track_majority[pos] = maj_n

    matched = (track_majority > cfg.matching_fraction * track_nhits) & (track_particle != 0)
    if cfg.double_majority:
        ppos = np.clip(np.searchsorted(particle_ids, track_particle), 0, max(len(particle_ids) - 1, 0))
        p_nhits = particle_nhits[ppos] if len(particle_ids) else np.zeros(len(track_ids), dtype=np.int64)
        matched &= track_majority > cfg.matching_fraction * p_nhits

    # duplicates: every matched track of a particle beyond its first
    n_matched_per_particle = np.zeros(len(particle_ids), dtype=np.int64)
    duplicate = np.zeros(len(track_ids), dtype=bool)
    if matched.any():
        m_idx = np.flatnonzero(matched)
        m_pos = np.searchsorted(particle_ids, track_particle[m_idx])
        np.add.at(n_matched_per_particle, m_pos, 1)
        order = np.argsort(m_pos, kind="stable")
        sorted_pos = m_pos[order]
        repeat = np.zeros(len(order), dtype=bool)
        repeat[1:] = sorted_pos[1:] == sorted_pos[:-1]
        duplicate[m_idx[order[repeat]]] = True

    return TrackMatching(
        event_id=event.event_id,
        track_id=track_ids.astype(np.int64),
        track_nhits=track_nhits.astype(np.int64),
        track_particle=track_particle,
        track_majority_nhits=track_majority,
        track_matched=matched,
        track_duplicate=duplicate,
        particle_id=particle_ids.astype(np.int64),
        particle_nhits=particle_nhits.astype(np.int64),
        particle_pt=pt,
        particle_eta=eta,
        particle_vertex_r=vertex_r,
        particle_reconstructable=reconstructable,
        particle_n_matched_tracks=n_matched_per_particle,
        particle_passes_all_but_pt=passes,
    )


@dataclass
class BinnedEfficiency:
    """Matched / total reconstructable particles per bin (for efficiency plots)."""

    edges: np.ndarray
    matched: np.ndarray = None  # type: ignore[assignment]  # filled by __post_init__
    total: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.float64)
        if self.matched is None:
            self.matched = np.zeros(len(self.edges) - 1, dtype=np.int64)
        if self.total is None:
            self.total = np.zeros(len(self.edges) - 1, dtype=np.int64)

    def fill(self, values: np.ndarray, is_matched: np.ndarray) -> None:
        finite = np.isfinite(values)
        self.total += np.histogram(values[finite], bins=self.edges)[0]
        self.matched += np.histogram(values[finite & is_matched], bins=self.edges)[0]

    @property
    def efficiency(self) -> np.ndarray:
        """Per-bin efficiency, NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, self.matched / np.maximum(self.total, 1), np.nan)

    def to_dict(self) -> dict[str, list]:
        return {
            "edges": self.edges.tolist(),
            "matched": self.matched.tolist(),
            "total": self.total.tolist(),
            "efficiency": [None if np.isnan(e) else float(e) for e in self.efficiency],
        }


class TrackMetrics:
    """Accumulates track matching over events: counts are summed, then rates are taken.

    Efficiency vs pT is filled with the particles that pass every cut except pT (so the turn-on below
    ``pt_min`` shows); efficiency vs eta and vs the production vertex's distance from the beam line (mm:
    prompt particles and displaced ones apart) with the reconstructable particles.

    Example::

        metrics = TrackMetrics(TrackMatchConfig(pt_min=1.0))
        for event in events:
            metrics.add(event)          # event.track_labels, or metrics.add(event, labels)
        summary = metrics.result()
    """

    def __init__(
        self,
        config: TrackMatchConfig | None = None,
        pt_bins: tuple[float, ...] | np.ndarray = DEFAULT_PT_BINS,
        eta_bins: tuple[float, ...] | np.ndarray = DEFAULT_ETA_BINS,
        vertex_r_bins: tuple[float, ...] | np.ndarray = DEFAULT_VERTEX_R_BINS,
    ) -> None:
        self.config = config or TrackMatchConfig()
        self.counts: dict[str, int] = {
            "n_tracks": 0,
            "n_matched_tracks": 0,
            "n_fake_tracks": 0,
            "n_duplicate_tracks": 0,
            "n_reconstructable": 0,
            "n_reconstructed": 0,
            "n_particles": 0,
        }
        self.n_events = 0
        self.vs_pt = BinnedEfficiency(np.asarray(pt_bins))
        self.vs_eta = BinnedEfficiency(np.asarray(eta_bins))
        self.vs_vertex_r = BinnedEfficiency(np.asarray(vertex_r_bins))

    def add(self, event: Event, track_labels: Any = None) -> TrackMatching:
        """Match one event and add it; returns that event's matching."""
        matching = match_tracks(event, track_labels, self.config)
        self.add_matching(matching)
        return matching

    def add_matching(self, matching: TrackMatching) -> None:
        """Add an event already matched with :func:`match_tracks` (same config)."""
        for key, value in matching.counts().items():
            self.counts[key] += value
        self.n_events += 1
        found = matching.particle_matched
        all_but_pt = matching.particle_passes_all_but_pt
        self.vs_pt.fill(matching.particle_pt[all_but_pt], found[all_but_pt])
        rec = matching.particle_reconstructable
        self.vs_eta.fill(matching.particle_eta[rec], found[rec])
        self.vs_vertex_r.fill(matching.particle_vertex_r[rec], found[rec])

    def result(self) -> dict[str, Any]:
        """Efficiency, fake rate, duplicate rate, the counts and the binned efficiencies."""
        c = self.counts
        return {
            "efficiency": ratio(c["n_reconstructed"], c["n_reconstructable"]),
            "fake_rate": ratio(c["n_fake_tracks"], c["n_tracks"]),
            "duplicate_rate": ratio(c["n_duplicate_tracks"], c["n_tracks"]),
            "duplicates_per_matched": ratio(c["n_duplicate_tracks"], c["n_matched_tracks"]),
            **c,
            "n_events": self.n_events,
            "config": asdict(self.config),
            "efficiency_vs_pt": self.vs_pt.to_dict(),
            "efficiency_vs_eta": self.vs_eta.to_dict(),
            "efficiency_vs_vertex_r": self.vs_vertex_r.to_dict(),
        }


def track_metrics(event: Event, track_labels: Any = None, config: TrackMatchConfig | None = None) -> dict[str, Any]:
    """Efficiency, fake rate, duplicate rate and counts of one event (see :class:`TrackMetrics`)."""
    metrics = TrackMetrics(config)
    metrics.add(event, track_labels)
    return metrics.result()
