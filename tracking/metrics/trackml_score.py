"""The TrackML challenge score, as the TrackML library computes it.

Reference: the TrackML library (https://github.com/LAL/trackml-library), ``trackml/score.py``
(``_analyze_tracks``, ``score_event``) and ``trackml/weights.py`` (``weight_hits_phase1``). This is a
vectorised re-implementation of the same definitions:

Score of one event. Every hit carries a weight ``w`` (the truth ``weight`` column). For every track

- its *majority particle* is the particle (noise, id 0, included) with the most of the track's hits,
  ties going to the smaller particle id (the library walks hits sorted by particle id and replaces the
  majority only on a strictly larger count);
- the track is *good* when majority hits / track hits > 0.5 AND majority hits / the particle's hits in
  the event > 0.5;
- score = sum over good tracks of the weights of their majority-particle hits / sum of all weights.

Unassigned hits (label -1) each form a one-hit track of their own, which is how a TrackML submission
that must label every hit encodes "no track".

Per-hit weights, when the truth has no ``weight`` column (``weight_hits_phase1``):

- pT weight: piecewise linear in the particle's pT, 0.2 from 0.05 to 0.5 GeV, rising to 1 at 3 GeV,
  1 above, 0 below 0.05 GeV; 0 for noise and for hits of particles missing from the particle table;
- order weight: the particle's hits are ranked by |z_hit - vz| (average rank for ties, minus one,
  truncated); with ``nhits`` the particle's hit count (capped at 20), the weight is
  ``ORDER_MATRIX[nhits, ihit]``: the proposal (10, 8, 6, 5, 3, 3, 3, 5, 6) stretched over the
  particle's hits by linear interpolation and normalised to sum 1, so the first and last hits weigh
  most; particles with < 4 hits (and hits ranked 20 or later) weigh 0;
- weight = pT weight x order weight, normalised so that the event's weights sum to 1;
- ``phase=2`` (``weight_hits_phase2``) also gives 0 to hits of secondary particles (generation != 0).
  The weights released with the TrackML data follow phase 2: on ``event000000001`` of
  ``../shared/data/trackml`` our phase-2 weights, ranked by the true ``tz``, equal the truth file's
  ``weight`` column up to the event normalisation (tested).

Differences from the library, both forced by what an :class:`Event` holds: the rank uses the measured
hit ``z`` (the library uses the true ``tz``), and ``nhits`` is the particle's number of hits in the
event (the library reads the particle table's ``nhits``, which equals it for TrackML files).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..arrays import as_numpy
from ..event import Event
from .tracks import truth_and_labels

ORDER_PROPOSAL: tuple[float, ...] = (10.0, 8.0, 6.0, 5.0, 3.0, 3.0, 3.0, 5.0, 6.0)
ORDER_MIN_HITS = 4
ORDER_MAX_HITS = 20


def _order_weight_matrix(proposal=ORDER_PROPOSAL, min_hits=ORDER_MIN_HITS, max_hits=ORDER_MAX_HITS) -> np.ndarray:
    """[max_hits + 1, max_hits]: row ``nhits`` holds the weights of hits 0..nhits-1 (sum 1)."""
    w = np.zeros((max_hits + 1, max_hits))
    proposal = np.asarray(proposal, dtype=np.float64)
    for nhits in range(min_hits, max_hits + 1):
        supports = np.arange(len(proposal)) * (nhits - 1) / (len(proposal) - 1)
        row = np.interp(np.arange(nhits), supports, proposal)
        w[nhits, :nhits] = row / row.sum()
    return w


ORDER_MATRIX = _order_weight_matrix()


def pt_weight(pt: Any, pt_inf: float = 0.5, pt_sup: float = 3.0, w_min: float = 0.2, w_max: float = 1.0) -> np.ndarray:
    """The TrackML transverse-momentum weight (``trackml.weights.weight_pt``)."""
    xp = [min(0.05, pt_inf), pt_inf, pt_sup]
    return np.interp(np.asarray(pt, dtype=np.float64), xp, [w_min, w_min, w_max], left=0.0, right=w_max)


def order_weight(ihit: Any, nhits: Any) -> np.ndarray:
    """The TrackML hit-order weight (``trackml.weights.weight_order``), vectorised."""
    ihit = np.asarray(ihit, dtype=np.int64)
    nhits = np.asarray(nhits, dtype=np.int64)
    if np.any(ihit < 0) or np.any((ihit >= nhits) & (nhits >= ORDER_MIN_HITS)):
        raise ValueError("order_weight: hit index outside 0..nhits-1")
    capped = np.minimum(nhits, ORDER_MAX_HITS)
    ok = (nhits >= ORDER_MIN_HITS) & (ihit < ORDER_MAX_HITS)
    out = np.zeros(np.broadcast(ihit, nhits).shape)
    out[ok] = ORDER_MATRIX[capped[ok], ihit[ok]]
    return out


def particle_generation(particle_id: Any, id_layout: str = "trackml") -> np.ndarray:
    """The generation field of particle ids: 0 = primary.

    ``id_layout="trackml"``: TrackML ids (``trackml.utils.decode_particle_id``: bits 24-35);
    ``"acts"``: ACTS barcodes as packed by :mod:`tracking.io.barcode`.
    """
    u = np.asarray(particle_id, dtype=np.int64).view(np.uint64)
    if id_layout == "trackml":
        return ((u & np.uint64(0x0000000FFF000000)) >> np.uint64(24)).astype(np.int64)
    if id_layout == "acts":
        from ..io.barcode import decode_barcode

        return decode_barcode(particle_id)["generation"].astype(np.int64)
    raise ValueError(f"id_layout must be 'trackml' or 'acts', got {id_layout!r}")


def trackml_weights(event: Event, *, phase: int = 1, id_layout: str = "trackml") -> np.ndarray:
    """float64 [N]: TrackML hit weights computed from the event's truth (module docstring).

    ``phase=1`` is ``weight_hits_phase1``; ``phase=2`` (``weight_hits_phase2``) also zeroes the hits of
    secondary particles (generation != 0, decoded with ``id_layout``). The weights released with the
    TrackML data follow phase 2. They sum to 1 unless no hit can carry weight (then all zero).
    """
    if phase not in (1, 2):
        raise ValueError(f"trackml_weights: phase must be 1 or 2, got {phase!r}")
    if event.particle_id is None:
        raise ValueError(f"trackml_weights: event {event.event_id} has no truth (particle_id)")
    pid = as_numpy(event.particle_id).astype(np.int64, copy=False)
    z = as_numpy(event.z).astype(np.float64)
    n = len(pid)
    w_pt = np.zeros(n)
    vz = np.full(n, np.nan)
    if event.particles is not None:
        p = event.particles.numpy()
        rows, found = p.lookup(pid)
        found &= pid != 0
        w_pt[found] = pt_weight(p.pt[rows[found]].astype(np.float64))
        vz[found] = p.vz[rows[found]]
    frame = pd.DataFrame({"pid": pid, "adz": np.abs(z - np.nan_to_num(vz))})
    nhits = frame.groupby("pid")["adz"].transform("size").to_numpy().astype(np.int64)
    nhits[pid == 0] = 0
    ihit = (frame.groupby("pid")["adz"].rank().to_numpy() - 1.0).astype(np.int64)
    w = w_pt * order_weight(ihit, nhits)
    if phase == 2:
        w[particle_generation(pid, id_layout) != 0] = 0.0
    total = w.sum()
    return w / total if total > 0 else w


def trackml_score(
    event: Event,
    track_labels: Any = None,
    weights: Any = None,
) -> float:
    """TrackML score of one event, in [0, 1] (module docstring); NaN when every weight is zero.

    Args:
        event: needs ``particle_id`` per hit (and ``particles`` when weights are computed).
        track_labels: int64 [N], -1 = no track (default: ``event.track_labels``).
        weights: per-hit weights, e.g. the TrackML truth ``weight`` column (default:
            ``event.meta["weight"]`` when a reader put it there, else :func:`trackml_weights`).
    """
    pid, labels = truth_and_labels(event, track_labels, "trackml_score")
    n = len(pid)
    if weights is None:
        weights = event.meta.get("weight") if event.meta else None
    w = trackml_weights(event) if weights is None else as_numpy(weights).astype(np.float64).reshape(-1)
    if len(w) != n:
        raise ValueError(f"trackml_score: weights has {len(w)} entries, event {event.event_id} has {n} hits")
    total = w.sum()
    if n == 0 or total == 0:
        return float("nan")

    # each unassigned hit is its own track, with ids beyond every real label
    track = labels.copy()
    unassigned = track < 0
    base = (track.max() + 1) if (~unassigned).any() else 0
    track[unassigned] = base + np.arange(unassigned.sum())

    _, particle_of_hit, particle_nhits = np.unique(pid, return_inverse=True, return_counts=True)
    _key_track, track_of_hit, track_nhits = np.unique(track, return_inverse=True, return_counts=True)
    pair_key = track_of_hit.astype(np.int64) * np.int64(len(particle_nhits)) + particle_of_hit
    pairs, pair_of_hit, pair_n = np.unique(pair_key, return_inverse=True, return_counts=True)
    pair_w = np.bincount(pair_of_hit, weights=w, minlength=len(pairs))
    pair_track = pairs // len(particle_nhits)
    pair_particle = pairs % len(particle_nhits)  # index into sorted unique pids: order = pid order

    order = np.lexsort((pair_particle, -pair_n, pair_track))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_track[order][1:] != pair_track[order][:-1]
    maj = order[first]
    good = (pair_n[maj] > 0.5 * track_nhits[pair_track[maj]]) & (pair_n[maj] > 0.5 * particle_nhits[pair_particle[maj]])
    return float(pair_w[maj][good].sum() / total)
