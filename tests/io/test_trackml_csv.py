"""trackml_csv reader: the real TrackML sample in ../shared/data/trackml and small hand-written events."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracking import registry
from tracking.errors import DataError
from tracking.io.trackml_csv import TrackmlCsvReader, read_trackml_csv

SAMPLE = "event000000001"


def read_sample_with_pandas(directory: Path):
    hits = pd.read_csv(directory / f"{SAMPLE}-hits.csv.gz")
    truth = pd.read_csv(directory / f"{SAMPLE}-truth.csv.gz")
    particles = pd.read_csv(directory / f"{SAMPLE}-particles.csv.gz")
    return hits, truth, particles


@pytest.mark.parametrize("name", [SAMPLE, f"{SAMPLE}-hits.csv.gz", f"{SAMPLE}-truth.csv.gz"])
def test_real_sample_counts_dtypes_and_truth(trackml_dir, name):
    (event,) = read_trackml_csv(trackml_dir / name)
    hits, truth, particles = read_sample_with_pandas(trackml_dir)
    assert event.event_id == 1
    assert event.num_hits == 5527 and len(event.particles) == 548
    assert event.hit_id.dtype == np.int64 and event.x.dtype == np.float32 and event.module_id.dtype == np.int32
    assert event.particle_id.dtype == np.int64 and event.particles.pt.dtype == np.float32
    np.testing.assert_array_equal(event.hit_id, hits.hit_id)  # TrackML ids kept, not renumbered
    np.testing.assert_array_equal(event.x, hits.x.to_numpy(np.float32))
    np.testing.assert_array_equal(event.volume_id, hits.volume_id)
    by_hit = truth.set_index("hit_id").particle_id
    np.testing.assert_array_equal(event.particle_id, by_hit.loc[hits.hit_id].to_numpy())
    assert int((event.particle_id == 0).sum()) == 829
    # every hit's particle is in the table, and nhits is the number of hits it has here
    signal = event.particle_id[event.particle_id != 0]
    assert np.isin(signal, event.particles.particle_id).all()
    ids, counts = np.unique(signal, return_counts=True)
    table = pd.Series(event.particles.nhits, index=event.particles.particle_id)
    np.testing.assert_array_equal(table.loc[ids].to_numpy(), counts)
    pt = np.hypot(particles.px, particles.py)
    np.testing.assert_allclose(event.particles.pt, pt, rtol=1e-6)
    np.testing.assert_allclose(event.particles.eta, np.arcsinh(particles.pz / pt), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(event.particles.phi, np.arctan2(particles.py, particles.px), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(event.particles.q, particles.q)


def test_real_directory_events_and_selection(trackml_dir):
    reader = registry.create("reader", "trackml_csv", {"events": [1]})
    assert reader.count(trackml_dir) == 1
    assert [e.event_id for e in reader(trackml_dir)] == [1]
    everything = TrackmlCsvReader()
    assert everything.count(trackml_dir) == 2
    out = list(everything(trackml_dir))
    assert [e.event_id for e in out] == [1, 1000]
    assert out[1].num_hits == 120939 and len(out[1].particles) == 12263
    assert out[1].particle_id is None  # event 1000 ships without truth
    with pytest.raises(DataError, match="truth") as err:
        list(TrackmlCsvReader(TrackmlCsvReader.Config(truth=True, events=[1000]))(trackml_dir))
    assert err.value.event == 1000


def test_real_detectors_geometry(trackml_dir):
    detectors = trackml_dir / "detectors.csv.gz"
    reader = TrackmlCsvReader(TrackmlCsvReader.Config(detectors=str(detectors)))
    (event,) = reader(trackml_dir / SAMPLE)
    geometry = reader.module_geometry(event)
    table = pd.read_csv(detectors).set_index(["volume_id", "layer_id", "module_id"])
    assert len(geometry) == event.num_hits
    keys = list(zip(event.volume_id.tolist(), event.layer_id.tolist(), event.module_id.tolist()))
    np.testing.assert_array_equal(geometry.cx, table.loc[keys, "cx"].to_numpy())
    np.testing.assert_array_equal(geometry.pitch_u, table.loc[keys, "pitch_u"].to_numpy())
    # a hit lies within its module's half thickness... of the module plane: |(hit - centre) . w| is small
    centre = geometry[["cx", "cy", "cz"]].to_numpy()
    normal = geometry[["rot_xw", "rot_yw", "rot_zw"]].to_numpy()
    position = np.stack([event.x, event.y, event.z], axis=1).astype(np.float64)
    assert np.all(np.abs(np.sum((position - centre) * normal, axis=1)) < 1.0)


def test_plain_csv_equals_gzip(trackml_dir, tmp_path):
    for part in ("hits", "truth", "particles"):
        with gzip.open(trackml_dir / f"{SAMPLE}-{part}.csv.gz", "rb") as src:
            (tmp_path / f"{SAMPLE}-{part}.csv").write_bytes(src.read())
    (plain,) = read_trackml_csv(tmp_path)
    (zipped,) = read_trackml_csv(trackml_dir / SAMPLE)
    for field in ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(zipped, field))
    np.testing.assert_array_equal(plain.particles.pt, zipped.particles.pt)


def write_event(
    directory: Path,
    event_id: int,
    hits: dict,
    truth: dict | None = None,
    particles: dict | None = None,
    suffix: str = ".csv",
) -> Path:
    prefix = directory / f"event{event_id:09d}"
    pd.DataFrame(hits).to_csv(f"{prefix}-hits{suffix}", index=False)
    if truth is not None:
        pd.DataFrame(truth).to_csv(f"{prefix}-truth{suffix}", index=False)
    if particles is not None:
        pd.DataFrame(particles).to_csv(f"{prefix}-particles{suffix}", index=False)
    return prefix


HITS = {
    "hit_id": [1, 2, 3, 4],
    "x": [1.5, -2.0, 30.25, 4.0],
    "y": [0.0, 1.0, -2.0, 5.0],
    "z": [10.0, 20.0, -30.0, 0.5],
    "volume_id": [8, 8, 13, 17],
    "layer_id": [2, 4, 2, 2],
    "module_id": [1, 2, 3, 4],
}
PARTICLES = {
    "particle_id": [11, 22],
    "vx": [0.0, 0.1],
    "vy": [0.0, 0.2],
    "vz": [1.0, -5.0],
    "px": [1.0, 0.0],
    "py": [0.0, -2.0],
    "pz": [0.0, 2.0],
    "q": [1, -1],
    "nhits": [2, 1],
}


def test_small_event_truth_joined_by_hit_id(tmp_path):
    # truth rows in another order than hits, with extra columns; particle ids beyond 2**53
    big = 2**60 + 1
    truth = {"hit_id": [3, 1, 4, 2], "particle_id": [big, 11, 0, 11], "weight": [0.1] * 4}
    write_event(tmp_path, 42, HITS, truth, {**PARTICLES, "particle_id": [11, big]}, suffix=".csv.gz")
    (event,) = read_trackml_csv(tmp_path)
    assert event.event_id == 42
    np.testing.assert_array_equal(event.hit_id, [1, 2, 3, 4])
    np.testing.assert_array_equal(event.particle_id, [11, 11, big, 0])
    np.testing.assert_array_equal(event.x, np.array(HITS["x"], np.float32))
    np.testing.assert_array_equal(event.particles.particle_id, [11, big])
    np.testing.assert_allclose(event.particles.pt, [1.0, 2.0])
    np.testing.assert_allclose(event.particles.eta, [0.0, np.arcsinh(1.0)], rtol=1e-6)
    np.testing.assert_allclose(event.particles.phi, [0.0, -np.pi / 2], rtol=1e-6)
    np.testing.assert_array_equal(event.particles.q, [1, -1])


def test_header_only_hits_is_an_empty_event(tmp_path):
    write_event(tmp_path, 7, {k: [] for k in HITS}, {"hit_id": [], "particle_id": []}, PARTICLES)
    (event,) = read_trackml_csv(tmp_path / "event000000007")
    assert event.num_hits == 0 and event.particle_id.dtype == np.int64 and event.x.dtype == np.float32
    assert len(event.particles) == 2


def test_truth_false_and_missing_truth(tmp_path):
    write_event(tmp_path, 3, HITS)
    (event,) = read_trackml_csv(tmp_path)
    assert event.particle_id is None and event.particles is None
    write_event(tmp_path, 3, HITS, {"hit_id": [1, 2, 3, 4], "particle_id": [0, 0, 0, 0]}, PARTICLES)
    (event,) = read_trackml_csv(tmp_path, truth=False)
    assert event.particle_id is None and event.particles is None


def test_directory_sorted_by_event_number(tmp_path):
    for event_id in (10, 2, 7):
        write_event(tmp_path, event_id, HITS, suffix=".csv" if event_id % 2 else ".csv.gz")
    (tmp_path / "event000000099-cells.csv").write_text("hit_id,ch0,ch1,value\n")  # no hits file: not an event
    reader = TrackmlCsvReader()
    assert reader.count(tmp_path) == 3
    assert [e.event_id for e in reader(tmp_path)] == [2, 7, 10]
