"""The ACTS CSV reader on files that ACTS itself wrote (pyacts: Fatras + digitisation, ACTS' CSV writers).

Every expectation is computed here from the files with pandas or from ACTS' own Python objects
(``acts.GeometryIdentifier``), never with the reader's helpers. The hand-written files of
``acts_csv_files.py`` cover the 2023 and older layouts (local coordinates only, one packed ``particle_id``,
cells keyed by ``hit_id``) in ``test_acts_csv.py``; here the same older layouts are also made from ACTS'
real output by rewriting its columns.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tracking.io.acts_csv import read_acts_csv
from tracking.io.barcode import encode_barcode

BARCODE = ["particle_id_pv", "particle_id_sv", "particle_id_part", "particle_id_gen", "particle_id_subpart"]


def _files(directory, event):
    return {
        stem: pd.read_csv(directory / f"event{event:09d}-{stem}.csv")
        for stem in ("measurements", "measurement-simhit-map", "hits", "particles_simulated", "cells")
    }


def _expected_particle_ids(files) -> np.ndarray:
    """Per measurement, the barcode of its sim hit (the 0-based row of ``hits``), packed; 0 without one."""
    meas, links, hits = files["measurements"], files["measurement-simhit-map"], files["hits"]
    assert links.groupby("measurement_id").size().max() == 1  # smearing/clusters of one particle here
    packed = encode_barcode(*(hits[c].to_numpy() for c in BARCODE))
    by_measurement = dict(zip(links["measurement_id"], packed[links["hit_id"].to_numpy()]))
    return np.array([by_measurement.get(m, 0) for m in meas["measurement_id"]], np.int64)


def test_every_measurement_read_with_the_files_positions_ids_and_truth(acts_events):
    acts = pytest.importorskip("acts")
    events = list(read_acts_csv(acts_events))
    assert [e.event_id for e in events] == [5, 6]  # --first-event 5: ACTS' own event numbers
    for event in events:
        files = _files(acts_events, event.event_id)
        meas = files["measurements"]
        assert len(meas) > 300
        assert event.num_hits == len(meas)
        np.testing.assert_array_equal(event.hit_id, meas["measurement_id"].to_numpy())
        for axis in "xyz":
            np.testing.assert_allclose(getattr(event, axis), meas[f"global_{axis}"].to_numpy(), atol=1e-3)
        # geometry ids decoded as ACTS decodes them
        ids = [acts.GeometryIdentifier(int(g)) for g in meas["geometry_id"]]
        np.testing.assert_array_equal(event.volume_id, [g.volume for g in ids])
        np.testing.assert_array_equal(event.layer_id, [g.layer for g in ids])
        np.testing.assert_array_equal(event.module_id, [g.sensitive for g in ids])
        assert set(event.volume_id.tolist()) <= {7, 8, 9, 12, 13, 14, 16, 17, 18}
        # truth through measurement-simhit-map -> hits row -> barcode
        expected = _expected_particle_ids(files)
        assert (expected != 0).all()  # no noise in ACTS' digitisation
        np.testing.assert_array_equal(event.particle_id, expected)
        # the particle table: every particle of the file, hit counts from the measurements, pT from momentum
        table = files["particles_simulated"]
        order = np.argsort(event.particles.particle_id)
        file_ids = encode_barcode(*(table[c].to_numpy() for c in BARCODE))
        np.testing.assert_array_equal(np.sort(event.particles.particle_id), np.sort(file_ids))
        assert set(np.unique(event.particle_id).tolist()) <= set(file_ids.tolist())
        counts = pd.Series(expected).value_counts()
        nhits = dict(zip(event.particles.particle_id[order], event.particles.nhits[order]))
        assert all(nhits[p] == n for p, n in counts.items())
        row = {p: i for i, p in enumerate(file_ids)}
        pt = np.hypot(table["px"], table["py"]).to_numpy()
        got = event.particles.pt
        np.testing.assert_allclose(got, pt[[row[p] for p in event.particles.particle_id]], rtol=1e-5)


def test_packed_particle_id_layout_gives_the_same_truth(acts_events, tmp_path):
    """Older ACTS wrote one packed ``particle_id`` column in hits and particles: same ids, same truth."""
    current = list(read_acts_csv(acts_events))
    for path in acts_events.glob("event*.csv"):
        frame = pd.read_csv(path)
        if set(BARCODE) <= set(frame.columns):
            packed = encode_barcode(*(frame[c].to_numpy() for c in BARCODE)).view(np.uint64)
            frame = frame.drop(columns=BARCODE)
            frame.insert(0, "particle_id", packed)
        frame.to_csv(tmp_path / path.name, index=False)
    old = list(read_acts_csv(tmp_path))
    for a, b in zip(current, old):
        np.testing.assert_array_equal(a.particle_id, b.particle_id)
        np.testing.assert_array_equal(a.particles.particle_id, b.particles.particle_id)
        np.testing.assert_array_equal(a.particles.nhits, b.particles.nhits)


def test_local_coordinates_placed_on_actss_own_detectors_csv(acts_events, tmp_path):
    """The 2023 layout (no global_x/y/z): local coordinates on the modules of ACTS' CsvTrackingGeometryWriter
    (detectors.csv beside the events) land where ACTS put the measurements."""
    assert (acts_events / "detectors.csv").is_file()
    shutil.copy(acts_events / "detectors.csv", tmp_path / "detectors.csv")
    for path in acts_events.glob("event*.csv"):
        frame = pd.read_csv(path)
        if path.name.endswith("-measurements.csv"):
            frame = frame.drop(columns=["global_x", "global_y", "global_z"])
        frame.to_csv(tmp_path / path.name, index=False)
    for placed, event in zip(read_acts_csv(tmp_path), read_acts_csv(acts_events)):
        for axis in "xyz":
            np.testing.assert_allclose(getattr(placed, axis), getattr(event, axis), atol=2e-3)


def test_cells_keyed_by_measurement_id_as_acts_writes_them(acts_events):
    (event, _) = read_acts_csv(acts_events, cells=True)
    files = _files(acts_events, event.event_id)
    cells = files["cells"]
    assert len(cells) > 0 and "measurement_id" in cells.columns  # the current layout
    counts = cells.groupby("measurement_id").size()
    values = cells.groupby("measurement_id")["value"].sum()
    expected_count = counts.reindex(event.hit_id, fill_value=0).to_numpy()
    np.testing.assert_array_equal(event.meta["cells"]["count"], expected_count)
    np.testing.assert_allclose(event.meta["cells"]["value"], values.reindex(event.hit_id, fill_value=0), rtol=1e-5)
    # geometric digitisation (clusters of cells) in the pixel barrel only; smeared measurements have none
    has_cells = expected_count > 0
    assert has_cells.any()
    assert set(event.volume_id[has_cells].tolist()) == {8}
    assert (event.volume_id[~has_cells] != 8).all()


def test_legacy_cells_keyed_by_hit_id_from_actss_output(acts_events, tmp_path):
    """Older ACTS keyed cells by ``hit_id`` (the measurement's id): the same counts as the current layout."""
    for path in acts_events.glob("event*.csv"):
        frame = pd.read_csv(path)
        if path.name.endswith("-cells.csv"):
            frame = frame.rename(columns={"measurement_id": "hit_id"})
        frame.to_csv(tmp_path / path.name, index=False)
    for a, b in zip(read_acts_csv(acts_events, cells=True), read_acts_csv(tmp_path, cells=True)):
        np.testing.assert_array_equal(a.meta["cells"]["count"], b.meta["cells"]["count"])
        np.testing.assert_allclose(a.meta["cells"]["value"], b.meta["cells"]["value"])
