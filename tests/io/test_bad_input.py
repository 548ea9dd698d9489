"""Bad input to both readers: every failure is a DataError that names file, tree/column, branch and event."""

from __future__ import annotations

import gzip
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from tracking.errors import ConfigError, DataError
from tracking.io.acts_root import ActsRootReader, read_acts_root
from tracking.io.trackml_csv import TrackmlCsvReader, read_trackml_csv

BARCODE = ("vertex_primary", "vertex_secondary", "particle", "generation", "sub_particle")


def measurement_columns(event_sizes: dict[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Flat measurement branches, events in the order given."""
    rng = np.random.default_rng(seed)
    n = sum(event_sizes.values())
    return {
        "event_nr": np.concatenate([np.full(k, e, np.uint32) for e, k in event_sizes.items()]),
        "volume_id": np.full(n, 8, np.uint32),
        "layer_id": np.full(n, 2, np.uint32),
        "surface_id": rng.integers(0, 100, n).astype(np.uint32),
        "rec_gx": rng.normal(size=n).astype(np.float32),
        "rec_gy": rng.normal(size=n).astype(np.float32),
        "rec_gz": rng.normal(size=n).astype(np.float32),
    }


def write_measurements(directory: Path, columns: dict, tree: str = "measurements", batches: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "measurements.root"
    with uproot.recreate(path) as f:
        t = f.mktree(tree, {k: (v.dtype if isinstance(v, np.ndarray) else v.type.content) for k, v in columns.items()})
        n = len(next(iter(columns.values())))
        step = -(-n // batches)
        for start in range(0, n, step):
            t.extend({k: v[start : start + step] for k, v in columns.items()})
    return path


def read_all(source, **config):
    return list(read_acts_root(source, **config))


# -- ACTS ROOT -------------------------------------------------------------------------------------------


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as err:
        read_all(tmp_path / "nowhere")
    assert err.value.file == str(tmp_path / "nowhere")
    with pytest.raises(DataError, match="missing measurements.root") as err:
        read_all(tmp_path)
    assert err.value.file == str(tmp_path / "measurements.root")


def test_missing_tree(tmp_path):
    write_measurements(tmp_path, measurement_columns({0: 3}), tree="meas")
    with pytest.raises(DataError, match="missing tree.*meas") as err:
        read_all(tmp_path)
    assert err.value.tree == "measurements" and err.value.file.endswith("measurements.root")


@pytest.mark.parametrize("dropped", ["event_nr", "rec_gy", "surface_id"])
def test_missing_branch(tmp_path, dropped):
    columns = measurement_columns({0: 3, 1: 2})
    del columns[dropped]
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="missing branch") as err:
        read_all(tmp_path)
    assert (err.value.branch, err.value.tree) == (dropped, "measurements")


def test_missing_mapped_branch_names_the_file_name(tmp_path):
    write_measurements(tmp_path, measurement_columns({0: 3}))
    with pytest.raises(DataError, match="mapped from 'rec_gx'") as err:
        read_all(tmp_path, measurement_branches={"rec_gx": "gx"})
    assert err.value.branch == "gx"


def test_incomplete_barcode(tmp_path):
    import awkward as ak

    columns = measurement_columns({0: 2})
    for name in BARCODE[:4]:
        columns[f"particles_{name}"] = ak.values_astype(ak.Array([[1], []]), np.uint32)
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="incomplete barcode") as err:
        read_all(tmp_path)
    assert err.value.branch == "particles_sub_particle"


def test_integral_floats_are_accepted_for_integer_branches(tmp_path):
    columns = measurement_columns({4: 3, 9: 2})
    expected = columns["surface_id"].astype(np.int32)
    columns["event_nr"] = columns["event_nr"].astype(np.float64)
    columns["surface_id"] = columns["surface_id"].astype(np.float32)
    columns["volume_id"] = columns["volume_id"].astype(np.int64)
    write_measurements(tmp_path, columns)
    out = read_all(tmp_path)
    assert [e.event_id for e in out] == [4, 9]
    np.testing.assert_array_equal(np.concatenate([e.module_id for e in out]), expected)


@pytest.mark.parametrize(
    ("branch", "value", "message"),
    [
        ("volume_id", 1.5, "not an integer"),
        ("layer_id", 2**40, "does not fit in int32"),
        ("event_nr", np.nan, "not an integer"),
    ],
)
def test_wrong_integer_values(tmp_path, branch, value, message):
    columns = measurement_columns({0: 3, 5: 4})
    columns[branch] = columns[branch].astype(np.float64 if isinstance(value, float) else np.int64)
    columns[branch][4] = value
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match=message) as err:
        read_all(tmp_path)
    assert err.value.branch == branch and err.value.file.endswith("measurements.root")
    if branch != "event_nr":  # a bad event number belongs to no event
        assert err.value.event == 5


def test_string_like_dtype_is_rejected(tmp_path):
    columns = measurement_columns({0: 3})
    columns["layer_id"] = np.array([True, False, True])
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="bool") as err:
        read_all(tmp_path)
    assert err.value.branch == "layer_id"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_coordinates(tmp_path, bad):
    columns = measurement_columns({1: 3, 2: 3, 3: 3})
    columns["rec_gy"][4] = bad
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="non-finite") as err:
        read_all(tmp_path, chunk_entries=100)
    assert (err.value.branch, err.value.event, err.value.tree) == ("rec_gy", 2, "measurements")
    # the events before the bad one are still delivered
    reader = read_acts_root(tmp_path, chunk_entries=3)
    assert next(reader).event_id == 1
    with pytest.raises(DataError):
        next(reader)


def test_jagged_where_flat_expected(tmp_path):
    import awkward as ak

    columns = measurement_columns({0: 2})
    columns["rec_gx"] = ak.values_astype(ak.Array([[1.0], [2.0, 3.0]]), np.float32)
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="one value per entry") as err:
        read_all(tmp_path)
    assert err.value.branch == "rec_gx"


def test_split_event_is_an_error(tmp_path):
    columns = measurement_columns({0: 3, 1: 2})
    columns = {k: np.concatenate([v, v[:1]]) for k, v in columns.items()}  # event 0 again after event 1
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="not contiguous") as err:
        read_all(tmp_path, chunk_entries=2)
    assert err.value.event == 0 and err.value.branch == "event_nr"


def test_requested_event_absent(tmp_path):
    write_measurements(tmp_path, measurement_columns({0: 3, 1: 2}))
    with pytest.raises(DataError, match="not in the file") as err:
        ActsRootReader(ActsRootReader.Config(events=[1, 8])).count(tmp_path)
    assert err.value.event == 8


def test_required_truth_absent(tmp_path):
    write_measurements(tmp_path, measurement_columns({0: 3}))
    with pytest.raises(DataError, match="particles file is missing"):
        read_all(tmp_path, truth=True)
    (tmp_path / "particles.root").unlink(missing_ok=True)
    with uproot.recreate(tmp_path / "particles.root") as f:
        f.mktree("particles", {"event_id": np.uint32}).extend({"event_id": np.array([0], np.uint32)})
    with pytest.raises(DataError, match="truth required.*neither barcode branches") as err:
        read_all(tmp_path, truth=True)
    assert err.value.tree == "measurements"


def test_particles_tree_without_ids(tmp_path):
    write_measurements(tmp_path, measurement_columns({0: 3}))
    with uproot.recreate(tmp_path / "particles.root") as f:
        f.mktree(
            "particles",
            {
                "event_id": np.uint32,
                "pt": "var * float32",
                "eta": "var * float32",
                "phi": "var * float32",
                "vx": "var * float32",
                "vy": "var * float32",
                "vz": "var * float32",
                "q": "var * float32",
            },
        )
    with pytest.raises(DataError, match="neither barcode branches nor 'particle_id'") as err:
        read_all(tmp_path)
    assert err.value.tree == "particles" and err.value.file.endswith("particles.root")


def test_bad_particle_column_in_old_layout_file_names_the_branch(tmp_path):
    # older files: one particle_id branch and no number_of_hits (so nhits is counted from the hits)
    columns = measurement_columns({3: 4})
    columns["particle_id"] = np.array([11, 12, 11, 0], np.uint64)
    write_measurements(tmp_path, columns)
    with uproot.recreate(tmp_path / "particles.root") as f:
        types = {
            "event_id": np.uint32,
            "particle_id": "var * uint64",
            **{k: "var * float32" for k in ("pt", "eta", "phi", "vx", "vy", "vz", "q")},
        }
        values = {k: ak.Array([np.ones(2, np.float32)]) for k in ("pt", "eta", "phi", "vx", "vy", "vz")}
        f.mktree("particles", types).extend(
            {
                "event_id": np.array([3], np.uint32),
                "particle_id": ak.Array([np.array([11, 12], np.uint64)]),
                "q": ak.Array([np.array([1.0, 0.5], np.float32)]),
                **values,
            }
        )
    with pytest.raises(DataError, match="not an integer") as err:
        read_all(tmp_path)
    assert err.value.file == str(tmp_path / "particles.root")
    assert (err.value.tree, err.value.branch, err.value.event) == ("particles", "q", 3)


def test_bad_config():
    with pytest.raises(ConfigError, match="chunk_entries"):
        ActsRootReader(ActsRootReader.Config(chunk_entries=0))
    with pytest.raises(ConfigError, match="pT"):
        ActsRootReader(ActsRootReader.Config(particle_branches={"pT": "pt"}))


@pytest.fixture
def good_file(tmp_path) -> bytes:
    columns = measurement_columns({e: 3000 for e in range(4)}, seed=1)
    path = write_measurements(tmp_path / "good", columns, batches=4)
    return path.read_bytes()


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.5, 0.9, 0.999])
def test_truncated_root_file(tmp_path, good_file, fraction):
    target = tmp_path / "cut"
    target.mkdir()
    (target / "measurements.root").write_bytes(good_file[: int(len(good_file) * fraction)])
    with pytest.raises(DataError, match="truncated or corrupt|missing tree") as err:
        read_all(target)
    assert err.value.file == str(target / "measurements.root")


@pytest.mark.parametrize("offset", [0.2, 0.45, 0.7, 0.95])
def test_corrupt_root_file(tmp_path, good_file, offset):
    data = bytearray(good_file)
    start = int(len(data) * offset)
    data[start : start + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    target = tmp_path / "corrupt"
    target.mkdir()
    (target / "measurements.root").write_bytes(bytes(data))
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        read_all(target)
    assert err.value.file == str(target / "measurements.root")


def test_not_a_root_file(tmp_path):
    (tmp_path / "measurements.root").write_text("hit_id,x\n1,2\n")
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        read_all(tmp_path)
    assert err.value.file.endswith("measurements.root")


# -- TrackML CSV ---------------------------------------------------------------------------------------

HITS = "hit_id,x,y,z,volume_id,layer_id,module_id\n1,1.0,2.0,3.0,8,2,1\n2,4.0,5.0,6.0,8,4,2\n"


def write_hits(directory: Path, text: str = HITS, event_id: int = 5, suffix: str = ".csv") -> Path:
    path = directory / f"event{event_id:09d}-hits{suffix}"
    if suffix.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_csv_missing_paths(tmp_path):
    with pytest.raises(DataError, match="missing hits file"):
        read_trackml_csv(tmp_path / "event000000001")
    with pytest.raises(DataError, match="no such file"):
        read_trackml_csv(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no event"):
        read_trackml_csv(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a TrackML event path"):
        read_trackml_csv(tmp_path / "notes.txt")
    (tmp_path / "event000000003-truth.csv").write_text("hit_id,particle_id\n")
    with pytest.raises(DataError, match="missing hits file") as err:
        read_trackml_csv(tmp_path / "event000000003-truth.csv")
    assert err.value.event == 3


def test_csv_missing_column(tmp_path):
    path = write_hits(tmp_path, HITS.replace(",z,", ",zz,"))
    with pytest.raises(DataError, match="missing column") as err:
        list(read_trackml_csv(tmp_path))
    assert (err.value.branch, err.value.event, err.value.file) == ("z", 5, str(path))


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (HITS.replace("8,2,1\n", "8.5,2,1\n"), "volume_id"),
        (HITS.replace("1,1.0,", "one,1.0,"), "hit_id"),
        (HITS.replace("8,4,2\n", "8,4,99999999999\n"), "module_id"),
    ],
)
def test_csv_wrong_dtype(tmp_path, text, column):
    write_hits(tmp_path, text)
    with pytest.raises(DataError) as err:
        list(read_trackml_csv(tmp_path))
    assert (err.value.branch, err.value.event) == (column, 5)


def test_csv_integral_float_in_id_column_is_accepted(tmp_path):
    write_hits(tmp_path, HITS.replace("8,4,2\n", "8,4,2.0\n"))
    (event,) = read_trackml_csv(tmp_path)
    np.testing.assert_array_equal(event.module_id, [1, 2])


@pytest.mark.parametrize("value", ["nan", "", "inf"])
def test_csv_non_finite_coordinate(tmp_path, value):
    write_hits(tmp_path, HITS.replace("5.0,6.0", f"{value},6.0"))
    with pytest.raises(DataError, match="non-finite") as err:
        list(read_trackml_csv(tmp_path))
    assert (err.value.branch, err.value.event) == ("y", 5)


def test_csv_duplicate_hit_ids_and_missing_truth_rows(tmp_path):
    write_hits(tmp_path, HITS.replace("2,4.0", "1,4.0"))
    with pytest.raises(DataError, match="repeat"):
        list(read_trackml_csv(tmp_path))
    write_hits(tmp_path)
    (tmp_path / "event000000005-truth.csv").write_text("hit_id,particle_id\n1,7\n")
    with pytest.raises(DataError, match="no truth row, first hit_id 2") as err:
        list(read_trackml_csv(tmp_path))
    assert err.value.file.endswith("truth.csv")
    with pytest.raises(DataError, match="missing particles file"):
        list(read_trackml_csv(tmp_path, truth=True))


def test_csv_plain_and_gzip_side_by_side(tmp_path):
    write_hits(tmp_path)
    write_hits(tmp_path, suffix=".csv.gz")
    with pytest.raises(DataError, match="remove one") as err:
        read_trackml_csv(tmp_path)
    assert err.value.event == 5


def test_csv_empty_and_truncated_files(tmp_path):
    path = write_hits(tmp_path, "")
    with pytest.raises(DataError, match="cannot read CSV") as err:
        list(read_trackml_csv(tmp_path))
    assert err.value.file == str(path)
    path.unlink()
    gz = write_hits(tmp_path, HITS * 200, suffix=".csv.gz")
    gz.write_bytes(gz.read_bytes()[:-20])
    with pytest.raises(DataError) as err:
        list(read_trackml_csv(tmp_path))
    assert err.value.file == str(gz)


def test_csv_detectors(tmp_path):
    write_hits(tmp_path)
    detectors = tmp_path / "detectors.csv"
    pd.DataFrame({"volume_id": [8, 8], "layer_id": [2, 4], "module_id": [1, 3], "cx": [0.0, 1.0]}).to_csv(
        detectors, index=False
    )
    reader = TrackmlCsvReader(TrackmlCsvReader.Config(detectors=str(detectors)))
    with pytest.raises(DataError, match=r"absent from .*\(8, 4, 2\)") as err:
        list(reader(tmp_path))
    assert err.value.event == 5
    with pytest.raises(DataError, match="detectors file not found"):
        read_trackml_csv(tmp_path, detectors=str(tmp_path / "nope.csv"))
    with pytest.raises(ConfigError, match="detectors"):
        TrackmlCsvReader().module_geometry(next(iter(read_trackml_csv(tmp_path))))
