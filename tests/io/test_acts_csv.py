"""ACTS CSV reader on files laid out as the ACTS examples write them (tests/io/acts_csv_files.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracking import registry
from tracking.errors import DataError
from tracking.io.acts_csv import ActsCsvReader, decode_geometry_id, read_acts_csv
from tracking.io.acts_write import geometry_id
from tracking.io.detect import reader_for

from .acts_csv_files import Truth, write_detectors, write_event


def _check_hits(event, truth: Truth, atol: float = 1e-3) -> None:
    np.testing.assert_array_equal(event.hit_id, truth.measurement_id)
    np.testing.assert_allclose(np.stack([event.x, event.y, event.z], axis=1), truth.xyz, atol=atol)
    np.testing.assert_array_equal(event.volume_id, truth.volume_id)
    np.testing.assert_array_equal(event.layer_id, truth.layer_id)
    np.testing.assert_array_equal(event.module_id, truth.module_id)
    np.testing.assert_array_equal(event.particle_id, truth.particle_id)


def test_current_layout_global_positions_barcodes_particles_cells(tmp_path):
    truths = {e: write_event(tmp_path, e, layout="current") for e in (3, 1)}
    assert reader_for(tmp_path) == "acts_csv"
    reader = registry.create("reader", "acts_csv", {"cells": True})
    assert reader.event_numbers(tmp_path) == [1, 3] and reader.count(tmp_path) == 2
    events = list(reader(tmp_path))
    assert [e.event_id for e in events] == [1, 3]
    for event in events:
        truth = truths[event.event_id]
        _check_hits(event, truth, atol=1e-4)
        # particles: same barcodes (packed as tracking.io.barcode does), momenta, vertex, charge
        p = event.particles
        order = np.argsort(p.particle_id)
        expected = truth.particles.sort_values("particle_id")
        np.testing.assert_array_equal(p.particle_id[order], expected["particle_id"])
        np.testing.assert_allclose(p.pt[order], np.hypot(expected["px"], expected["py"]), rtol=1e-5)
        np.testing.assert_allclose(p.vz[order], expected["vz"], atol=1e-4)
        np.testing.assert_array_equal(p.q[order], expected["q"].astype(np.int32))
        # nhits = the particle's measurements in this event
        counts = pd.Series(truth.particle_id[truth.particle_id != 0]).value_counts()
        np.testing.assert_array_equal(p.nhits, [counts.get(int(i), 0) for i in p.particle_id])
        assert (truth.particle_id == 0).sum() == 3  # the noise measurements stay noise
        np.testing.assert_array_equal(event.meta["cells"]["count"], truth.cell_count)
        np.testing.assert_allclose(event.meta["cells"]["value"], truth.cell_value, rtol=1e-5)


@pytest.mark.parametrize("layout", ["2023", "legacy"])
def test_local_coordinates_placed_with_detectors(tmp_path, layout):
    data = tmp_path / "data"
    truth = write_event(data, 7, layout=layout)
    detectors = write_detectors(tmp_path / "detectors.csv")
    (event,) = read_acts_csv(data, detectors=str(detectors), cells=True)
    _check_hits(event, truth)  # noise measurements too: they have no sim hit but a module and local position
    np.testing.assert_array_equal(event.meta["cells"]["count"], truth.cell_count)


def test_exact_digitisation_sim_hits_and_measurements_agree(tmp_path):
    data = tmp_path / "data"
    truth = write_event(data, 2, layout="2023", n_noise=0)
    detectors = str(write_detectors(tmp_path / "detectors.csv"))
    from_sim = next(read_acts_csv(data))  # no global columns, no detectors: positions from the sim hits
    from_local = next(read_acts_csv(data, detectors=detectors, positions="detectors"))
    _check_hits(from_sim, truth)
    _check_hits(from_local, truth)
    for axis in "xyz":
        np.testing.assert_allclose(getattr(from_sim, axis), getattr(from_local, axis), atol=1e-3)


def test_trackml_style_detectors_keyed_by_module_ids(tmp_path):
    data = tmp_path / "data"
    truth = write_event(data, 2, layout="2023")
    from .acts_csv_files import detector

    table = detector().drop(columns=["geometry_id", "boundary_id", "extra_id", "bounds_type"])
    table.to_csv(tmp_path / "detectors.csv", index=False)
    (event,) = read_acts_csv(data, detectors=str(tmp_path / "detectors.csv"))
    _check_hits(event, truth)


def test_noise_without_position_source_is_named(tmp_path):
    write_event(tmp_path, 4, layout="2023", n_noise=2)
    with pytest.raises(DataError, match="has no sim hit to take its position from.*detectors"):
        next(read_acts_csv(tmp_path))


def test_one_particle_per_measurement_by_majority_of_sim_hits(tmp_path):
    prefix = tmp_path / "event000000005"
    gid = int(geometry_id(8, 2, 1))
    pd.DataFrame(
        {
            "measurement_id": [0, 1, 2],
            "geometry_id": [gid] * 3,
            "global_x": [1.0, 2, 3],
            "global_y": [0.0] * 3,
            "global_z": [0.0] * 3,
        }
    ).to_csv(f"{prefix}-measurements.csv", index=False)
    # measurement 0: one hit of particle 11 and two of 22 -> 22; 1: a 1-1 tie -> the first listed (33); 2: none
    pd.DataFrame({"measurement_id": [0, 0, 0, 1, 1], "hit_id": [0, 1, 2, 3, 4]}).to_csv(
        f"{prefix}-measurement-simhit-map.csv", index=False
    )
    pd.DataFrame(
        {
            "particle_id": [11, 22, 22, 33, 44],
            "geometry_id": [gid] * 5,
            "tx": [0.0] * 5,
            "ty": [0.0] * 5,
            "tz": [0.0] * 5,
        }
    ).to_csv(f"{prefix}-hits.csv", index=False)
    (event,) = read_acts_csv(tmp_path)
    np.testing.assert_array_equal(event.particle_id, [22, 33, 0])
    assert event.particles is None  # no particle file: truth per hit only


def test_errors_name_file_column_and_event(tmp_path):
    write_event(tmp_path, 9, layout="current")
    meas = tmp_path / "event000000009-measurements.csv"
    table = pd.read_csv(meas)
    table.drop(columns=["geometry_id"]).to_csv(meas, index=False)
    with pytest.raises(DataError, match=r"missing column.*measurements\.csv.*'geometry_id'.*event 9"):
        next(read_acts_csv(tmp_path))
    table.to_csv(meas, index=False)

    links = tmp_path / "event000000009-measurement-simhit-map.csv"
    good = pd.read_csv(links)
    bad = good.copy()
    bad.loc[0, "measurement_id"] = 10_000
    bad.to_csv(links, index=False)
    with pytest.raises(DataError, match="measurement_id 10000, absent from the measurements"):
        next(read_acts_csv(tmp_path))
    bad = good.copy()
    bad.loc[0, "hit_id"] = 10_000
    bad.to_csv(links, index=False)
    with pytest.raises(DataError, match="0-based row of the sim hit"):
        next(read_acts_csv(tmp_path))
    good.to_csv(links, index=False)

    with pytest.raises(DataError, match="requested event not found.*event 8"):
        list(read_acts_csv(tmp_path, events=[8]))
    with pytest.raises(DataError, match="missing particles file"):
        (tmp_path / "event000000009-particles_initial.csv").rename(tmp_path / "elsewhere.csv")
        next(read_acts_csv(tmp_path, truth=True))


def test_detectors_errors(tmp_path):
    data = tmp_path / "data"
    write_event(data, 1, layout="2023")
    from .acts_csv_files import detector

    table = detector()
    table.iloc[: len(table) // 2].to_csv(tmp_path / "half.csv", index=False)
    with pytest.raises(DataError, match="on modules absent from"):
        next(read_acts_csv(data, detectors=str(tmp_path / "half.csv")))
    table["bounds_type"] = 1  # cylinders: local coordinates are (r phi, z), not a plane's
    table.to_csv(tmp_path / "cylinders.csv", index=False)
    with pytest.raises(DataError, match="non-planar surface"):
        next(read_acts_csv(data, detectors=str(tmp_path / "cylinders.csv")))


def test_geometry_id_round_trip():
    gid = geometry_id(np.array([8, 255]), np.array([2, 4095]), np.array([17, (1 << 20) - 1]))
    fields = decode_geometry_id(gid)
    np.testing.assert_array_equal(fields["volume"], [8, 255])
    np.testing.assert_array_equal(fields["layer"], [2, 4095])
    np.testing.assert_array_equal(fields["sensitive"], [17, (1 << 20) - 1])


def test_single_measurements_file_is_detected(tmp_path):
    write_event(tmp_path, 4)
    write_event(tmp_path, 5)
    path = tmp_path / "event000000005-measurements.csv"
    assert reader_for(path) == "acts_csv"
    assert [e.event_id for e in ActsCsvReader()(path)] == [5]


def test_detectors_csv_beside_the_events_is_used(tmp_path):
    truth = write_event(tmp_path, 6, layout="2023")  # noise measurements: only the modules can place them
    write_detectors(tmp_path / "detectors.csv")
    assert reader_for(tmp_path) == "acts_csv"
    (event,) = registry.create("reader", "acts_csv")(tmp_path)
    _check_hits(event, truth)
    with pytest.raises(DataError, match="has no sim hit to take its position from"):
        next(read_acts_csv(tmp_path, positions="simhits"))


def test_real_trackml_event_written_as_acts_csv(tmp_path, trackml_dir):
    """Real geometry: TrackML event 1 as ACTS 2023 files (local coordinates on the real modules, the truth as
    sim hits); placed with the real TrackML detectors.csv, every hit lands where TrackML put it."""
    hits = pd.read_csv(trackml_dir / "event000000001-hits.csv.gz")
    truth = pd.read_csv(trackml_dir / "event000000001-truth.csv.gz").set_index("hit_id").loc[hits.hit_id]
    modules = pd.read_csv(trackml_dir / "detectors.csv.gz")
    placed = hits.merge(modules, on=["volume_id", "layer_id", "module_id"], how="left")
    rot = placed[[f"rot_{a}{b}" for a in "xyz" for b in "uvw"]].to_numpy().reshape(-1, 3, 3)
    local = np.einsum("nji,nj->ni", rot, hits[["x", "y", "z"]].to_numpy() - placed[["cx", "cy", "cz"]].to_numpy())
    gid = geometry_id(hits.volume_id.to_numpy(), hits.layer_id.to_numpy(), hits.module_id.to_numpy())
    prefix = tmp_path / "event000000001"
    pd.DataFrame(
        {
            "measurement_id": hits.hit_id,
            "geometry_id": gid,
            "local_key": 6,
            "local0": local[:, 0],
            "local1": local[:, 1],
        }
    ).to_csv(f"{prefix}-measurements.csv", index=False)
    signal = np.flatnonzero(truth.particle_id.to_numpy() != 0)
    pd.DataFrame({"measurement_id": hits.hit_id.to_numpy()[signal], "hit_id": np.arange(len(signal))}).to_csv(
        f"{prefix}-measurement-simhit-map.csv", index=False
    )
    pd.DataFrame(
        {
            "particle_id": truth.particle_id.to_numpy()[signal].astype(np.uint64),
            "geometry_id": gid[signal],
            **{c: truth[c].to_numpy()[signal] for c in ("tx", "ty", "tz", "tpx", "tpy", "tpz")},
        }
    ).to_csv(f"{prefix}-hits.csv", index=False)
    (event,) = read_acts_csv(tmp_path, detectors=str(trackml_dir / "detectors.csv.gz"))
    np.testing.assert_array_equal(event.hit_id, hits.hit_id)
    for axis in "xyz":  # TrackML hits sit on their module plane to < 0.01 mm
        np.testing.assert_allclose(getattr(event, axis), hits[axis], atol=0.01)
    np.testing.assert_array_equal(event.module_id, hits.module_id)
    np.testing.assert_array_equal(event.particle_id, truth.particle_id)
