"""Generic columnar reader (Parquet/CSV with a column mapping), event_from_columns and write_events."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracking import registry
from tracking.errors import ConfigError, DataError
from tracking.io import event_from_columns, write_events
from tracking.io.columnar import ColumnarReader
from tracking.io.detect import reader_for

pytest.importorskip("pyarrow")

DOC = Path(__file__).resolve().parents[2] / "docs" / "your-detector.md"


def _event(event_id: int, n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed + event_id)
    pids = np.array([0, 11, 22, 33], np.int64)
    return event_from_columns(
        event_id,
        hits={
            "hit_id": np.arange(100, 100 + n),
            "x": rng.normal(0, 100, n),
            "y": rng.normal(0, 100, n),
            "z": rng.normal(0, 300, n),
            "volume_id": np.full(n, 8),
            "layer_id": rng.integers(0, 4, n),
            "module_id": rng.integers(0, 100, n),
            "particle_id": pids[rng.integers(0, 4, n)],
        },
        particles={
            "particle_id": pids[1:],
            "px": [1.0, 0.5, -2.0],
            "py": [0.0, 0.5, 1.0],
            "pz": [0.3, -1.0, 4.0],
            "vx": [0.0, 0.0, 0.1],
            "vy": [0.0, 0.0, 0.0],
            "vz": [1.0, -3.0, 5.0],
            "q": [1, -1, 1],
        },
    )


def _same(a, b) -> None:
    assert a.event_id == b.event_id
    for name in ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("particle_id", "pt", "eta", "phi", "vx", "vy", "vz", "q", "nhits"):
        np.testing.assert_allclose(getattr(a.particles, name), getattr(b.particles, name), rtol=1e-6, err_msg=name)


def test_event_from_columns_derives_kinematics_and_nhits():
    event = _event(3)
    p = event.particles
    np.testing.assert_allclose(p.pt, [1.0, np.hypot(0.5, 0.5), np.hypot(2, 1)], rtol=1e-6)
    np.testing.assert_allclose(p.phi, [0.0, np.pi / 4, np.arctan2(1, -2)], rtol=1e-6)
    np.testing.assert_array_equal(p.nhits, [(event.particle_id == i).sum() for i in (11, 22, 33)])
    with pytest.raises(DataError, match=r"not an integer.*branch 'layer_id'.*event 1"):
        event_from_columns(1, {"x": [0.0], "y": [0.0], "z": [0.0], "layer_id": [1.5]})
    with pytest.raises(DataError, match="particles need pt, eta, phi or px, py, pz"):
        event_from_columns(
            1, {"x": [0.0], "y": [0.0], "z": [0.0]}, {"particle_id": [1], "vx": [0], "vy": [0], "vz": [0], "q": [1]}
        )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_events_round_trip(tmp_path, fmt):
    events = [_event(e) for e in (5, 2, 9)]
    assert write_events(iter(events), tmp_path / "out", format=fmt) == 3
    assert reader_for(tmp_path / "out") == "columnar"
    reader = registry.create("reader", "columnar")
    assert reader.event_numbers(tmp_path / "out") == [2, 5, 9]
    back = {e.event_id: e for e in reader(tmp_path / "out")}
    for event in events:
        _same(event, back[event.event_id])
    (only,) = registry.create("reader", "columnar", {"events": [5]})(tmp_path / "out")
    _same(events[0], only)


@pytest.mark.parametrize(("fmt", "reader"), [("trackml", "trackml_csv"), ("acts_root", "acts_root")])
def test_write_events_trackml_and_acts_root_are_read_back(tmp_path, fmt, reader):
    events = [_event(e) for e in (1, 2)]
    assert write_events(events, tmp_path, format=fmt) == 2
    assert reader_for(tmp_path) == reader
    back = list(registry.create("reader", reader)(tmp_path))
    np.testing.assert_allclose(back[1].x, events[1].x)
    np.testing.assert_array_equal(back[1].module_id, events[1].module_id)
    np.testing.assert_array_equal(back[1].particle_id, events[1].particle_id)
    np.testing.assert_allclose(np.sort(back[1].particles.pt), np.sort(events[1].particles.pt), rtol=1e-5)


def test_write_events_rejects_unknown_format(tmp_path):
    events = [_event(1)]
    with pytest.raises(ConfigError, match="format must be one of"):
        write_events(events, tmp_path, format="root")  # type: ignore[arg-type]


def test_parquet_with_column_mapping_event_column_and_units(tmp_path):
    # a user's table: other names, an event column, lengths in cm, momenta in MeV
    hits = pd.DataFrame(
        {
            "evt": [7, 7, 7, 8, 8],
            "hit_x": [1.0, 2.0, 3.0, 4.0, 5.0],
            "hit_y": [0.0, 0.1, 0.2, 0.3, 0.4],
            "hit_z": [10.0, 20.0, 30.0, 40.0, 50.0],
            "plane": [0, 1, 2, 0, 1],
            "mc": [1, 1, 0, 2, 2],
        }
    )
    hits.to_parquet(tmp_path / "my_hits.parquet")
    pd.DataFrame(
        {
            "evt": [7, 8],
            "mc": [1, 2],
            "mom_x": [1000.0, 0.0],
            "mom_y": [0.0, 2000.0],
            "mom_z": [0.0, 0.0],
            "vtx_x": [0.0, 0.0],
            "vtx_y": [0.0, 0.0],
            "vtx_z": [0.5, -0.5],
            "charge": [1, -1],
        }
    ).to_parquet(tmp_path / "my_particles.parquet")
    config = {
        "columns": {
            "event_id": "evt",
            "x": "hit_x",
            "y": "hit_y",
            "z": "hit_z",
            "layer_id": "plane",
            "particle_id": "mc",
        },
        "particle_columns": {
            "event_id": "evt",
            "particle_id": "mc",
            "px": "mom_x",
            "py": "mom_y",
            "pz": "mom_z",
            "vx": "vtx_x",
            "vy": "vtx_y",
            "vz": "vtx_z",
            "q": "charge",
        },
        "length_unit": 10.0,
        "momentum_unit": 0.001,
    }
    assert reader_for(tmp_path) == "columnar"
    first, second = registry.create("reader", "columnar", config)(tmp_path)
    assert (first.event_id, second.event_id) == (7, 8)
    np.testing.assert_allclose(first.x, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(first.hit_id, [0, 1, 2])
    np.testing.assert_array_equal(first.layer_id, [0, 1, 2])
    np.testing.assert_array_equal(first.particle_id, [1, 1, 0])
    assert first.volume_id is None
    np.testing.assert_allclose(second.particles.pt, [2.0])
    np.testing.assert_allclose(second.particles.vz, [-5.0])
    np.testing.assert_array_equal(second.particles.nhits, [2])

    with pytest.raises(DataError, match=r"missing column 'x' for x.*'columns'.*my_hits\.parquet.*event 7"):
        next(registry.create("reader", "columnar", {"columns": {"event_id": "evt"}})(tmp_path))
    with pytest.raises(ConfigError, match="unknown field"):
        registry.create("reader", "columnar", {"columns": {"hitx": "x"}})


def test_one_file_per_event_csv(tmp_path):
    for e in (3, 12):
        pd.DataFrame({"x": [1.0 * e], "y": [0.0], "z": [0.0], "particle_id": [4]}).to_csv(
            tmp_path / f"event{e}-hits.csv", index=False
        )
        pd.DataFrame(
            {
                "particle_id": [4],
                "pt": [1.0],
                "eta": [0.0],
                "phi": [0.0],
                "vx": [0.0],
                "vy": [0.0],
                "vz": [0.0],
                "q": [1],
            }
        ).to_csv(tmp_path / f"event{e}-particles.csv", index=False)
    reader = ColumnarReader()
    events = list(reader(tmp_path))
    assert [e.event_id for e in events] == [3, 12]
    np.testing.assert_allclose(events[1].x, [12.0])
    np.testing.assert_array_equal(events[1].particles.nhits, [1])


def test_the_documented_converter_runs(tmp_path, monkeypatch):
    """The ~10-line converter of docs/your-detector.md, on files of the made-up format it describes."""
    text = DOC.read_text()
    code = re.search(r"<!-- converter example -->\s*```python\n(.*?)```", text, re.S)
    assert code is not None, "docs/your-detector.md lost its converter example"
    data = tmp_path / "my_data"
    data.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        n = 30
        np.savez(
            data / f"run1_evt{i}.npz",
            hx=rng.normal(size=n),
            hy=rng.normal(size=n),
            hz=rng.normal(size=n),
            plane=rng.integers(0, 26, n),
            mc=rng.integers(0, 4, n),
            mc_key=np.array([1, 2, 3]),
            mc_px=rng.normal(size=3) * 1000,
            mc_py=rng.normal(size=3) * 1000,
            mc_pz=rng.normal(size=3) * 1000,
            mc_vtx=np.zeros((3, 3)),
            mc_charge=np.array([1, -1, 1]),
        )
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), str(DOC), "exec"), {})
    events = list(registry.create("reader", "columnar")(tmp_path / "converted"))
    assert len(events) == 3 and events[2].num_hits == 30
    assert events[0].particles is not None and len(events[0].particles) == 3


def test_bad_values_name_the_file_column_and_event(tmp_path):
    pd.DataFrame({"evt": [4, 4], "hx": [0.0, 1.0], "y": [0.0, 0.0], "z": [0.0, 0.0], "plane": [1.0, 2.5]}).to_parquet(
        tmp_path / "hits.parquet"
    )
    reader = registry.create("reader", "columnar", {"columns": {"event_id": "evt", "x": "hx", "layer_id": "plane"}})
    with pytest.raises(DataError, match=r"not an integer.*at row 1.*hits\.parquet.*branch 'plane'.*event 4"):
        next(reader(tmp_path))
