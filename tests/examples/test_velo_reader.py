"""The VELO example's reader and converter on real VELO events (skipped without ../shared/data/velo)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tracking.errors import DataError

REPO = Path(__file__).resolve().parents[2]
VELO_DIR = REPO.parent / "shared" / "data" / "velo" / "minibias"  # as SHARED_DATA in tests/conftest.py
EVENTS = (0, 1)


@pytest.fixture(scope="module")
def velo():
    """The example module (imported from its file unless its entry point already did)."""
    if "velo_reader" not in sys.modules:
        spec = importlib.util.spec_from_file_location("velo_reader", REPO / "examples" / "velo" / "velo_reader.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["velo_reader"] = module
        spec.loader.exec_module(module)
    return sys.modules["velo_reader"]


@pytest.fixture(scope="module")
def velo_dir() -> Path:
    if not VELO_DIR.is_dir():
        pytest.skip(f"VELO data not found at {VELO_DIR} (../shared/data/velo/minibias)")
    return VELO_DIR


@pytest.mark.parametrize("number", EVENTS)
def test_event_matches_the_json(velo, velo_dir, number):
    path = velo_dir / f"velo_event_{number}.json"
    data = json.loads(path.read_text())
    event = velo.read_velo_event(path).numpy()
    assert event.event_id == number and event.num_hits == len(data["x"])
    np.testing.assert_allclose(event.z, data["z"], atol=1e-4)
    assert np.array_equal(np.bincount(event.layer_id, minlength=52), np.diff(data["module_prefix_sum"]))
    assert np.array_equal(event.volume_id, event.layer_id % 2)
    # both faces of the modules are seen, and the downstream face lies 1.162 mm after the upstream one
    for layer in np.unique(event.layer_id):
        z = event.z[event.layer_id == layer]
        faces = event.module_id[event.layer_id == layer]
        if len(set(faces)) == 2:
            assert z[faces == 1].min() - z[faces == 0].max() == pytest.approx(1.162, abs=0.01)

    columns = data["montecarlo"]["description"]
    rows = [dict(zip(columns, r)) for r in data["montecarlo"]["particles"]]
    table = event.particles
    assert len(table) == len(rows)
    by_key = {r["key"]: r for r in rows}
    for i, key in enumerate(table.particle_id):
        row = by_key[int(key)]
        assert table.nhits[i] == len(row["hits"])
        assert table.pt[i] == pytest.approx(row["pt"] / 1000, rel=1e-5)
        assert table.extra["p"][i] == pytest.approx(row["p"] / 1000, rel=1e-5)
        assert table.extra["pdg"][i] == row["pid"]
        assert bool(table.extra["has_velo"][i]) == bool(row["hasVelo"])
        assert bool(table.extra["is_long"][i]) == bool(row["isLong"])
        hits_z = event.z[row["hits"]]
        # the vertex is upstream of every hit along the particle's direction
        if row["eta"] > 0:
            assert table.vz[i] <= hits_z.min() + 1e-3
        else:
            assert table.vz[i] >= hits_z.max() - 1e-3

    links = event.meta["hit_particles"]
    assert len(links[0]) == sum(len(r["hits"]) for r in rows)
    linked = {(int(h), int(p)) for h, p in zip(*links)}
    signal = np.flatnonzero(event.particle_id)
    assert len(signal) == len({h for h, _ in linked})  # a hit with any particle gets one
    assert all((int(h), int(event.particle_id[h])) in linked for h in signal)


def test_reader_plugin_converter_and_lhcb_evaluation(velo, velo_dir, tmp_path):
    from tracking import registry
    from tracking.io.tracks import write_tracks
    from tracking.metrics.evaluation import evaluate_files
    from tracking.pipeline import Pipeline

    reader = registry.create("reader", "velo_json", {"events": list(EVENTS)})
    assert reader.count(velo_dir) == len(EVENTS)
    originals = list(reader(velo_dir))

    # ACTS ROOT round trip keeps hit order, positions, ids and the chosen particle per hit
    assert velo.main(["convert", str(velo_dir), "-o", str(tmp_path / "acts"), "--events", "0-1"]) == 0
    converted = list(registry.create("reader", "acts_root", {})(tmp_path / "acts"))
    assert [e.event_id for e in converted] == list(EVENTS)
    for ours, theirs in zip(originals, converted):
        theirs = theirs.numpy()
        np.testing.assert_allclose(theirs.x, ours.x)
        for name in ("layer_id", "module_id", "volume_id", "particle_id"):
            assert np.array_equal(getattr(theirs, name), getattr(ours, name)), name

    # oracle tracks on the converted events, scored against the JSON with LHCb matching
    pipeline = Pipeline([registry.create("track_builder", "truth", {"min_hits": 3})], device="cpu")
    tracks_path = tmp_path / "tracks.root"
    write_tracks((pipeline(e.to("cpu")).numpy() for e in converted), tracks_path)
    result = evaluate_files(tracks_path, velo_dir, matching="lhcb", reader="velo_json")
    assert result["n_events"] == len(EVENTS) and result["n_ghosts"] == 0
    velo_cat = result["categories"]["velo"]
    assert velo_cat["efficiency"] > 0.95 and velo_cat["n_clones"] == 0
    assert "long, p > 5 GeV" in result["categories"]


def test_bad_input_names_the_file(velo, tmp_path):
    bad = tmp_path / "velo_event_3.json"
    bad.write_text(json.dumps({"x": [1.0], "y": [1.0], "z": [-288.08], "module_prefix_sum": [0, 1]}))
    with pytest.raises(DataError, match="module_prefix_sum") as info:
        velo.read_velo_event(bad)
    assert "velo_event_3.json" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no velo_event_N.json"):
        velo.event_files(tmp_path / "empty")
