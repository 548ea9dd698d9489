"""Reconstructed tracks on disk: ``tracks.root`` (tree ``tracks``) and parquet with the same columns.

One entry (row) per event:

- ``event_nr`` (uint32): the event number (``Event.event_id``);
- ``measurement_id`` (jagged int64): the event's hit ids (``Event.hit_id``: the measurement index in
  ACTS files, ``hit_id`` in TrackML files);
- ``track_id`` (jagged int64, aligned with ``measurement_id``): the track of each hit, -1 = on no track.

Writers take track records (:class:`TrackRecord`) or events with ``track_labels``, which
:func:`as_track_record` turns into records: a pipeline's events and the records read back from a tracks
file (merging the part files of a sharded run) are written by the same code.

In ROOT, uproot adds the counter branches ``nmeasurement_id`` and ``ntrack_id``. Writes are
incremental (a ROOT basket / parquet row group per batch of events, never the whole run in memory) and
atomic: the file appears under its name only once every event is written, so an exception part-way
leaves no file, or the previous one, behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arrays import as_numpy
from ..atomic import atomic_output
from ..errors import DataError
from ..event import Event

TRACKS_TREE = "tracks"
COLUMNS = ("event_nr", "measurement_id", "track_id")
PARQUET_SUFFIXES = (".parquet", ".pq")
ROOT_SUFFIXES = (".root",)
# events are buffered until this many hits, then written as one basket / row group
DEFAULT_BATCH_HITS = 1_000_000

_PYARROW_HINT = "parquet track files need pyarrow: pip install 'trackpipe[parquet]' (or: pip install pyarrow)"


@dataclass
class TrackRecord:
    """The tracks of one event as stored on disk."""

    event_nr: int
    measurement_id: np.ndarray  # int64 [N]
    track_id: np.ndarray  # int64 [N], -1 = on no track

    def __len__(self) -> int:
        return len(self.measurement_id)


def _check_event_nr(event_nr: int) -> None:
    if not 0 <= event_nr < 2**32:
        raise DataError(f"event number {event_nr} does not fit the uint32 branch event_nr", event=event_nr)


def track_record(event: Event) -> TrackRecord:
    """The :class:`TrackRecord` of an event with ``track_labels``; DataError naming the event otherwise."""
    if event.track_labels is None:
        raise DataError("event has no track_labels: run a track builder before writing tracks", event=event.event_id)
    _check_event_nr(event.event_id)
    mid = as_numpy(event.hit_id).astype(np.int64, copy=False)
    tid = as_numpy(event.track_labels).astype(np.int64, copy=False)
    if len(mid) != len(tid):
        raise DataError(f"track_labels has {len(tid)} entries, hit_id has {len(mid)}", event=event.event_id)
    return TrackRecord(event.event_id, mid, tid)


def as_track_record(item: TrackRecord | Event) -> TrackRecord:
    """What the writers write: an event's :func:`track_record`, or a record checked as writers need it."""
    if isinstance(item, Event):
        return track_record(item)
    event_nr = int(item.event_nr)
    _check_event_nr(event_nr)
    mid = np.asarray(item.measurement_id).astype(np.int64, copy=False)
    tid = np.asarray(item.track_id).astype(np.int64, copy=False)
    if len(mid) != len(tid):
        raise DataError(f"track_id has {len(tid)} entries, measurement_id has {len(mid)}", event=event_nr)
    return TrackRecord(event_nr, mid, tid)


def _batches(tracks: Iterable[TrackRecord | Event], batch_hits: int) -> Iterator[list[TrackRecord]]:
    batch: list[TrackRecord] = []
    hits = 0
    for item in tracks:
        rec = as_track_record(item)
        batch.append(rec)
        hits += len(rec)
        if hits >= batch_hits:
            yield batch
            batch, hits = [], 0
    if batch:
        yield batch


def _jagged(arrays: list[np.ndarray]):
    import awkward as ak

    counts = np.array([len(a) for a in arrays], dtype=np.int64)
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    return ak.unflatten(flat.astype(np.int64, copy=False), counts)


def write_tracks_root(
    tracks: Iterable[TrackRecord | Event], path: str | os.PathLike, *, batch_hits: int = DEFAULT_BATCH_HITS
) -> int:
    """Write ``tracks`` (records or events, see :func:`as_track_record`) to the ROOT file ``path`` (tree
    ``tracks``); return the event count."""
    import uproot

    n = 0
    with atomic_output(path, suffix=".root.tmp") as tmp, uproot.recreate(tmp) as out:
        tree = out.mktree(
            TRACKS_TREE,
            {"event_nr": np.uint32, "measurement_id": "var * int64", "track_id": "var * int64"},
            title="trackpipe tracks: one entry per event",
        )
        for batch in _batches(tracks, batch_hits):
            tree.extend(
                {
                    "event_nr": np.array([r.event_nr for r in batch], dtype=np.uint32),
                    "measurement_id": _jagged([r.measurement_id for r in batch]),
                    "track_id": _jagged([r.track_id for r in batch]),
                }
            )
            n += len(batch)
    return n


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportError(_PYARROW_HINT) from err
    return pa, pq


def _parquet_schema(pa):
    return pa.schema(
        [("event_nr", pa.uint32()), ("measurement_id", pa.list_(pa.int64())), ("track_id", pa.list_(pa.int64()))]
    )


def write_tracks_parquet(
    tracks: Iterable[TrackRecord | Event], path: str | os.PathLike, *, batch_hits: int = DEFAULT_BATCH_HITS
) -> int:
    """Write ``tracks`` (records or events, see :func:`as_track_record`) to the parquet file ``path``; return
    the event count."""
    pa, pq = _pyarrow()
    schema = _parquet_schema(pa)
    n = 0
    with atomic_output(path, suffix=".parquet.tmp") as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for batch in _batches(tracks, batch_hits):
            offsets = np.concatenate([[0], np.cumsum([len(r) for r in batch])]).astype(np.int32)
            columns = []
            for name in ("measurement_id", "track_id"):
                flat = np.concatenate([getattr(r, name) for r in batch]).astype(np.int64, copy=False)
                columns.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.int64())))
            event_nr = pa.array(np.array([r.event_nr for r in batch], dtype=np.uint32))
            writer.write_table(pa.Table.from_arrays([event_nr, *columns], schema=schema))
            n += len(batch)
    return n


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether a tracks file ``path`` is parquet (``.parquet`` / ``.pq``) rather than ROOT."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def write_tracks(tracks: Iterable[TrackRecord | Event], path: str | os.PathLike) -> int:
    """Write ``tracks`` (records or events) to ``path``, as parquet for ``.parquet`` / ``.pq``, else ROOT."""
    p = Path(path)
    return write_tracks_parquet(tracks, p) if is_parquet(p) else write_tracks_root(tracks, p)


# -- reading -----------------------------------------------------------------------------------------


class TracksFile:
    """A tracks file opened for reading, by event number or in file order.

    ``TracksFile(path)`` reads only the ``event_nr`` column up front; each event's arrays are read when
    asked for. ROOT or parquet is chosen by the suffix (``.parquet`` / ``.pq`` = parquet).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError("tracks file not found", file=str(self.path))
        self.format = "parquet" if is_parquet(self.path) else "root"
        if self.format == "parquet":
            self._open_parquet()
        else:
            self._open_root()
        order = np.argsort(self._event_nr, kind="stable")
        sorted_nr = self._event_nr[order]
        repeated = sorted_nr[1:][sorted_nr[1:] == sorted_nr[:-1]]
        if len(repeated):
            raise DataError(
                f"event number {int(repeated[0])} appears more than once", file=str(self.path), tree=TRACKS_TREE
            )
        self._index = {int(nr): int(i) for nr, i in zip(self._event_nr, range(len(self._event_nr)))}

    # ROOT
    def _open_root(self) -> None:
        import uproot

        try:
            file = uproot.open(self.path)
        except Exception as err:  # uproot raises many kinds for a bad file
            raise DataError(f"cannot open as a ROOT file: {err}", file=str(self.path)) from err
        if TRACKS_TREE not in file:
            found = ", ".join(file.keys()) or "nothing"
            raise DataError(f"no tree {TRACKS_TREE!r} (found: {found})", file=str(self.path), tree=TRACKS_TREE)
        self._tree = file[TRACKS_TREE]
        for name in COLUMNS:
            if name not in self._tree:
                raise DataError("missing branch", file=str(self.path), tree=TRACKS_TREE, branch=name)
        try:
            self._event_nr = np.asarray(self._tree["event_nr"].array(library="np")).astype(np.int64)
        except Exception as err:
            raise DataError(f"cannot read: {err}", file=str(self.path), tree=TRACKS_TREE, branch="event_nr") from err

    def _read_root(self, start: int, stop: int) -> list[TrackRecord]:
        try:
            arrays = self._tree.arrays(list(COLUMNS), entry_start=start, entry_stop=stop)
        except Exception as err:
            raise DataError(
                f"cannot read entries {start}..{stop - 1}: {err}", file=str(self.path), tree=TRACKS_TREE
            ) from err
        import awkward as ak

        return self._records(
            np.asarray(arrays["event_nr"]),
            *((ak.to_numpy(ak.flatten(arrays[c])), ak.to_numpy(ak.num(arrays[c]))) for c in COLUMNS[1:]),
        )

    # parquet
    def _open_parquet(self) -> None:
        _, pq = _pyarrow()
        try:
            self._pq = pq.ParquetFile(self.path)
        except Exception as err:
            raise DataError(f"cannot open as a parquet file: {err}", file=str(self.path)) from err
        names = self._pq.schema_arrow.names
        for name in COLUMNS:
            if name not in names:
                raise DataError("missing column", file=str(self.path), branch=name)
        groups = [
            self._pq.read_row_group(i, columns=["event_nr"]).column(0).to_numpy()
            for i in range(self._pq.num_row_groups)
        ]
        self._group_start = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
        self._event_nr = np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, dtype=np.int64)

    def _read_parquet_group(self, group: int) -> list[TrackRecord]:
        table = self._pq.read_row_group(group, columns=list(COLUMNS))
        parts = []
        for name in COLUMNS[1:]:
            column = table.column(name).combine_chunks()
            offsets = column.offsets.to_numpy()
            parts.append((column.flatten().to_numpy(), np.diff(offsets)))
        return self._records(table.column("event_nr").to_numpy(), *parts)

    def _records(self, event_nr, measurement_id, track_id) -> list[TrackRecord]:
        """Records from (flat values, counts per event) of both jagged columns."""
        (mid_flat, mid_n), (tid_flat, tid_n) = measurement_id, track_id
        bad = np.flatnonzero(np.asarray(mid_n) != np.asarray(tid_n))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"measurement_id has {int(mid_n[i])} entries but track_id has {int(tid_n[i])}",
                file=str(self.path),
                tree=TRACKS_TREE,
                branch="track_id",
                event=int(event_nr[i]),
            )
        splits = np.cumsum(mid_n)[:-1]
        mids = np.split(np.asarray(mid_flat, dtype=np.int64), splits)
        tids = np.split(np.asarray(tid_flat, dtype=np.int64), splits)
        return [TrackRecord(int(nr), m, t) for nr, m, t in zip(event_nr, mids, tids)]

    # public
    @property
    def event_numbers(self) -> list[int]:
        """Event numbers in file order."""
        return [int(n) for n in self._event_nr]

    def __len__(self) -> int:
        return len(self._event_nr)

    def __contains__(self, event_nr: int) -> bool:
        return int(event_nr) in self._index

    def __getitem__(self, event_nr: int) -> TrackRecord:
        """The tracks of event ``event_nr``; KeyError when the file does not have it."""
        row = self._index.get(int(event_nr))
        if row is None:
            raise KeyError(f"event {event_nr} is not in {self.path}")
        if self.format == "root":
            return self._read_root(row, row + 1)[0]
        group = int(np.searchsorted(self._group_start, row, side="right") - 1)
        return self._read_parquet_group(group)[row - int(self._group_start[group])]

    def __iter__(self) -> Iterator[TrackRecord]:
        """Every event in file order, read in chunks."""
        if self.format == "root":
            step = 100
            for start in range(0, len(self), step):
                yield from self._read_root(start, min(start + step, len(self)))
        else:
            for group in range(self._pq.num_row_groups):
                yield from self._read_parquet_group(group)


def read_tracks(path: str | os.PathLike) -> Iterator[TrackRecord]:
    """The events of a tracks file (ROOT or parquet by suffix), in file order."""
    yield from TracksFile(path)
