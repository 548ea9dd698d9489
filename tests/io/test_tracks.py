"""tracks.root / parquet: round trip, schema, atomicity, bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import uproot

from tracking import registry
from tracking.errors import DataError
from tracking.event import Event
from tracking.io.tracks import (
    TrackRecord,
    TracksFile,
    read_tracks,
    track_record,
    write_tracks,
    write_tracks_parquet,
    write_tracks_root,
)

FORMATS = ["root", "parquet"]


def make(event_id: int, n: int, seed: int = 0) -> Event:
    rng = np.random.default_rng(seed + event_id)
    return Event(
        event_id=event_id,
        hit_id=rng.permutation(10 * n + 5)[:n].astype(np.int64),
        x=rng.random(n, dtype=np.float32) + 1,
        y=rng.random(n, dtype=np.float32),
        z=rng.random(n, dtype=np.float32),
        track_labels=rng.integers(-1, 5, n).astype(np.int64),
    )


def path_for(tmp_path, fmt):
    return tmp_path / ("tracks.root" if fmt == "root" else "tracks.parquet")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("batch_hits", [1, 7, 10**6])
def test_round_trip(tmp_path, fmt, batch_hits):
    events = [make(3, 10), make(1, 0), make(7, 25), make(2, 1)]
    path = path_for(tmp_path, fmt)
    writer = write_tracks_root if fmt == "root" else write_tracks_parquet
    assert writer(iter(events), path, batch_hits=batch_hits) == 4
    records = list(read_tracks(path))
    assert [r.event_nr for r in records] == [3, 1, 7, 2]
    for ev, rec in zip(events, records):
        np.testing.assert_array_equal(rec.measurement_id, ev.hit_id)
        np.testing.assert_array_equal(rec.track_id, ev.track_labels)
        assert rec.measurement_id.dtype == np.int64 and rec.track_id.dtype == np.int64
    f = TracksFile(path)
    assert f.event_numbers == [3, 1, 7, 2] and 7 in f and 4 not in f
    np.testing.assert_array_equal(f[7].track_id, events[2].track_labels)
    with pytest.raises(KeyError, match="event 4"):
        f[4]


def test_root_schema(tmp_path):
    path = tmp_path / "tracks.root"
    write_tracks([make(5, 4)], path)
    tree = uproot.open(path)["tracks"]
    assert tree["event_nr"].typename == "uint32_t"
    assert tree["measurement_id"].typename == "int64_t[]"
    assert tree["track_id"].typename == "int64_t[]"
    assert tree.num_entries == 1


def test_parquet_schema(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    write_tracks([make(5, 4)], path)
    schema = pq.read_schema(path)
    assert str(schema.field("event_nr").type) == "uint32"
    assert str(schema.field("measurement_id").type) == "list<element: int64>"
    assert str(schema.field("track_id").type) == "list<element: int64>"


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_iterable_writes_empty_file(tmp_path, fmt):
    path = path_for(tmp_path, fmt)
    assert write_tracks([], path) == 0
    assert list(read_tracks(path)) == [] and len(TracksFile(path)) == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_failure_midway_leaves_previous_file(tmp_path, fmt):
    path = path_for(tmp_path, fmt)
    write_tracks([make(1, 3)], path)
    before = path.read_bytes()

    def events():
        yield make(2, 5)
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        write_tracks(events(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left behind
    path.unlink()
    with pytest.raises(RuntimeError):
        write_tracks(events(), path)
    assert not path.exists()


def test_writer_plugins(tmp_path):
    for name, suffix in (("root_tracks", ".root"), ("parquet_tracks", ".parquet")):
        writer = registry.create("writer", name, {"batch_hits": 3})
        path = tmp_path / f"t{suffix}"
        assert writer.write([make(1, 4), make(2, 4)], path) == 2
        assert [r.event_nr for r in read_tracks(path)] == [1, 2]


@pytest.mark.parametrize("name", ["root_tracks", "parquet_tracks"])
def test_writers_take_track_records(tmp_path, name):
    """Records read back from a file (as a sharded run merges its parts) write like the events they came from."""
    events = [make(3, 10), make(1, 0), make(7, 25)]
    first = tmp_path / "first.root"
    write_tracks(events, first)
    out = tmp_path / ("again.root" if name == "root_tracks" else "again.parquet")
    writer = registry.create("writer", name)
    assert writer.write(read_tracks(first), out) == 3
    for ev, rec in zip(events, read_tracks(out), strict=True):
        expected = track_record(ev)
        assert rec.event_nr == expected.event_nr
        np.testing.assert_array_equal(rec.measurement_id, expected.measurement_id)
        np.testing.assert_array_equal(rec.track_id, expected.track_id)


def test_bad_records(tmp_path):
    with pytest.raises(DataError, match="track_id has 1 entries, measurement_id has 2.*event 4"):
        write_tracks([TrackRecord(4, np.array([5, 6]), np.array([0]))], tmp_path / "a.root")
    with pytest.raises(DataError, match="uint32"):
        write_tracks([TrackRecord(2**32, np.zeros(0, np.int64), np.zeros(0, np.int64))], tmp_path / "a.parquet")
    assert not (tmp_path / "a.root").exists() and not (tmp_path / "a.parquet").exists()


def test_bad_events(tmp_path):
    ev = make(1, 3)
    with pytest.raises(DataError, match="no track_labels.*event 1"):
        write_tracks([ev.replace(track_labels=None)], tmp_path / "a.root")
    with pytest.raises(DataError, match="uint32"):
        write_tracks([make(0, 2).replace(event_id=-1)], tmp_path / "a.root")
    assert not (tmp_path / "a.root").exists()


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        TracksFile(tmp_path / "missing.root")
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not a root file at all" * 10)
    with pytest.raises(DataError, match="junk.root"):
        TracksFile(junk)
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f["hits"] = {"x": np.zeros(3)}
    with pytest.raises(DataError, match="no tree 'tracks'"):
        TracksFile(other)
    partial = tmp_path / "partial.root"
    with uproot.recreate(partial) as f:
        f["tracks"] = {"event_nr": np.zeros(1, dtype=np.uint32)}
    with pytest.raises(DataError, match="branch 'measurement_id'"):
        TracksFile(partial)
    dup = tmp_path / "dup.root"
    write_tracks([make(4, 2), make(4, 3)], dup)
    with pytest.raises(DataError, match="event number 4 appears more than once"):
        TracksFile(dup)
    truncated = tmp_path / "trunc.root"
    write_tracks([make(i, 2000) for i in range(3)], truncated)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with pytest.raises(DataError, match="trunc.root"):
        list(read_tracks(truncated))


def test_missing_pyarrow_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install 'trackpipe\[parquet\]'"):
        write_tracks([make(1, 2)], tmp_path / "t.parquet")


def test_torch_events_are_written(tmp_path):
    ev = make(9, 6)
    write_tracks([ev.to("cpu")], tmp_path / "t.root")
    (rec,) = read_tracks(tmp_path / "t.root")
    np.testing.assert_array_equal(rec.track_id, ev.track_labels)
