"""`trackpipe evaluate` and its library core: alignment, hand-computed figures, end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from tracking import registry
from tracking.cli import main
from tracking.errors import DataError
from tracking.io.tracks import TrackRecord, write_tracks
from tracking.metrics import TrackMatchConfig, trackml_weights
from tracking.metrics.evaluation import (
    attach_tracks,
    evaluate_tracks,
    format_summary,
    truth_reader_name,
    write_json,
)

from ._events import make_event

PIDS = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 0]
PARTICLES = {1: (2.0, 0.0), 2: (1.5, 1.0), 3: (3.0, -1.0)}
HIT_IDS = [100 + 7 * i for i in range(len(PIDS))]


def truth_event(event_id=5):
    return make_event(PIDS, particles=PARTICLES, hit_id=HIT_IDS, event_id=event_id)


def test_attach_tracks_aligns_by_hit_id():
    ev = truth_event()
    # listed in another order; hits 100 and 177 (the noise) are absent -> -1
    rec = TrackRecord(
        5,
        np.array([121, 107, 114, 128, 135, 142, 149, 156, 163, 170], dtype=np.int64),
        np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2], dtype=np.int64),
    )
    labels = attach_tracks(ev, rec).track_labels
    assert labels.tolist() == [-1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, -1]


def test_attach_tracks_rejects_unknown_and_repeated_ids():
    ev = truth_event()
    with pytest.raises(DataError, match="not hits of the truth event, first 101.*event 5"):
        attach_tracks(ev, TrackRecord(5, np.array([100, 101]), np.array([0, 0])))
    with pytest.raises(DataError, match="more than once"):
        attach_tracks(ev, TrackRecord(5, np.array([100, 100]), np.array([0, 0])))


def test_evaluate_tracks_hand_computed():
    # event 5: p1 found; p2 split 2+2 (double majority: both fake); p3 merged with the noise hit -> 3/4, found
    # event 6: perfect
    rec5 = TrackRecord(5, np.array(HIT_IDS, dtype=np.int64), np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]))
    rec6 = TrackRecord(6, np.array(HIT_IDS, dtype=np.int64), np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, -1]))
    tracks = {5: rec5, 6: rec6}
    cfg = TrackMatchConfig(min_track_hits=2)
    r = evaluate_tracks([truth_event(5), truth_event(6), truth_event(9)], tracks, cfg)
    assert (r["n_events"], r["n_tracks"], r["n_matched_tracks"], r["n_fake_tracks"]) == (2, 7, 5, 2)
    assert r["efficiency"] == 5 / 6 and r["fake_rate"] == 2 / 7 and r["duplicate_rate"] == 0
    assert r["truth_events_without_tracks"] == [9]
    assert [e["event"] for e in r["events"]] == [5, 6]
    # TrackML score: event 6 is perfect (1); event 5 loses p2's weight
    w = trackml_weights(truth_event())
    assert r["events"][1]["trackml_score"] == pytest.approx(1.0)
    assert r["events"][0]["trackml_score"] == pytest.approx(1.0 - w[4:8].sum())
    assert r["trackml_score"] == pytest.approx((2.0 - w[4:8].sum()) / 2)
    # single majority: the two halves of p2 match, one is a duplicate
    r = evaluate_tracks([truth_event(5)], {5: rec5}, TrackMatchConfig(min_track_hits=2, double_majority=False))
    assert (r["n_matched_tracks"], r["n_fake_tracks"], r["n_duplicate_tracks"], r["efficiency"]) == (4, 0, 1, 1.0)


def test_tracks_without_truth_is_an_error():
    with pytest.raises(DataError, match="have no truth event, first 8"):
        evaluate_tracks([truth_event(5)], {8: TrackRecord(8, np.zeros(0, np.int64), np.zeros(0, np.int64))})


def test_json_and_summary(tmp_path):
    r = evaluate_tracks([], {})
    assert math.isnan(r["efficiency"]) and "n/a" in format_summary(r)
    path = write_json(r, tmp_path / "out" / "r.json")
    data = json.loads(path.read_text())
    assert data["efficiency"] is None and data["n_events"] == 0


def test_truth_reader_name(tmp_path):
    with pytest.raises(DataError, match="neither ACTS files"):
        truth_reader_name(tmp_path)
    (tmp_path / "event000000001-hits.csv.gz").write_bytes(b"")
    assert truth_reader_name(tmp_path) == "trackml_csv"
    (tmp_path / "measurements.root").write_bytes(b"")
    assert truth_reader_name(tmp_path) == "acts_root"
    with pytest.raises(DataError, match="not found"):
        truth_reader_name(tmp_path / "nope")


# -- end to end: simulate -> ACTS files -> truth tracks -> tracks.root -> trackpipe evaluate ------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from tracking.io.acts_write import write_acts
    from tracking.simulation import simulate_event

    root = tmp_path_factory.mktemp("e2e")
    write_acts([simulate_event(mu=5, seed=11, event_id=3)], root / "truth")
    (event,) = registry.create("reader", "acts_root")(root / "truth")
    return root, event


def run_evaluate(*args):
    result = CliRunner().invoke(main, ["evaluate", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_end_to_end_truth_tracks_are_perfect(simulated, tmp_path):
    root, event = simulated
    tracks = registry.create("track_builder", "truth")(event)
    write_tracks([tracks], tmp_path / "tracks.root")
    out = run_evaluate(
        tmp_path / "tracks.root",
        "--truth",
        root / "truth",
        "--json",
        tmp_path / "r.json",
        "--plots",
        tmp_path / "plots",
    )
    assert "efficiency                  100.00 %" in out and "fake rate                   0.00 %" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["efficiency"] == 1.0 and r["fake_rate"] == 0.0 and r["duplicate_rate"] == 0.0
    assert r["trackml_score"] == pytest.approx(1.0)
    assert r["n_reconstructable"] > 5
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "efficiency_vs_eta.png",
        "efficiency_vs_pt.png",
        "efficiency_vs_vertex_r.png",
    ]
    assert "by production vertex r" in out
    assert (tmp_path / "plots" / "efficiency_vs_pt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suffix", [".root", ".parquet"])
def test_end_to_end_known_mistakes(simulated, tmp_path, suffix):
    root, event = simulated
    pid = np.asarray(event.particle_id)
    table = event.particles.numpy()
    pt = dict(zip(table.particle_id.tolist(), table.pt.tolist()))
    ids, nhits = np.unique(pid[pid != 0], return_counts=True)
    n_hits = dict(zip(ids.tolist(), nhits.tolist()))
    good = [p for p in ids.tolist() if pt[p] > 1.0]
    a = next(p for p in good if n_hits[p] >= 6 and n_hits[p] % 2 == 0)  # split into two equal halves
    b, c = next((b, c) for b in good for c in good if b != a and c != a and n_hits[b] > n_hits[c] >= 3)
    noise = np.flatnonzero(pid == 0)[:3]
    assert len(noise) == 3

    labels = np.where(pid != 0, pid, -1).astype(np.int64)  # the truth tracks
    a_hits = np.flatnonzero(pid == a)
    labels[a_hits[: len(a_hits) // 2]] = 10**9  # A: second half gets a new track
    labels[pid == c] = b  # B and C merged: majority B, holds all of B
    labels[noise] = 10**9 + 1  # a fake made of 3 noise hits
    write_tracks([event.replace(track_labels=labels)], tmp_path / f"tracks{suffix}")

    n_tracks_truth = int((nhits >= 3).sum())
    reconstructable = sum(1 for p in ids.tolist() if pt[p] > 1.0 and n_hits[p] >= 3)
    # double majority: A's halves hold 50% each -> 2 fakes; the merged track matches B; C lost
    out = run_evaluate(tmp_path / f"tracks{suffix}", "--truth", root / "truth", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["n_tracks"] == n_tracks_truth + 1
    assert (r["n_fake_tracks"], r["n_duplicate_tracks"]) == (3, 0)
    assert r["efficiency"] == pytest.approx((reconstructable - 2) / reconstructable)
    assert r["fake_rate"] == pytest.approx(3 / (n_tracks_truth + 1))
    w = trackml_weights(event)
    assert r["trackml_score"] == pytest.approx(1.0 - w[pid == a].sum() - w[pid == c].sum())
    assert f"{100 * (reconstructable - 2) / reconstructable:.2f} %" in out
    # single majority: both halves of A match (one duplicate); only the noise track is fake
    run_evaluate(
        tmp_path / f"tracks{suffix}", "--truth", root / "truth", "--single-majority", "--json", tmp_path / "s.json"
    )
    s = json.loads((tmp_path / "s.json").read_text())
    assert (s["n_fake_tracks"], s["n_duplicate_tracks"]) == (1, 1)
    assert s["efficiency"] == pytest.approx((reconstructable - 1) / reconstructable)
    assert s["duplicate_rate"] == pytest.approx(1 / (n_tracks_truth + 1))


def test_cli_errors_are_clear(simulated, tmp_path):
    root, event = simulated
    write_tracks(
        [event.replace(event_id=77, track_labels=np.zeros(event.num_hits, dtype=np.int64))], tmp_path / "t.root"
    )
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "t.root"), "--truth", str(root / "truth")])
    assert result.exit_code != 0 and "77" in result.output
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "t.root"), "--truth", str(tmp_path)])
    assert result.exit_code != 0 and "neither ACTS files" in result.output
