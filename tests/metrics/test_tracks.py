"""Track matching: hand-computed cases, degenerate inputs and a brute-force oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracking.metrics import TrackMatchConfig, TrackMetrics, match_tracks, track_metrics

from ._events import make_event

# p1: hits 0-3 (pt 2), p2: 4-7 (pt 2), p3: 8-10 (pt 0.5), p4: 11-12 (pt 5, 2 hits), noise: 13-14
PIDS = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 0, 0]
PARTICLES = {1: (2.0, 0.1), 2: (2.0, -1.0), 3: (0.5, 2.0), 4: (5.0, 0.0)}
# T0 = p1 x3 + noise; T1 = p1 + p2 x2; T2 = p2 x2 + p3; T3 = p3 x2 + p4; T4 = p4 + noise (2 hits)
LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 0, 4]


def hand_event(**kw):
    return make_event(PIDS, particles=PARTICLES, track_labels=LABELS, **kw)


def test_double_majority_hand_computed():
    m = track_metrics(hand_event())
    # counted: T0..T3 (T4 has 2 hits); matched T0 (p1 3/4, 3/4) and T3 (p3 2/3, 2/3);
    # T1 and T2 hold 2 of p2's 4 hits (not > 50%) -> fake. Reconstructable: p1, p2 -> only p1 found.
    assert (m["n_tracks"], m["n_matched_tracks"], m["n_fake_tracks"], m["n_duplicate_tracks"]) == (4, 2, 2, 0)
    assert (m["n_reconstructable"], m["n_reconstructed"]) == (2, 1)
    assert m["efficiency"] == 0.5
    assert m["fake_rate"] == 0.5
    assert m["duplicate_rate"] == 0.0


def test_single_majority_hand_computed():
    m = track_metrics(hand_event(), config=TrackMatchConfig(double_majority=False))
    # every counted track matches its majority particle; T2 is p2's second track -> duplicate
    assert (m["n_tracks"], m["n_matched_tracks"], m["n_fake_tracks"], m["n_duplicate_tracks"]) == (4, 4, 0, 1)
    assert m["efficiency"] == 1.0
    assert m["fake_rate"] == 0.0
    assert m["duplicate_rate"] == 0.25
    assert m["duplicates_per_matched"] == 0.25


def test_matching_details():
    mt = match_tracks(hand_event())
    assert mt.track_id.tolist() == [0, 1, 2, 3]
    assert mt.track_particle.tolist() == [1, 2, 2, 3]
    assert mt.track_majority_nhits.tolist() == [3, 2, 2, 2]
    assert mt.particle_id.tolist() == [1, 2, 3, 4]
    assert mt.particle_reconstructable.tolist() == [True, True, False, False]
    assert mt.particle_n_matched_tracks.tolist() == [1, 0, 1, 0]


def test_pt_and_hit_cuts_are_configurable():
    # no pT cut: p1, p2, p3 reconstructable (p4 has 2 hits); p1 and p3 found
    m = track_metrics(hand_event(), config=TrackMatchConfig(pt_min=None))
    assert (m["n_reconstructable"], m["n_reconstructed"]) == (3, 2)
    # min 2 hits: p4 becomes reconstructable (pT 5) but has no matched track
    m = track_metrics(hand_event(), config=TrackMatchConfig(min_particle_hits=2))
    assert (m["n_reconstructable"], m["n_reconstructed"]) == (3, 1)
    # counting 2-hit tracks: T4 (p4 1 + noise 1) has purity 1/2 -> fake
    m = track_metrics(hand_event(), config=TrackMatchConfig(min_track_hits=2))
    assert (m["n_tracks"], m["n_fake_tracks"]) == (5, 3)
    # eta cut drops p2 (eta -1)
    m = track_metrics(hand_event(), config=TrackMatchConfig(eta_max=0.5))
    assert (m["n_reconstructable"], m["n_reconstructed"]) == (1, 1)


def test_noise_counts_against_purity():
    # track = p1 x2 + noise x2: purity 2/4 is not > 50% -> fake
    ev = make_event([1, 1, 0, 0, 1], particles={1: (3.0, 0.0)}, track_labels=[0, 0, 0, 0, -1])
    m = track_metrics(ev)
    assert (m["n_tracks"], m["n_fake_tracks"], m["n_reconstructed"]) == (1, 1, 0)


def test_truth_tracks_are_perfect():
    ev = hand_event()
    labels = np.where(ev.particle_id > 0, ev.particle_id, -1)
    m = track_metrics(ev, labels, TrackMatchConfig(pt_min=None, min_particle_hits=2, min_track_hits=2))
    assert m["efficiency"] == 1.0 and m["fake_rate"] == 0.0 and m["duplicate_rate"] == 0.0


def test_no_tracks_and_empty_event():
    ev = make_event(PIDS, particles=PARTICLES, track_labels=[-1] * len(PIDS))
    m = track_metrics(ev)
    assert m["n_tracks"] == 0 and m["efficiency"] == 0.0 and math.isnan(m["fake_rate"])
    empty = make_event([], particles={}, track_labels=[])
    m = track_metrics(empty)
    assert m["n_tracks"] == 0 and m["n_reconstructable"] == 0
    assert math.isnan(m["efficiency"]) and math.isnan(m["fake_rate"])


def test_errors_name_the_problem():
    ev = make_event(PIDS, track_labels=LABELS)  # no particle table
    with pytest.raises(ValueError, match="pt_min"):
        match_tracks(ev)
    assert match_tracks(ev, config=TrackMatchConfig(pt_min=None)).counts()["n_reconstructable"] == 3
    with pytest.raises(ValueError, match="track_labels has 2 entries"):
        match_tracks(hand_event(), np.array([0, 1]))
    with pytest.raises(ValueError, match="no track_labels"):
        match_tracks(make_event(PIDS, particles=PARTICLES))


def test_accumulator_sums_counts_then_divides():
    acc = TrackMetrics()
    acc.add(hand_event(event_id=1))
    labels = np.where(np.asarray(PIDS) > 0, np.asarray(PIDS), -1)
    acc.add(hand_event(event_id=2), labels)  # truth tracks: 4 tracks (p4 has 2 hits -> dropped) = 3 counted
    r = acc.result()
    assert r["n_events"] == 2
    assert r["n_tracks"] == 4 + 3
    assert r["n_fake_tracks"] == 2
    assert r["efficiency"] == (1 + 2) / (2 + 2)
    assert r["fake_rate"] == 2 / 7
    # binned: vs eta holds reconstructable particles (p1 eta 0.1, p2 eta -1.0), twice
    assert sum(r["efficiency_vs_eta"]["total"]) == 4 and sum(r["efficiency_vs_eta"]["matched"]) == 3
    # vs pT holds particles passing all cuts but pT: p1, p2, p3 (pT 0.5) per event
    assert sum(r["efficiency_vs_pt"]["total"]) == 6


def test_efficiency_by_production_radius():
    """Reconstructable particles binned by their vertex's distance from the beam line; the summary groups them."""
    from tracking.metrics.evaluation import format_summary, vertex_r_summary

    acc = TrackMetrics()
    acc.add(hand_event(vr={1: 0.3, 2: 350.0, 3: 20.0}))  # p1 found, p2 not; p3 (pT 0.5) is no target
    r = acc.result()
    binned = r["efficiency_vs_vertex_r"]
    assert binned["edges"][:2] == [0.0, 1.0]
    assert binned["total"] == [1, 0, 0, 0, 1, 0, 0] and binned["matched"] == [1, 0, 0, 0, 0, 0, 0]
    assert vertex_r_summary(r) == "prompt (< 1 mm) 100.00 % of 1, >= 200 mm 0.00 % of 1"
    assert "  by production vertex r    prompt (< 1 mm) 100.00 % of 1" in format_summary(r)
    # no particle table: no vertex, nothing binned, no row
    empty = TrackMetrics(TrackMatchConfig(pt_min=None))
    empty.add(make_event(PIDS, track_labels=LABELS))
    assert sum(empty.result()["efficiency_vs_vertex_r"]["total"]) == 0
    assert vertex_r_summary(empty.result()) is None


def _brute_force(pid, labels, pt, cfg: TrackMatchConfig):
    """Loop reference of the module docstring's definitions."""
    pid = list(map(int, pid))
    labels = list(map(int, labels))
    nhits = {}
    for p in pid:
        if p:
            nhits[p] = nhits.get(p, 0) + 1
    tracks = {}
    for h, t in enumerate(labels):
        if t >= 0:
            tracks.setdefault(t, []).append(h)
    n_tracks = matched = fake = dup = 0
    matched_particles: dict[int, int] = {}
    for t in sorted(tracks):
        hits = tracks[t]
        if len(hits) < cfg.min_track_hits:
            continue
        n_tracks += 1
        counts = {}
        for h in hits:
            if pid[h]:
                counts[pid[h]] = counts.get(pid[h], 0) + 1
        ok = False
        if counts:
            best = min(counts, key=lambda p: (-counts[p], p))
            ok = counts[best] / len(hits) > cfg.matching_fraction
            if cfg.double_majority:
                ok = ok and counts[best] / nhits[best] > cfg.matching_fraction
        if ok:
            matched += 1
            if matched_particles.get(best, 0):
                dup += 1
            matched_particles[best] = matched_particles.get(best, 0) + 1
        else:
            fake += 1
    rec = [p for p in nhits if nhits[p] >= cfg.min_particle_hits and (cfg.pt_min is None or pt[p] > cfg.pt_min)]
    found = sum(1 for p in rec if matched_particles.get(p, 0))
    return n_tracks, matched, fake, dup, len(rec), found


@pytest.mark.parametrize("double_majority", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_against_brute_force(seed, double_majority):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    n_particles = int(rng.integers(1, 40))
    pid = rng.integers(0, n_particles + 1, n)
    # tracks: mostly follow the particle, with noise in the labels
    labels = np.where(rng.random(n) < 0.7, pid * 2 + rng.integers(0, 2, n), rng.integers(-1, 2 * n_particles, n))
    pts = {int(p): float(rng.uniform(0.1, 3.0)) for p in range(1, n_particles + 1)}
    ev = make_event(pid, particles={p: (pt, 0.0) for p, pt in pts.items()}, track_labels=labels)
    cfg = TrackMatchConfig(double_majority=double_majority, min_track_hits=int(rng.integers(1, 4)))
    c = match_tracks(ev, config=cfg).counts()
    got = (
        c["n_tracks"],
        c["n_matched_tracks"],
        c["n_fake_tracks"],
        c["n_duplicate_tracks"],
        c["n_reconstructable"],
        c["n_reconstructed"],
    )
    assert got == _brute_force(pid, labels, pts, cfg)
