"""The simulated detector against the real TrackML geometry (detectors.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracking.simulation.geometry import trackml_detector


@pytest.fixture
def detectors(trackml_dir) -> pd.DataFrame:
    frame = pd.read_csv(trackml_dir / "detectors.csv.gz")
    frame["r"] = np.hypot(frame.cx, frame.cy)
    return frame


def test_layer_ids_match_trackml(detectors):
    det = trackml_detector()
    ours = {(layer.volume_id, layer.layer_id) for layer in det.layers}
    theirs = set(map(tuple, detectors[["volume_id", "layer_id"]].drop_duplicates().to_numpy().tolist()))
    assert ours == theirs


def test_barrel_radii_and_lengths(detectors):
    for layer in trackml_detector().barrels:
        mods = detectors[(detectors.volume_id == layer.volume_id) & (detectors.layer_id == layer.layer_id)]
        assert abs(mods.r.mean() - layer.r) < 2.0, (layer.volume_id, layer.layer_id)
        assert abs(mods.cz.abs().max() - layer.half_z) < 1.0
        assert len(mods) == layer.n_phi * layer.n_z


def test_disk_positions_and_module_counts(detectors):
    for disk in trackml_detector().disks:
        mods = detectors[(detectors.volume_id == disk.volume_id) & (detectors.layer_id == disk.layer_id)]
        assert abs(mods.cz.mean() - disk.z) < 6.0, (disk.volume_id, disk.layer_id)
        assert len(mods) == sum(ring.n_phi for ring in disk.rings)
        assert abs((mods.r - mods.module_hv).min() - disk.r_min) < 2.0
        assert abs((mods.r + mods.module_hv).max() - disk.r_max) < 2.0


def test_module_rows_cover_every_module():
    det = trackml_detector()
    rows = det.module_rows()
    assert len(rows["row_start"]) == len(det.layers) + 1
    for i in range(len(det.layers)):
        sel = slice(rows["row_start"][i], rows["row_start"][i + 1])
        ids = rows["id0"][sel]
        # ids run 1..n without gaps within a layer
        assert ids[0] == 0
        np.testing.assert_array_equal(ids[1:], np.cumsum(rows["n_phi"][sel])[:-1])
    assert det.num_modules == 18728
