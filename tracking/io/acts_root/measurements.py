"""The hit columns of a run of events from the ``measurements`` tree (the GNN's nodes).

Coordinates come from ``rec_gx, rec_gy, rec_gz`` (float32, finite, within
:data:`~tracking.io.columns.COORDINATE_LIMIT_MM`), module ids from ``volume_id,
layer_id, surface_id`` (int32); a hit's ``particle_id`` from the five barcode branches (jagged, the
first particle of a measurement, none = noise = 0) or from an older single ``particle_id`` branch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import awkward as ak
import numpy as np

from ..barcode import FIELD_NAMES as BARCODE_FIELDS
from ..barcode import encode_barcode
from ..columns import ColumnError, coordinate_column, integer_column, particle_id_column
from .branches import TreeBranches, TruthLayout
from .event_index import EventIndex

REQUIRED_BRANCHES: tuple[str, ...] = ("volume_id", "layer_id", "surface_id", "rec_gx", "rec_gy", "rec_gz")
COORDINATES: tuple[tuple[str, str], ...] = (("rec_gx", "x"), ("rec_gy", "y"), ("rec_gz", "z"))
MODULE_IDS: tuple[tuple[str, str], ...] = (
    ("volume_id", "volume_id"),
    ("layer_id", "layer_id"),
    ("surface_id", "module_id"),
)


def read_measurements(
    branches: TreeBranches, truth: TruthLayout | None, index: EventIndex, batch: list[int]
) -> list[dict[str, np.ndarray]]:
    """Event fields of each event of ``batch`` (positions in ``index``, adjacent in the file; read together)."""
    begin = int(index.starts[batch[0]])
    end = int(index.stops[batch[-1]])
    bounds = [(int(index.starts[p]) - begin, int(index.stops[p]) - begin) for p in batch]

    def event_at(row: int | None) -> int | None:
        if row is None:
            return None
        for pos, (lo, hi) in zip(batch, bounds):
            if lo <= row < hi:
                return int(index.event_ids[pos])
        return None

    def read(name: str) -> Any:
        return branches.read(name, event=int(index.event_ids[batch[0]]), entry_start=begin, entry_stop=end)

    def convert(name: str, fn: Callable[[Any], np.ndarray], values: Any) -> np.ndarray:
        try:
            return fn(values)
        except ColumnError as err:
            raise branches.error(str(err), name, event=event_at(err.index)) from None

    columns: dict[str, np.ndarray] = {}
    if end > begin:
        for name, field_name in COORDINATES:
            flat = _flat(read(name), name, branches, event_at(0))
            columns[field_name] = convert(name, coordinate_column, flat)
        for name, field_name in MODULE_IDS:
            flat = _flat(read(name), name, branches, event_at(0))
            columns[field_name] = convert(name, lambda v: integer_column(v, np.int32), flat)
        if truth == "barcode":
            columns["particle_id"] = _barcode_column(
                {f: read(f"particles_{f}") for f in BARCODE_FIELDS}, branches, event_at
            )
        elif truth == "particle_id":
            columns["particle_id"] = convert("particle_id", particle_id_column, first_per_entry(read("particle_id")))
    else:
        for _, field_name in COORDINATES:
            columns[field_name] = np.zeros(0, np.float32)
        for _, field_name in MODULE_IDS:
            columns[field_name] = np.zeros(0, np.int32)
        if truth is not None:
            columns["particle_id"] = np.zeros(0, np.int64)
    return [{k: v[lo:hi] for k, v in columns.items()} for lo, hi in bounds]


def _flat(values: Any, name: str, branches: TreeBranches, event: int | None) -> np.ndarray:
    if values.ndim != 1:
        raise branches.error(f"expected one value per entry, got type {values.type}", name, event=event)
    return ak.to_numpy(values)


def first_per_entry(values: Any) -> np.ndarray:
    """A flat branch as is; a jagged one's first element per entry (0 = noise when empty)."""
    if values.ndim == 1:
        return ak.to_numpy(values)
    # by hand, because ak.fill_none promotes uint64 to float64 and would round particle ids
    counts = ak.to_numpy(ak.num(values))
    content = ak.to_numpy(ak.flatten(values))
    starts = np.cumsum(counts) - counts
    out = np.zeros(len(counts), dtype=content.dtype)
    out[counts > 0] = content[starts[counts > 0]]
    return out


def _barcode_column(
    parts: dict[str, Any], branches: TreeBranches, event_at: Callable[[int | None], int | None]
) -> np.ndarray:
    """Particle ids from the five barcode branches (first particle per entry; none = 0)."""
    counts = None
    for name, values in parts.items():
        if values.ndim == 1:
            continue
        n = ak.to_numpy(ak.num(values))
        if counts is None:
            counts = n
        elif not np.array_equal(counts, n):
            row = int(np.argmax(counts != n))
            raise branches.error(
                f"barcode branches disagree on the number of particles at entry {row}",
                f"particles_{name}",
                event=event_at(row),
            )
    fields = {}
    for name, values in parts.items():
        try:
            fields[name] = integer_column(first_per_entry(values), np.uint32)
        except ColumnError as err:
            raise branches.error(str(err), f"particles_{name}", event=event_at(err.index)) from None
    try:
        return encode_barcode(*(fields[name] for name in BARCODE_FIELDS))
    except ValueError as err:
        raise branches.error(str(err)) from None
