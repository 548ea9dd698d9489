"""The real-module TrackML detector: the shipped module table, its lookup grid, and hits on real modules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracking import Event
from tracking.simulation import SimulationConfig, simulate_event
from tracking.simulation.make_geometry import main as make_geometry_main
from tracking.simulation.make_geometry import module_arrays
from tracking.simulation.modules import build_module_detector, load_module_table, trackml_module_detector
from tracking.simulation.realism import same_layer_fraction


@pytest.fixture(scope="module")
def event() -> Event:
    return simulate_event(mu=20, seed=3, event_id=1, config=SimulationConfig.for_detector("trackml"))


def _local(detector, module, x, y, z):
    """Local (u, v, w) of global points on the given modules."""
    offset = np.stack([x, y, z], 1).astype(np.float64) - detector["centre"][module]
    return np.einsum("ni,nij->nj", offset, detector["rotation"][module]).T


def _half_width(detector, module, v):
    hu_min, hu_max, hv = detector["half_u_min"][module], detector["half_u_max"][module], detector["half_v"][module]
    return hu_min + (hu_max - hu_min) * (v + hv) / (2 * hv)


def _rows(detector, hits):
    """Row of each hit's module in the table (``hits``: anything with volume_id, layer_id, module_id)."""
    key = lambda vol, lay, mod: (vol.astype(np.int64) * 100 + lay) * 100_000 + mod  # noqa: E731
    table = key(detector["volume_id"], detector["layer_id"], detector["module_id"])
    assert np.all(np.diff(table) > 0)
    wanted = key(np.asarray(hits.volume_id), np.asarray(hits.layer_id), np.asarray(hits.module_id))
    rows = np.searchsorted(table, wanted)
    assert np.all(table[np.minimum(rows, len(table) - 1)] == wanted), "hit on a module the detector lacks"
    return rows


def test_shipped_table_is_derived_from_detectors_csv(trackml_dir):
    derived = module_arrays(trackml_dir / "detectors.csv.gz")
    shipped = load_module_table()
    assert set(derived) == set(shipped)
    for name, values in derived.items():
        np.testing.assert_array_equal(shipped[name], values, err_msg=name)
    assert len(shipped["module_id"]) == 18728


def test_make_geometry_writes_a_loadable_table(trackml_dir, tmp_path, capsys):
    target = tmp_path / "modules.npz"
    make_geometry_main([str(trackml_dir / "detectors.csv.gz"), "-o", str(target)])
    assert "wrote" in capsys.readouterr().out
    assert target.stat().st_size < 2_000_000
    detector = build_module_detector(load_module_table(target))
    assert detector.num_modules == 18728 and detector.num_layers == 48


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "detectors.csv"
    bad.write_text("volume_id,layer_id,module_id,cx\n7,2,1,0.0\n")
    with pytest.raises(ValueError, match=r"detectors\.csv.*missing columns"):
        module_arrays(bad)
    with pytest.raises(FileNotFoundError, match="make_geometry"):
        load_module_table(tmp_path / "absent.npz")


def test_real_truth_hits_lie_in_their_modules(trackml_dir):
    """The trapezoid convention (half_u_min at v = -half_v) and the axes, checked on real TrackML truth."""
    hits = pd.read_csv(trackml_dir / "event000000001-hits.csv.gz")
    truth = pd.read_csv(trackml_dir / "event000000001-truth.csv.gz")
    hits = hits.merge(truth, on="hit_id")
    hits = hits[hits.particle_id != 0]
    detector = trackml_module_detector()
    rows = _rows(detector, hits)
    u, v, w = _local(detector, rows, hits.tx.to_numpy(), hits.ty.to_numpy(), hits.tz.to_numpy())
    assert np.abs(w).max() < 0.01
    assert np.all(np.abs(v) <= detector["half_v"][rows] + 1e-3)
    assert np.all(np.abs(u) <= _half_width(detector, rows, v) + 1e-3)


def test_every_module_is_in_the_grid_cell_of_its_centre():
    d = trackml_module_detector()
    centre = d["centre"]
    layer = d["layer"]
    barrel = d["kind"][layer] == 0
    coordinate = np.where(barrel, centre[:, 2], np.hypot(centre[:, 0], centre[:, 1]))
    phi = np.arctan2(centre[:, 1], centre[:, 0])
    ip = np.floor((phi + np.pi) / (2 * np.pi / d["n_phi"][layer])).astype(np.int64) % d["n_phi"][layer]
    ic = np.floor((coordinate - d["c_lo"][layer]) / d["c_step"][layer]).astype(np.int64)
    cell = d["cell_offset"][layer] + ip * d["n_c"][layer] + ic
    for m in range(d.num_modules):
        assert m in d["cell_modules"][d["cell_start"][cell[m]] : d["cell_start"][cell[m] + 1]], m


def test_hits_carry_real_ids_and_lie_on_their_module(event):
    detector = trackml_module_detector()
    rows = _rows(detector, event)
    u, v, w = _local(detector, rows, event.x, event.y, event.z)
    assert np.abs(w).max() < 1e-3  # measurements sit on the module's mid-plane
    assert np.all(np.abs(v) < detector["half_v"][rows] + 1e-3)
    assert np.all(np.abs(u) < _half_width(detector, rows, v) + detector["pitch_u"][rows])
    # Every volume and most layers are hit even at mu = 20.
    assert set(np.unique(event.volume_id).tolist()) == {7, 8, 9, 12, 13, 14, 16, 17, 18}


def test_measurement_is_the_cell_centre_of_the_true_crossing(event):
    detector = trackml_module_detector()
    signal = event.particle_id != 0
    rows = _rows(detector, event)[signal]
    truth = event.meta["sim_truth"]
    measured = _local(detector, rows, event.x[signal], event.y[signal], event.z[signal])
    true = _local(detector, rows, truth["true_x"][signal], truth["true_y"][signal], truth["true_z"][signal])
    assert np.abs(true[2]).max() < 1e-3  # the true crossing is on the module plane
    # float32 positions: a few microns of rounding on top of half a pitch.
    assert np.all(np.abs(measured[0] - true[0]) <= detector["pitch_u"][rows] / 2 + 5e-3)
    assert np.all(np.abs(measured[1] - true[1]) <= detector["pitch_v"][rows] / 2 + 5e-3)


def test_overlapping_modules_give_same_layer_double_hits(event):
    fraction, segments = same_layer_fraction(event)
    assert segments > 1000
    # Real TrackML event 1: 26 % of truth segments stay on one layer (see tracking.simulation.realism).
    assert 0.15 < fraction < 0.40
    signal = event.particle_id != 0
    frame = pd.DataFrame({c: getattr(event, c)[signal] for c in ("particle_id", "volume_id", "layer_id", "module_id")})
    per_layer = frame.groupby(["particle_id", "volume_id", "layer_id"]).module_id.agg(["size", "nunique"])
    doubles = per_layer[per_layer["size"] > 1]
    assert len(doubles) > 100
    assert np.all(doubles["nunique"] == doubles["size"])  # two hits on one layer are on two modules


def test_hit_order_along_the_particle(event):
    truth = event.meta["sim_truth"]
    signal = np.flatnonzero(event.particle_id != 0)
    order = signal[np.lexsort((truth["index"][signal], event.particle_id[signal]))]
    pid = event.particle_id[order]
    same = pid[1:] == pid[:-1]
    first = np.r_[True, ~same]
    # index runs 0, 1, 2, ... along each particle and the hits move away from the vertex (first half-turn).
    assert np.all(truth["index"][order][first] == 0)
    assert np.all(np.diff(truth["index"][order])[same] == 1)
    np.testing.assert_array_less(truth["true_t"][order][:-1][same], truth["true_t"][order][1:][same] + 1e-9)


def test_same_seed_same_event(event):
    again = simulate_event(mu=20, seed=3, event_id=1, config=SimulationConfig.for_detector("trackml"))
    for name in ("x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id"):
        np.testing.assert_array_equal(getattr(event, name), getattr(again, name))
    assert event.meta["detector"] == "trackml"


def test_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="tiled, trackml"):
        SimulationConfig.for_detector("atlas")
    with pytest.raises(ValueError, match="SimulationConfig.detector"):
        simulate_event(mu=1, config=SimulationConfig(detector="atlas"))  # type: ignore[arg-type]
