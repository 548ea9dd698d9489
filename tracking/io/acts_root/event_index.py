"""Where each event of an ACTS ROOT file lives, found by reading only the event number branches.

The measurements tree is read in chunks of ``chunk_entries`` entries of ``event_nr``; each event's
block of entries must be contiguous, but blocks may come in any order (multi-threaded ACTS writes
events as they finish). The particles tree holds one entry per event, found by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from ...arrays import search_sorted
from ...errors import DataError
from ..columns import ColumnError, integer_column
from .branches import TreeBranches, open_tree


@dataclass
class EventIndex:
    """Sorted event ids; for each, its measurement entry range and its particles entry (-1 = none)."""

    event_ids: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    particle_entries: np.ndarray


def build_event_index(
    measurements: Path,
    particles: Path | None,
    *,
    measurements_tree: str,
    measurement_branches: dict[str, str],
    particles_tree: str,
    particle_branches: dict[str, str],
    chunk_entries: int,
) -> EventIndex:
    """The index of the events in ``measurements`` and (when given) ``particles``: the union of both."""
    files: list = []
    try:
        tree = open_tree(files, measurements, measurements_tree)
        ids, starts, stops = _measurement_blocks(
            TreeBranches.of(tree, measurements, measurement_branches, ["event_nr"]), chunk_entries
        )
        pids = np.zeros(0, np.int64)
        pentries = np.zeros(0, np.int64)
        if particles is not None:
            ptree = open_tree(files, particles, particles_tree)
            pids, pentries = _particle_entries(TreeBranches.of(ptree, particles, particle_branches, ["event_id"]))
    finally:
        for f in files:
            f.close()

    all_ids = np.union1d(ids, pids)
    mpos, has_meas = search_sorted(ids, all_ids)
    ppos, has_part = search_sorted(pids, all_ids)
    return EventIndex(
        event_ids=all_ids.astype(np.int64),
        starts=np.where(has_meas, starts[mpos] if len(ids) else 0, 0).astype(np.int64),
        stops=np.where(has_meas, stops[mpos] if len(ids) else 0, 0).astype(np.int64),
        particle_entries=np.where(has_part, pentries[ppos] if len(pids) else -1, -1).astype(np.int64),
    )


def _measurement_blocks(branches: TreeBranches, chunk_entries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted event ids of the measurements tree and the [start, stop) entry range of each."""
    branches.require(["event_nr"])
    tree = branches.tree
    ids_parts, starts_parts = [], []
    last_id: int | None = None
    n = tree.num_entries
    for begin in range(0, n, chunk_entries):
        end = min(begin + chunk_entries, n)
        raw = branches.read("event_nr", library="np", entry_start=begin, entry_stop=end)
        try:
            ev = integer_column(raw, np.int64)
        except ColumnError as err:
            raise branches.error(f"bad event number at entry {begin + (err.index or 0)}: {err}", "event_nr") from None
        if len(ev) == 0:
            continue
        block_starts = np.concatenate([[0], np.flatnonzero(ev[1:] != ev[:-1]) + 1])
        if last_id is not None and ev[0] == last_id:
            block_starts = block_starts[1:]  # the previous chunk's last event continues here
        ids_parts.append(ev[block_starts])
        starts_parts.append(block_starts + begin)
        last_id = int(ev[-1])
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    starts = np.concatenate(starts_parts).astype(np.int64) if starts_parts else np.zeros(0, np.int64)
    stops = np.append(starts[1:], n).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    ids, starts, stops = ids[order], starts[order], stops[order]
    repeated = np.flatnonzero(ids[1:] == ids[:-1])
    if len(repeated):
        i = repeated[0]
        raise branches.error(
            f"the measurements of one event are not contiguous (entries {starts[i]}..{stops[i]} and "
            f"{starts[i + 1]}..{stops[i + 1]})",
            "event_nr",
            event=int(ids[i]),
        )
    return ids, starts, stops


def _particle_entries(branches: TreeBranches) -> tuple[np.ndarray, np.ndarray]:
    """Sorted event ids of the particles tree and the entry holding each."""
    branches.require(["event_id"])
    raw = branches.read("event_id")
    entries = np.arange(len(raw), dtype=np.int64)
    if raw.ndim > 1:
        # a vector event_id repeats the id per particle; an entry without particles carries none
        first = ak.firsts(raw)
        if not ak.all(raw == first):
            bad = int(np.flatnonzero(~ak.to_numpy(ak.fill_none(ak.all(raw == first, axis=1), True)))[0])
            raise branches.error(f"entry {bad} mixes event ids", "event_id")
        keep = ~ak.to_numpy(ak.is_none(first))
        raw, entries = ak.to_numpy(ak.fill_none(first, 0))[keep], entries[keep]
    try:
        ids = integer_column(ak.to_numpy(raw), np.int64)
    except ColumnError as err:
        raise branches.error(f"bad event id: {err}", "event_id") from None
    order = np.argsort(ids, kind="stable")
    ids, entries = ids[order], entries[order]
    repeated = np.flatnonzero(ids[1:] == ids[:-1])
    if len(repeated):
        raise branches.error("event appears in two entries", "event_id", event=int(ids[repeated[0]]))
    return ids, entries


def select_events(index: EventIndex, events: list[int] | None, source: Path) -> np.ndarray:
    """Positions in ``index`` of ``events`` (all when None), in event order; DataError for an absent one."""
    if events is None:
        return np.arange(len(index.event_ids))
    wanted = np.unique(np.asarray(events, dtype=np.int64))
    pos, found = search_sorted(index.event_ids, wanted)
    missing = wanted[~found]
    if len(missing):
        have = (
            f"{index.event_ids.min()}..{index.event_ids.max()} ({len(index.event_ids)} events)"
            if len(index.event_ids)
            else "no events"
        )
        raise DataError(f"requested event not in the file, which has {have}", file=str(source), event=int(missing[0]))
    return pos


def adjacent_batches(index: EventIndex, selected: np.ndarray, chunk_entries: int) -> Iterator[list[int]]:
    """Runs of selected events whose entries are adjacent in the file, up to ``chunk_entries`` each."""
    batch: list[int] = []
    size = 0
    for pos in selected:
        n = int(index.stops[pos] - index.starts[pos])
        adjacent = bool(batch) and index.starts[pos] == index.stops[batch[-1]]
        if batch and (not adjacent or size + n > chunk_entries):
            yield batch
            batch, size = [], 0
        batch.append(int(pos))
        size += n
    if batch:
        yield batch
