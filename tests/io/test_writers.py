"""ACTS ROOT and TrackML CSV files written from simulated events: names, dtypes, content, atomicity."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
from click.testing import CliRunner

from tracking.cli import main
from tracking.io.acts_write import geometry_id, write_acts
from tracking.io.barcode import encode_barcode
from tracking.io.trackml_write import write_trackml_csv
from tracking.simulation import simulate_event, simulate_events

BARCODE = ("vertex_primary", "vertex_secondary", "particle", "generation", "sub_particle")
MEASUREMENT_BRANCHES = {
    "event_nr": "uint32",
    "volume_id": "uint32",
    "layer_id": "uint32",
    "surface_id": "uint32",
    **{name: "float32" for name in ("rec_gx", "rec_gy", "rec_gz", "true_x", "true_y", "true_z")},
}


@pytest.fixture(scope="module")
def events():
    return [*list(simulate_events(2, mu=5, seed=21)), simulate_event(mu=0, seed=1, event_id=2)]


@pytest.fixture(scope="module")
def acts_dir(events, tmp_path_factory):
    out = tmp_path_factory.mktemp("acts")
    assert write_acts(iter(events), out) == 3
    return out


def test_acts_files_and_branches(acts_dir, events):
    assert sorted(p.name for p in acts_dir.iterdir()) == ["hits.root", "measurements.root", "particles.root"]
    tree = uproot.open(acts_dir / "measurements.root")["measurements"]
    arrays = tree.arrays(library="np")
    for name, dtype in MEASUREMENT_BRANCHES.items():
        assert arrays[name].dtype == np.dtype(dtype), name
    jagged = tree.arrays([f"particles_{f}" for f in BARCODE])
    for f in BARCODE:
        assert str(jagged[f"particles_{f}"].type.content) == "var * uint32"
    assert tree.num_entries == sum(e.num_hits for e in events)

    hits = uproot.open(acts_dir / "hits.root")["hits"].arrays(library="np")
    for name in ("event_id", *(f"barcode_{f}" for f in BARCODE), "volume_id", "layer_id", "sensitive_id"):
        assert hits[name].dtype == np.uint32, name
    assert hits["geometry_id"].dtype == np.uint64
    for name in ("tx", "ty", "tz", "tt", "tpx", "tpy", "tpz", "te", "deltapx", "deltapy", "deltapz", "deltae"):
        assert hits[name].dtype == np.float32, name
    assert hits["index"].dtype == np.int32

    ptree = uproot.open(acts_dir / "particles.root")["particles"]
    assert ptree.num_entries == 3
    particles = ptree.arrays()
    for name in (*BARCODE, "number_of_hits"):
        assert str(particles[name].type.content) == "var * uint32", name
    for name in ("vx", "vy", "vz", "px", "py", "pz", "pt", "eta", "phi", "q"):
        assert str(particles[name].type.content) == "var * float32", name
    assert str(particles["particle_type"].type.content) == "var * int32"


def test_acts_content_round_trips(acts_dir, events):
    meas = uproot.open(acts_dir / "measurements.root")["measurements"].arrays()
    for event in events[:2]:
        sel = np.asarray(meas["event_nr"]) == event.event_id
        np.testing.assert_array_equal(np.asarray(meas["rec_gx"][sel]), event.x)
        np.testing.assert_array_equal(np.asarray(meas["surface_id"][sel]), event.module_id)
        parts = {f: meas[f"particles_{f}"][sel] for f in BARCODE}
        counts = np.asarray(ak.num(parts["particle"]))
        np.testing.assert_array_equal(counts, (event.particle_id != 0).astype(int))
        rebuilt = np.zeros(event.num_hits, np.int64)
        has = counts == 1
        rebuilt[has] = encode_barcode(*(np.asarray(ak.flatten(parts[f]), np.uint64) for f in BARCODE))
        np.testing.assert_array_equal(rebuilt, event.particle_id)
    part = uproot.open(acts_dir / "particles.root")["particles"].arrays()
    np.testing.assert_array_equal(np.asarray(part["event_id"]), [0, 1, 2])
    np.testing.assert_array_equal(np.asarray(part["pt"][0]), events[0].particles.pt)
    assert len(part["pt"][2]) == 0
    hits = uproot.open(acts_dir / "hits.root")["hits"].arrays(library="np")
    assert len(hits["tx"]) == sum(int((e.particle_id != 0).sum()) for e in events)
    np.testing.assert_array_equal(hits["geometry_id"] >> np.uint64(56), hits["volume_id"].astype(np.uint64))


def test_geometry_id_layout():
    gid = geometry_id(np.array([8, 17]), np.array([2, 4]), np.array([1, 3192]))
    assert int(gid[0]) == (8 << 56) | (2 << 36) | (1 << 8)
    assert int(gid[1]) >> 36 & 0xFFF == 4 and int(gid[1]) >> 8 & 0xFFFFF == 3192


def test_acts_writer_is_atomic(tmp_path, events):
    def failing():
        yield events[0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_acts(failing(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_trackml_csv(tmp_path, events):
    assert write_trackml_csv(events[:1], tmp_path) == 1
    event = events[0]
    hits = pd.read_csv(tmp_path / "event000000000-hits.csv")
    assert list(hits.columns) == ["hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id"]
    np.testing.assert_array_equal(hits.x.to_numpy(np.float32), event.x)
    truth = pd.read_csv(tmp_path / "event000000000-truth.csv")
    assert list(truth.columns) == ["hit_id", "particle_id", "tx", "ty", "tz", "tpx", "tpy", "tpz", "weight"]
    np.testing.assert_array_equal(truth.particle_id.to_numpy(), event.particle_id)
    assert truth.weight.sum() == pytest.approx(1.0, rel=1e-4)
    assert (truth.weight[truth.particle_id == 0] == 0).all()
    particles = pd.read_csv(tmp_path / "event000000000-particles.csv")
    assert list(particles.columns) == ["particle_id", "vx", "vy", "vz", "px", "py", "pz", "q", "nhits"]
    np.testing.assert_array_equal(particles.nhits.to_numpy(), event.particles.nhits)


def test_trackml_csv_gzip(tmp_path, events):
    write_trackml_csv(events[1:2], tmp_path, gzip=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "event000000001-hits.csv.gz",
        "event000000001-particles.csv.gz",
        "event000000001-truth.csv.gz",
    ]
    hits = pd.read_csv(tmp_path / "event000000001-hits.csv.gz")
    assert len(hits) == events[1].num_hits


@pytest.mark.parametrize("fmt", ["root", "csv"])
def test_cli_simulate(tmp_path, fmt):
    result = CliRunner().invoke(
        main, ["simulate", "-n", "2", "--mu", "3", "--seed", "5", "-o", str(tmp_path), "--format", fmt, "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 event(s)" in result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    if fmt == "root":
        assert names == ["hits.root", "measurements.root", "particles.root"]
    else:
        assert len(names) == 6 and names[0] == "event000000000-hits.csv"


def test_cli_rejects_gzip_with_root(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--mu", "1", "-o", str(tmp_path), "--gzip"])
    assert result.exit_code != 0 and "--gzip" in result.output
