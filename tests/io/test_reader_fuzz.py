"""Fuzzing both readers: mutated bytes, truncated files, shuffled columns, wrong types.

Every outcome must be a valid event or trackpipe's own error (a TrackpipeError subclass): no other
exception, no crash, no hang (each example runs under an alarm). Reading goes on after a bad event, as a
runner does. Shuffling columns or branches must not change the events at all.

Bounded for CI (a fixed, derandomised set of examples, well under a minute); ``TRACKPIPE_FUZZ_EXAMPLES=N``
explores more (random examples).
"""

from __future__ import annotations

import gzip
import os
import signal
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tracking.errors import TrackpipeError
from tracking.event import Event
from tracking.io.acts_root import ActsRootReader
from tracking.io.columns import COORDINATE_LIMIT_MM, EVENT_NUMBER_MAX
from tracking.io.trackml_csv import TrackmlCsvReader

EXPLORE = int(os.environ.get("TRACKPIPE_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXPLORE or 12,
    derandomize=not EXPLORE,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking ROOT files is slow; failures print their input
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SECONDS_PER_EXAMPLE = 20


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"reading took more than {SECONDS_PER_EXAMPLE} s")


def read_everything(reader, source) -> tuple[list[Event], list[TrackpipeError]]:
    """Every event the reader gives, and every trackpipe error it raises; any other exception propagates."""
    events: list[Event] = []
    errors: list[TrackpipeError] = []
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_EXAMPLE)
    try:
        try:
            reader.count(source)
            pending = reader.pending_events(source)
        except TrackpipeError as err:
            return events, [err]
        for event_id, read in pending:
            try:
                event = read()
            except TrackpipeError as err:
                errors.append(err)
                continue
            assert event.event_id == event_id
            events.append(event)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    for event in events:
        check_valid(event)
    return events, errors


def check_valid(event: Event) -> None:
    n = len(event.hit_id)
    assert 0 <= event.event_id <= EVENT_NUMBER_MAX
    for name in ("x", "y", "z"):
        values = np.asarray(getattr(event, name))
        assert values.dtype == np.float32 and len(values) == n
        assert np.all(np.isfinite(values)) and np.all(np.abs(values) <= COORDINATE_LIMIT_MM)
    for name in ("volume_id", "layer_id", "module_id"):
        values = getattr(event, name)
        assert values is None or (np.asarray(values).dtype == np.int32 and len(values) == n)
    assert event.particle_id is None or len(event.particle_id) == n
    assert np.all(np.isfinite(np.asarray(event.r)))  # the derived fields a stage would use


def same_events(a: list[Event], b: list[Event]) -> None:
    assert [e.event_id for e in a] == [e.event_id for e in b]
    for x, y in zip(a, b):
        for name in ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)


# -- TrackML CSV -----------------------------------------------------------------------------------------


def csv_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n, p = 12, 4
    hits = pd.DataFrame(
        {
            "hit_id": np.arange(1, n + 1),
            "x": rng.normal(0, 100, n).round(3),
            "y": rng.normal(0, 100, n).round(3),
            "z": rng.normal(0, 500, n).round(3),
            "volume_id": rng.choice([7, 8, 9], n),
            "layer_id": rng.choice([2, 4, 6], n),
            "module_id": rng.integers(1, 2000, n),
        }
    )
    pids = np.arange(1, p + 1) * 4503599627370496
    truth = pd.DataFrame(
        {"hit_id": hits["hit_id"], "particle_id": np.where(rng.random(n) < 0.8, rng.choice(pids, n), 0)}
    )
    particles = pd.DataFrame(
        {
            "particle_id": pids,
            "vx": rng.normal(0, 0.01, p),
            "vy": rng.normal(0, 0.01, p),
            "vz": rng.normal(0, 50, p),
            "px": rng.normal(0, 1, p),
            "py": rng.normal(0, 1, p),
            "pz": rng.normal(0, 1, p),
            "q": rng.choice([-1, 1], p),
            "nhits": rng.integers(1, 10, p),
        }
    )
    return {"hits": hits, "truth": truth, "particles": particles}


PARTS = ("hits", "truth", "particles")
TOKENS = [
    "abc",
    "",
    "nan",
    "inf",
    "-inf",
    "-1",
    "1e20",
    "1e39",
    "1.5",
    "99999999999999999999",
    "0x10",
    "True",
    '"',
    "1,2",
    " ",
    "\x00",
    "é",
]

csv_mutation = st.one_of(
    st.tuples(
        st.just("flip"),
        st.sampled_from(PARTS),
        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
    ),
    st.tuples(st.just("truncate"), st.sampled_from(PARTS), st.floats(0, 1)),
    st.tuples(st.just("cell"), st.sampled_from(PARTS), st.integers(0, 20), st.integers(0, 9), st.sampled_from(TOKENS)),
    st.tuples(
        st.just("header"),
        st.sampled_from(PARTS),
        st.integers(0, 9),
        st.sampled_from(["", "x", "hit_id", "X", "module_id"]),
    ),
    st.tuples(st.just("gzip"), st.sampled_from(PARTS), st.floats(0, 1), st.booleans()),
    st.tuples(st.just("drop_file"), st.sampled_from(PARTS[1:])),
)


def write_csv_event(directory: Path, tables: dict[str, pd.DataFrame], event_id: int) -> None:
    for part, table in tables.items():
        (directory / f"event{event_id:09d}-{part}.csv").write_text(table.to_csv(index=False))


def apply_csv_mutation(directory: Path, event_id: int, mutation: tuple) -> None:
    kind, part = mutation[0], mutation[1]
    path = directory / f"event{event_id:09d}-{part}.csv"
    if not path.exists():
        return
    data = path.read_bytes()
    if kind == "flip" and data:
        buf = bytearray(data)
        for where, byte in mutation[2]:
            buf[min(int(where * len(buf)), len(buf) - 1)] = byte
        path.write_bytes(bytes(buf))
    elif kind == "truncate":
        path.write_bytes(data[: int(mutation[2] * len(data))])
    elif kind in ("cell", "header"):
        lines = data.decode("latin-1").split("\n")
        row = 0 if kind == "header" else 1 + mutation[2] % max(len(lines) - 2, 1)
        cells = lines[row].split(",")
        cells[mutation[-2] % len(cells)] = mutation[-1]
        lines[row] = ",".join(cells)
        path.write_bytes("\n".join(lines).encode("latin-1", errors="replace"))
    elif kind == "gzip":
        packed = gzip.compress(data)
        if mutation[3]:
            packed = packed[: int(mutation[2] * len(packed))]
        path.unlink()
        path.with_name(path.name + ".gz").write_bytes(packed)
    elif kind == "drop_file":
        path.unlink()


@FUZZ
@given(
    mutations=st.lists(csv_mutation, min_size=1, max_size=3),
    shuffle=st.permutations(range(7)),
    truth=st.sampled_from([None, True, False]),
)
def test_fuzz_trackml_csv(tmp_path_factory, mutations, shuffle, truth):
    directory = tmp_path_factory.mktemp("csv")
    tables = csv_tables()
    good = csv_tables()
    tables["hits"] = tables["hits"][[tables["hits"].columns[i] for i in shuffle]]
    for event_id in (1, 2, 3):
        write_csv_event(directory, tables, event_id)
    for mutation in mutations:
        apply_csv_mutation(directory, 2, mutation)  # event 2 is damaged; 1 and 3 must come out intact
    reader = TrackmlCsvReader(TrackmlCsvReader.Config(truth=truth))
    events, errors = read_everything(reader, directory)
    intact = [e for e in events if e.event_id != 2]
    reference_dir = tmp_path_factory.mktemp("ref")
    write_csv_event(reference_dir, good, 1)
    write_csv_event(reference_dir, good, 3)
    same_events(intact, list(TrackmlCsvReader(TrackmlCsvReader.Config(truth=truth))(reference_dir)))
    for err in errors:
        assert getattr(err, "file", None) is not None or "event" in str(err)


# -- ACTS ROOT -------------------------------------------------------------------------------------------

BARCODE = ("vertex_primary", "vertex_secondary", "particle", "generation", "sub_particle")


def acts_measurements(seed: int = 0) -> dict[str, np.ndarray | ak.Array]:
    rng = np.random.default_rng(seed)
    sizes = {0: 5, 1: 4, 2: 6}
    n = sum(sizes.values())
    columns: dict[str, np.ndarray | ak.Array] = {
        "event_nr": np.concatenate([np.full(k, e, np.uint32) for e, k in sizes.items()]),
        "volume_id": rng.choice([7, 8, 9], n).astype(np.uint32),
        "layer_id": rng.choice([2, 4], n).astype(np.uint32),
        "surface_id": rng.integers(1, 500, n).astype(np.uint32),
        "rec_gx": rng.normal(0, 100, n).astype(np.float32),
        "rec_gy": rng.normal(0, 100, n).astype(np.float32),
        "rec_gz": rng.normal(0, 500, n).astype(np.float32),
    }
    has = rng.random(n) < 0.8
    for name in BARCODE:
        value = 1 if name in ("vertex_primary", "particle") else 0
        columns[f"particles_{name}"] = ak.values_astype(ak.Array([[value] if h else [] for h in has]), np.uint32)
    return columns


def write_tree(path: Path, tree: str, columns: dict) -> None:
    with uproot.recreate(path) as f:
        types = {k: (v.dtype if isinstance(v, np.ndarray) else v.type.content) for k, v in columns.items()}
        f.mktree(tree, types)
        f[tree].extend(columns)


def acts_particles() -> dict:
    events = [0, 1, 2]
    per_event = 2

    def vec(values, dtype):
        return ak.values_astype(ak.Array([[v] * per_event for v in values]), dtype)

    columns = {"event_id": vec(events, np.uint32)}
    for name in BARCODE:
        columns[name] = vec([1 if name in ("vertex_primary", "particle") else 0] * 3, np.uint32)
    for name in ("vx", "vy", "vz", "px", "py", "pz"):
        columns[name] = vec([0.5] * 3, np.float32)
    columns["q"] = vec([1] * 3, np.int32)
    return columns


TYPE_CHANGES = [np.float64, np.float32, np.int8, np.int64, np.uint64, np.bool_, "jagged"]
VALUES = [np.nan, np.inf, 1e20, 1e39, -1, 2**40, 2.5, 0]

acts_mutation = st.one_of(
    st.tuples(
        st.just("flip"),
        st.sampled_from(["measurements", "particles"]),
        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=16),
    ),
    st.tuples(st.just("truncate"), st.sampled_from(["measurements", "particles"]), st.floats(0, 1)),
    st.tuples(st.just("retype"), st.sampled_from(list(acts_measurements())[:7]), st.sampled_from(TYPE_CHANGES)),
    st.tuples(
        st.just("value"), st.sampled_from(list(acts_measurements())[:7]), st.integers(0, 14), st.sampled_from(VALUES)
    ),
    st.tuples(st.just("drop"), st.sampled_from(list(acts_measurements()))),
)


@FUZZ
@given(
    mutations=st.lists(acts_mutation, min_size=1, max_size=3),
    shuffle=st.randoms(use_true_random=False),
    chunk=st.sampled_from([1, 4, 1000]),
)
def test_fuzz_acts_root(tmp_path_factory, mutations, shuffle, chunk):
    directory = tmp_path_factory.mktemp("acts")
    columns = acts_measurements()
    names = list(columns)
    shuffle.shuffle(names)
    columns = {k: columns[k] for k in names}
    byte_mutations = []
    for mutation in mutations:
        kind, name = mutation[0], mutation[1]
        if kind in ("retype", "value") and name not in columns:
            continue  # dropped by an earlier mutation
        if kind == "retype":
            values = np.asarray(columns[name])
            if mutation[2] == "jagged":
                columns[name] = ak.Array([[v] for v in values.tolist()])
            else:
                columns[name] = values.astype(mutation[2])
        elif kind == "value":
            values = np.asarray(columns[name])
            value = mutation[3]
            if values.dtype.kind != "f" and not float(value).is_integer():
                values = values.astype(np.float64)
            elif values.dtype.kind != "f" and not np.can_cast(np.min_scalar_type(value), values.dtype):
                values = values.astype(np.float64) if abs(value) > 2**53 else values.astype(np.int64)
            if values.dtype.kind == "f" and not np.isfinite(np.float32(value) if abs(value) < 1e38 else np.inf):
                values = values.astype(np.float64)  # a float32 branch cannot hold it; a float64 one can
            values[mutation[2] % len(values)] = value
            columns[name] = values
        elif kind == "drop":
            columns.pop(name, None)
        else:
            byte_mutations.append(mutation)
    if not columns:
        return
    write_tree(directory / "measurements.root", "measurements", columns)
    write_tree(directory / "particles.root", "particles", acts_particles())
    for kind, name, *args in byte_mutations:
        path = directory / f"{name}.root"
        data = path.read_bytes()
        if kind == "flip" and data:
            buf = bytearray(data)
            for where, byte in args[0]:
                buf[min(int(where * len(buf)), len(buf) - 1)] = byte
            path.write_bytes(bytes(buf))
        elif kind == "truncate":
            path.write_bytes(data[: int(args[0] * len(data))])
    read_everything(ActsRootReader(ActsRootReader.Config(chunk_entries=chunk)), directory)


def test_fuzz_acts_root_shuffled_branches_read_the_same(tmp_path):
    columns = acts_measurements()
    for directory, order in ((tmp_path / "a", list(columns)), (tmp_path / "b", list(reversed(columns)))):
        directory.mkdir()
        write_tree(directory / "measurements.root", "measurements", {k: columns[k] for k in order})
        write_tree(directory / "particles.root", "particles", acts_particles())
    a, errors_a = read_everything(ActsRootReader(), tmp_path / "a")
    b, errors_b = read_everything(ActsRootReader(), tmp_path / "b")
    assert not errors_a and not errors_b and len(a) == 3
    same_events(a, b)


@pytest.fixture(autouse=True)
def _one_thread():
    yield
