"""LHCb matching on hand-made events whose counts are known."""

from __future__ import annotations

import numpy as np
import pytest

from tracking.event import Event, Particles
from tracking.io.tracks import TrackRecord
from tracking.metrics.evaluation import evaluate_tracks_lhcb, format_summary
from tracking.metrics.lhcb import Category, LhcbMatchConfig, LhcbMetrics, lhcb_metrics


def lhcb_event(particle_id, track_labels, flags: dict[int, dict], *, links=None, event_id: int = 0) -> Event:
    """Hits with the given truth and tracks; ``flags`` maps particle id -> extra columns (pdg, p, has_velo...)."""
    pid = np.asarray(particle_id, dtype=np.int64)
    n = len(pid)
    ids = np.array(sorted(flags), dtype=np.int64)
    m = len(ids)
    f32 = np.zeros(m, dtype=np.float32)
    names = sorted({k for row in flags.values() for k in row})
    extra = {k: np.array([flags[int(i)].get(k, 0) for i in ids]) for k in names}
    table = Particles(ids, f32, f32, f32, f32, f32, f32, np.ones(m, np.int32), np.ones(m, np.int32), extra=extra)
    meta = {} if links is None else {"hit_particles": tuple(np.asarray(a, dtype=np.int64) for a in links)}
    return Event(
        event_id=event_id,
        hit_id=np.arange(n, dtype=np.int64),
        x=np.arange(n, dtype=np.float32),
        y=np.ones(n, dtype=np.float32),
        z=np.arange(n, dtype=np.float32),
        particle_id=pid,
        particles=table,
        track_labels=np.asarray(track_labels, dtype=np.int64),
        meta=meta,
    )


PION = {"pdg": 211, "p": 10.0, "has_velo": 1, "is_long": 1}


def test_matching_ghosts_clones_and_categories():
    # particle 1: 4 hits, two tracks (a clone); 2: 3 hits + 1 noise hit on its track (3/4 = 75 % -> matched);
    # 3: a 3-hit track with 2 of its hits (2/3 -> ghost); 4: an electron, found; 5: never found, p < 5 GeV
    pid = [1, 1, 1, 1, 2, 2, 2, 0, 3, 3, 9, 4, 4, 4, 5, 5, 5]
    labels = [0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, -1, -1, -1]
    flags = {
        1: PION,
        2: {**PION, "is_long": 0},
        3: PION,
        4: {**PION, "pdg": -11},
        5: {**PION, "p": 2.0},
        9: {**PION, "has_velo": 0, "is_long": 0},
    }
    metrics = LhcbMetrics()
    counts = metrics.add(lhcb_event(pid, labels, flags))
    # tracks 0 and 1 have 2 hits each of particle 1 (matched), track 3 is a ghost
    assert counts["n_tracks"] == 5 and counts["n_ghosts"] == 1
    velo = counts["categories"]["velo"]  # 1, 2, 3, 5 (4 is an electron, 9 has no VELO flag)
    assert velo["n_particles"] == 4 and velo["n_reconstructed"] == 2 and velo["n_clones"] == 1
    long = counts["categories"]["long"]  # 1, 3, 5
    assert long["n_particles"] == 3 and long["n_reconstructed"] == 1
    long5 = counts["categories"]["long, p > 5 GeV"]  # 1, 3
    assert long5["n_particles"] == 2 and long5["n_reconstructed"] == 1
    result = metrics.result()
    assert result["ghost_rate"] == pytest.approx(1 / 5)
    assert result["categories"]["velo"]["efficiency"] == pytest.approx(2 / 4)
    assert result["categories"]["velo"]["clone_rate"] == pytest.approx(1 / 2)
    # assigned pairs: (t0, 1) w=1, (t1, 1) w=1, (t2, 2) w=0.75; hit efficiency 2/4, 2/4, 3/3
    assert result["categories"]["velo"]["hit_purity"] == pytest.approx(2.75 / 3)
    assert result["categories"]["velo"]["hit_efficiency"] == pytest.approx(2 / 3)
    # the flag columns lack from_strange / from_beauty: those categories are skipped and say why
    assert "long strange" in result["categories_skipped"] and "long strange" not in result["categories"]
    assert result["categories"]["all"]["n_particles"] == 4  # particles with >= 3 hits: 1, 2, 4, 5


def test_seventy_percent_is_enough_and_short_tracks_are_ghosts():
    # a 10-hit track with 7 hits of particle 1: matched at exactly 70 %; a 1-hit track cannot match
    pid = [1] * 7 + [2, 3, 4] + [5]
    labels = [0] * 10 + [1]
    flags = {i: PION for i in range(1, 6)}
    result = lhcb_metrics([lhcb_event(pid, labels, flags)])
    assert result["n_tracks"] == 2 and result["n_ghosts"] == 1
    assert result["categories"]["velo"]["n_reconstructed"] == 1
    strict = lhcb_metrics([lhcb_event(pid, labels, flags)], LhcbMatchConfig(matching_fraction=0.75))
    assert strict["n_ghosts"] == 2
    counted = lhcb_metrics([lhcb_event(pid, labels, flags)], LhcbMatchConfig(min_track_hits=2))
    assert counted["n_tracks"] == 1 and counted["n_ghosts"] == 0


def test_shared_hits_count_for_every_particle_that_left_them():
    # hit 2 was left by particles 1 and 2; particle_id gives it to 2, so without the links the
    # 3-hit track of particle 1 holds 2/3 of its hits from 1 and is a ghost
    pid = [1, 1, 2, 2, 2, 2]
    labels = [0, 0, 0, 1, 1, 1]
    flags = {1: PION, 2: PION}
    without = lhcb_metrics([lhcb_event(pid, labels, flags)])
    assert without["n_ghosts"] == 1 and without["categories"]["velo"]["n_reconstructed"] == 1
    links = ([0, 1, 2, 2, 3, 4, 5], [1, 1, 1, 2, 2, 2, 2])
    shared = lhcb_metrics([lhcb_event(pid, labels, flags, links=links)])
    assert shared["n_ghosts"] == 0 and shared["categories"]["velo"]["n_reconstructed"] == 2
    assert shared["categories"]["velo"]["n_clones"] == 0


def test_counts_are_summed_over_events_and_rates_taken_after():
    flags = {1: PION, 2: PION}
    found = lhcb_event([1, 1, 1, 2, 2, 2], [0, 0, 0, -1, -1, -1], flags, event_id=1)
    ghosts = lhcb_event([1, 2, 1, 2, 1, 2], [0, 0, 0, 0, 1, 1], flags, event_id=2)
    result = lhcb_metrics([found, ghosts])
    assert result["n_events"] == 2 and result["n_tracks"] == 3 and result["n_ghosts"] == 2
    assert result["ghost_rate"] == pytest.approx(2 / 3)
    assert result["ghost_rate_event_average"] == pytest.approx((0 + 1) / 2)
    assert result["categories"]["velo"]["efficiency"] == pytest.approx(1 / 4)


def test_categories_from_config_and_errors():
    flags = {1: {"pdg": 13, "p": 6.0, "muon_chamber": 1}, 2: {"pdg": 13, "p": 6.0, "muon_chamber": 0}}
    event = lhcb_event([1, 1, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1], flags)
    config = LhcbMatchConfig(categories=(Category("muons", ("muon_chamber",), p_min=5.0),))
    result = lhcb_metrics([event], config)
    assert list(result["categories"]) == ["muons"] and result["categories"]["muons"]["n_particles"] == 1
    with pytest.raises(ValueError, match="matching_fraction"):
        LhcbMatchConfig(matching_fraction=0.0)
    with pytest.raises(ValueError, match="repeat"):
        LhcbMatchConfig(categories=(Category("a"), Category("a")))
    with pytest.raises(ValueError, match="hit rows outside"):
        lhcb_metrics([lhcb_event([1, 1], [0, 0], {1: PION}, links=([0, 5], [1, 1]))])


def test_evaluate_tracks_lhcb_and_summary():
    flags = {1: PION, 2: PION}
    truth = lhcb_event([1, 1, 1, 2, 2, 2], [-1] * 6, flags, event_id=7)
    record = TrackRecord(7, np.arange(6, dtype=np.int64), np.array([0, 0, 0, 1, 1, 1], dtype=np.int64))
    result = evaluate_tracks_lhcb([truth], {7: record})
    assert result["n_ghosts"] == 0 and result["categories"]["velo"]["n_reconstructed"] == 2
    assert result["events"][0]["event"] == 7
    text = format_summary(result)
    assert "ghost rate 0.00 %" in text and "velo" in text and "2 / 2" in text
