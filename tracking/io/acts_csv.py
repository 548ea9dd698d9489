"""Reader of the CSV files the ACTS examples write (Fatras + digitisation; what ACORN reads).

One event is a set of files ``event#########-<stem>.csv`` in one directory (ACTS ``perEventFilepath``):

- ``measurements`` (CsvMeasurementWriter, ``MeasurementData``): ``measurement_id, geometry_id, local_key,
  local0, local1, phi, theta, time, var_local0, var_local1, var_phi, var_theta, var_time`` and, in current
  ACTS, the global position ``global_x, global_y, global_z`` (mm). These are the graph's nodes: the event's
  ``hit_id`` is the ``measurement_id`` (older files name that column ``hit_id``), in file order.
- ``measurement-simhit-map`` (``MeasurementSimHitLink``): ``measurement_id, hit_id``, where ``hit_id`` is the
  0-based row of the sim hit in ``hits``.
- ``hits`` (CsvSimHitWriter, ``SimHitData``; the stem is configurable, ACORN calls it ``truth``): the barcode
  ``particle_id_pv, particle_id_sv, particle_id_part, particle_id_gen, particle_id_subpart`` (current) or one
  packed ``particle_id`` (older), ``geometry_id, tx, ty, tz, tt, tpx, tpy, tpz, te, deltapx, deltapy, deltapz,
  deltae, index``.
- ``particles_initial`` / ``particles`` / ``particles_simulated`` / ``particles_final`` (CsvParticleWriter,
  ``ParticleData``): barcode columns as above, ``particle_type, process, vx, vy, vz, vt, px, py, pz, m, q``.
- ``cells`` (optional, read with ``cells: true``): ``geometry_id, measurement_id`` (current) or ``hit_id``
  (older ACTS), ``channel0, channel1, timestamp, value``; per measurement the reader returns the number of
  cells and their summed value in ``event.meta["cells"]``.

Positions (config ``positions``): the measurement's global columns when the file has them; otherwise, with
``detectors`` (the ``detectors.csv`` of CsvTrackingGeometryWriter, or a TrackML one; by default the
``detectors.csv`` beside the event files, where ACTS writes it, when there is one) the local coordinates
``(local0, local1)`` placed on the module plane, ``centre + R (local0, local1, 0)``; otherwise the mean true
position of the measurement's sim hits (exact for one sim hit per measurement, ACTS' usual digitisation).

Truth: each measurement gets one particle, the one that left most of its sim hits (the first such in map
order on a tie); a measurement with no sim hit is noise (particle 0). Barcodes become int64 particle ids with
:mod:`tracking.io.barcode`. The particles table gets ``pt, eta, phi`` from the momentum and ``nhits`` = the
number of measurements of the particle in the event.

Ids in ``geometry_id`` are decoded as ACTS ``GeometryIdentifier``: volume (8 bits from bit 56), boundary (8,
48), layer (12, 36), approach (8, 28), sensitive (20, 8), extra (8, 0); ``module_id`` is the sensitive id.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..arrays import search_sorted
from ..errors import DataError
from ..event import Event, Particles, lookup_rows
from ..stages import Reader
from .barcode import encode_barcode
from .columns import ColumnError, float_column, integer_column, particle_id_column
from .module_keys import pack_keys
from .pending import select_events

__all__ = ["ActsCsvReader", "decode_geometry_id", "find_acts_csv_events", "is_acts_csv_file", "read_acts_csv"]

# GeometryIdentifier fields: name -> (shift, bits), from Acts/Geometry/GeometryIdentifier.hpp
GEOMETRY_FIELDS: dict[str, tuple[int, int]] = {
    "volume": (56, 8),
    "boundary": (48, 8),
    "layer": (36, 12),
    "approach": (28, 8),
    "sensitive": (8, 20),
    "extra": (0, 8),
}
# the split barcode columns of current ACTS, in barcode field order (tracking.io.barcode.FIELDS)
BARCODE_COLUMNS: tuple[str, ...] = (
    "particle_id_pv",
    "particle_id_sv",
    "particle_id_part",
    "particle_id_gen",
    "particle_id_subpart",
)
# particle files, most useful first: the initial state gives the production vertex and momentum
PARTICLE_STEMS: tuple[str, ...] = (
    "particles_initial",
    "particles",
    "particles_generated",
    "particles_simulated",
    "particles_final",
)
# SurfaceBounds::BoundsType values whose local coordinates are cartesian on a plane (diamond, rectangle,
# trapezoid, triangle, convex polygon); older ACTS numbered rectangle 7 and trapezoid 8, which are planar too
PLANAR_BOUNDS: frozenset[int] = frozenset({2, 6, 7, 8, 10})
ROTATION_COLUMNS: tuple[str, ...] = (
    "rot_xu",
    "rot_xv",
    "rot_xw",
    "rot_yu",
    "rot_yv",
    "rot_yw",
    "rot_zu",
    "rot_zv",
    "rot_zw",
)

_FILE = re.compile(r"^event(\d+)-(.+?)\.csv(\.gz)?$")


def decode_geometry_id(geometry_id: Any) -> dict[str, np.ndarray]:
    """The fields of ACTS ``GeometryIdentifier`` values (uint64 or their int64 bit pattern) as int64 arrays."""
    g = np.asarray(geometry_id)
    u = g.view(np.uint64) if g.dtype == np.int64 else g.astype(np.uint64)
    return {
        name: ((u >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
        for name, (shift, bits) in GEOMETRY_FIELDS.items()
    }


def is_acts_csv_file(name: str) -> bool:
    """Whether ``name`` is an ACTS CSV measurements file, ``event<digits>-measurements.csv[.gz]``."""
    match = _FILE.match(name)
    return match is not None and match.group(2) == "measurements"


def find_acts_csv_events(directory: str | os.PathLike) -> dict[int, dict[str, Path]]:
    """``{event number: {stem: path}}`` of the ACTS CSV files in ``directory`` (events with a measurements file)."""
    found: dict[int, dict[str, Path]] = {}
    for child in Path(directory).iterdir():
        match = _FILE.match(child.name)
        if match is None:
            continue
        files = found.setdefault(int(match.group(1)), {})
        stem = match.group(2)
        if stem in files:
            raise DataError(
                f"both {files[stem].name} and {child.name} exist; remove one",
                file=str(directory),
                event=int(match.group(1)),
            )
        files[stem] = child
    return {event: files for event, files in found.items() if "measurements" in files}


def _read(path: Path, event: int, required: dict[str, Any], optional: dict[str, Any] | None = None) -> pd.DataFrame:
    """The ``required`` and present ``optional`` columns of one CSV with their dtypes; DataError naming the
    file, the column and the event otherwise."""
    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"missing column; the file has {header}", file=str(path), branch=missing[0], event=event)
    dtypes = {**required, **{c: d for c, d in (optional or {}).items() if c in header}}
    try:
        frame = pd.read_csv(path, usecols=lambda c: str(c).strip() in dtypes)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    out = {}
    for column, dtype in dtypes.items():
        values = frame[column].to_numpy()
        try:
            if dtype is np.uint64:
                out[column] = _uint64_column(values)
            elif np.dtype(dtype).kind == "f":
                float_column(values, finite=True)  # the check only: positions stay float64 until the Event
                out[column] = values.astype(np.float64)
            else:
                out[column] = integer_column(values, dtype)
        except (ColumnError, ValueError, TypeError) as err:
            row = f" at row {err.index}" if isinstance(err, ColumnError) and err.index is not None else ""
            raise DataError(f"{err}{row}", file=str(path), branch=column, event=event) from None
    return pd.DataFrame(out)


def _uint64_column(values: np.ndarray) -> np.ndarray:
    """Identifiers written as unsigned 64-bit (geometry ids, barcodes): uint64 kept, other integers checked."""
    if values.dtype == np.uint64:
        return values
    if values.dtype.kind == "i":
        if values.size and values.min() < 0:
            raise ColumnError(f"negative value {values.min()} where unsigned 64-bit ids are expected")
        return values.astype(np.uint64)
    if values.dtype == object:  # pandas falls back to objects for values beyond int64
        try:
            return np.array([int(v) for v in values], dtype=np.uint64)
        except (ValueError, TypeError, OverflowError) as err:
            raise ColumnError(f"not an unsigned 64-bit integer: {err}") from None
    return integer_column(values, np.uint64)


def _particle_ids(table: pd.DataFrame, path: Path, event: int) -> np.ndarray:
    """int64 particle ids from the split barcode columns (current ACTS) or a packed ``particle_id``."""
    if all(c in table for c in BARCODE_COLUMNS):
        try:
            return encode_barcode(*(table[c].to_numpy() for c in BARCODE_COLUMNS))
        except ValueError as err:
            raise DataError(str(err), file=str(path), event=event) from None
    return particle_id_column(table["particle_id"].to_numpy())


def _id_columns(path: Path, event: int) -> dict[str, Any]:
    """The particle id columns a file has: the five barcode parts, else ``particle_id``."""
    try:
        header = {str(c).strip() for c in pd.read_csv(path, nrows=0).columns}
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None
    if all(c in header for c in BARCODE_COLUMNS):
        return {c: np.int64 for c in BARCODE_COLUMNS}
    if "particle_id" in header:
        return {"particle_id": np.uint64}
    raise DataError(
        f"no particle id columns: expected {', '.join(BARCODE_COLUMNS)} (current ACTS) or particle_id (older); "
        f"the file has {sorted(header)}",
        file=str(path),
        event=event,
    )


class ActsCsvReader(Reader):
    """ACTS CSV (measurements, measurement-simhit-map, hits, particles, cells; optional detectors.csv) -> events."""

    @dataclass
    class Config:
        """Args:
        detectors: ``detectors.csv`` (ACTS CsvTrackingGeometryWriter or TrackML) to place local coordinates;
            needed only when the measurements have no ``global_x/y/z``. Default: ``detectors.csv[.gz]``
            beside the event files when it exists.
        positions: where hit positions come from: ``auto`` (global columns, else ``detectors``, else sim hits),
            ``measurements`` (global columns), ``detectors`` or ``simhits``.
        simhits: stem of the sim-hit files (``hits`` in ACTS, ``truth`` in some ACORN setups).
        particles: stem of the particle files; default the first of particles_initial, particles,
            particles_generated, particles_simulated, particles_final that exists.
        cells: read ``cells`` and give each hit its cell count and summed value in ``meta["cells"]``.
        events: read only these event numbers (each must exist); default all.
        truth: None = read truth when present, True = require it, False = ignore it.
        """

        detectors: str | None = None
        positions: Literal["auto", "measurements", "detectors", "simhits"] = "auto"
        simhits: str = "hits"
        particles: str | None = None
        cells: bool = False
        events: list[int] | None = None
        truth: bool | None = None

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config if config is not None else self.Config())
        self._bounds = np.zeros(0, np.int64)
        # the detectors file in use: the configured one, else a detectors.csv beside the events (where ACTS'
        # CsvTrackingGeometryWriter puts it), found per source
        self._detectors: Path | None = Path(self.config.detectors) if self.config.detectors is not None else None
        self._modules: tuple[np.ndarray, np.ndarray, np.ndarray, str] | None = None

    # -- sources -------------------------------------------------------------------------------------------
    def _events(self, source: str | os.PathLike) -> list[tuple[int, dict[str, Path]]]:
        path = Path(source)
        if path.is_dir():
            directory, only = path, None
        else:
            match = _FILE.match(path.name)
            if match is None or not path.is_file():
                if not path.exists():
                    raise DataError("no such file or directory", file=str(path))
                raise DataError("not an ACTS CSV file (expected event#########-measurements.csv)", file=str(path))
            directory, only = path.parent, int(match.group(1))
        if self.config.detectors is None and self.config.positions in ("auto", "detectors"):
            beside = [directory / n for n in ("detectors.csv", "detectors.csv.gz") if (directory / n).is_file()]
            if beside and beside[0] != self._detectors:
                self._detectors, self._modules = beside[0], None
        found = find_acts_csv_events(directory)
        if not found:
            raise DataError("no event#########-measurements.csv files", file=str(directory))
        available = found if only is None else {only: found[only]}
        return select_events(available, self.config.events, str(path))

    def count(self, source: str | os.PathLike) -> int:
        """Number of events in ``source`` (from the file names only)."""
        return len(self._events(source))

    def event_numbers(self, source: str | os.PathLike) -> list[int]:
        """Event numbers ``__call__`` yields, in its order (from the file names only)."""
        return [event for event, _ in self._events(source)]

    def __call__(self, source: str | os.PathLike) -> Iterator[Event]:
        """Yield the events of ``source`` (a directory, or one event's measurements file), by event number."""
        events = self._events(source)
        if self._detectors is not None and self.config.positions != "simhits":
            self._load_modules()  # a bad detectors file fails now, not after the first event
        return (self.read_event(files, event) for event, files in events)

    # -- one event -----------------------------------------------------------------------------------------
    def read_event(self, files: dict[str, Path], event: int) -> Event:
        """One event from its files ``{stem: path}`` (as :func:`find_acts_csv_events` lists them)."""
        cfg = self.config
        meas_path = files["measurements"]
        id_column = self._measurement_id_column(meas_path, event)
        globals_ = ("global_x", "global_y", "global_z")
        meas = _read(
            meas_path,
            event,
            {id_column: np.int64, "geometry_id": np.uint64},
            {"local0": np.float64, "local1": np.float64, **{c: np.float64 for c in globals_}},
        )
        hit_id = meas[id_column].to_numpy()
        if len(np.unique(hit_id)) != len(hit_id):
            raise DataError(f"{id_column} values repeat", file=str(meas_path), branch=id_column, event=event)
        fields = decode_geometry_id(meas["geometry_id"].to_numpy())

        want_truth = cfg.truth is not False
        mode = cfg.positions
        if mode == "auto":
            if all(c in meas for c in globals_):
                mode = "measurements"
            elif self._detectors is not None:
                mode = "detectors"
            else:
                mode = "simhits"
        needs_simhits = want_truth or mode == "simhits"
        links = simhits = None
        if needs_simhits:
            required = bool(cfg.truth) or mode == "simhits"
            links, simhits = self._simhits(files, event, hit_id, required=required)

        if mode == "measurements":
            missing = [c for c in globals_ if c not in meas]
            if missing:
                raise DataError(
                    "positions: measurements needs global_x/y/z (written by current ACTS); give detectors or use "
                    "positions: simhits",
                    file=str(meas_path),
                    branch=missing[0],
                    event=event,
                )
            x, y, z = (meas[c].to_numpy() for c in globals_)
        elif mode == "detectors":
            x, y, z = self._place(meas, meas_path, event)
        else:
            if links is None or simhits is None:
                raise DataError(
                    f"no global positions in the measurements and no sim hits ({cfg.simhits}) with a "
                    "measurement-simhit-map to take them from; give detectors (detectors.csv)",
                    file=str(meas_path),
                    event=event,
                )
            x, y, z = self._simhit_positions(links, simhits, len(hit_id), meas_path, hit_id, event)

        particle_id = particles = None
        if want_truth and links is not None and simhits is not None:
            particle_id = self._hit_particles(links, simhits, len(hit_id))
            particles = self._particles(files, event, particle_id, required=bool(cfg.truth))

        meta: dict[str, Any] = {"source": str(meas_path), "reader": "acts_csv"}
        if cfg.cells:
            meta["cells"] = self._cells(files, event, hit_id, meas["geometry_id"].to_numpy())
        try:
            ids = {
                "volume_id": integer_column(fields["volume"], np.int32),
                "layer_id": integer_column(fields["layer"], np.int32),
                "module_id": integer_column(fields["sensitive"], np.int32),
            }
            xyz = {k: float_column(v, finite=True) for k, v in zip("xyz", (x, y, z))}
        except ColumnError as err:
            raise DataError(str(err), file=str(meas_path), event=event) from None
        return Event(
            event_id=event, hit_id=hit_id, particle_id=particle_id, particles=particles, meta=meta, **xyz, **ids
        )

    @staticmethod
    def _measurement_id_column(path: Path, event: int) -> str:
        try:
            header = {str(c).strip() for c in pd.read_csv(path, nrows=0).columns}
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
            raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None
        if "measurement_id" in header:
            return "measurement_id"
        if "hit_id" in header:  # older ACTS named the measurement's id hit_id
            return "hit_id"
        raise DataError(
            f"missing column; the file has {sorted(header)}", file=str(path), branch="measurement_id", event=event
        )

    def _simhits(
        self, files: dict[str, Path], event: int, hit_id: np.ndarray, *, required: bool
    ) -> tuple[tuple[np.ndarray, np.ndarray], pd.DataFrame] | tuple[None, None]:
        """((measurement row, sim-hit row) of each map entry, sim hits with particle ids), or (None, None)."""
        map_path = files.get("measurement-simhit-map")
        hits_path = files.get(self.config.simhits)
        if map_path is None or hits_path is None:
            if required:
                stem = "measurement-simhit-map" if map_path is None else self.config.simhits
                raise DataError(
                    f"missing {stem} file (event#########-{stem}.csv)",
                    file=str(files["measurements"].parent),
                    event=event,
                )
            return None, None
        links = _read(map_path, event, {"measurement_id": np.int64, "hit_id": np.int64})
        simhits = _read(
            hits_path,
            event,
            {**_id_columns(hits_path, event), "tx": np.float64, "ty": np.float64, "tz": np.float64},
        )
        simhits["pid"] = _particle_ids(simhits, hits_path, event)
        meas_ids = links["measurement_id"].to_numpy()
        rows, known = lookup_rows(hit_id, meas_ids)
        if not known.all():
            bad = int(meas_ids[np.argmax(~known)])
            raise DataError(
                f"map names measurement_id {bad}, absent from the measurements file",
                file=str(map_path),
                branch="measurement_id",
                event=event,
            )
        sim_rows = links["hit_id"].to_numpy()
        out_of_range = (sim_rows < 0) | (sim_rows >= len(simhits))
        if out_of_range.any():
            raise DataError(
                f"map names sim hit {int(sim_rows[np.argmax(out_of_range)])} but {hits_path.name} has "
                f"{len(simhits)} rows (hit_id is the 0-based row of the sim hit)",
                file=str(map_path),
                branch="hit_id",
                event=event,
            )
        return (rows, sim_rows), simhits

    @staticmethod
    def _simhit_positions(
        links: tuple[np.ndarray, np.ndarray],
        simhits: pd.DataFrame,
        n: int,
        meas_path: Path,
        hit_id: np.ndarray,
        event: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, sims = links
        count = np.bincount(rows, minlength=n)
        if (count == 0).any():
            raise DataError(
                f"measurement_id {int(hit_id[np.argmax(count == 0)])} has no sim hit to take its position from; "
                "give detectors (detectors.csv) to place measurements from their local coordinates",
                file=str(meas_path),
                event=event,
            )
        return tuple(  # type: ignore[return-value]
            np.bincount(rows, weights=simhits[c].to_numpy()[sims], minlength=n) / count for c in ("tx", "ty", "tz")
        )

    @staticmethod
    def _hit_particles(links: tuple[np.ndarray, np.ndarray], simhits: pd.DataFrame, n: int) -> np.ndarray:
        """The particle that left most of each measurement's sim hits (first in map order on a tie); 0 = none."""
        rows, sims = links
        particle_id = np.zeros(n, np.int64)
        if len(rows) == 0:
            return particle_id
        if np.bincount(rows).max() == 1:  # one sim hit per measurement (the usual digitisation): no vote
            particle_id[rows] = simhits["pid"].to_numpy()[sims]
            return particle_id
        pairs = pd.DataFrame({"row": rows, "pid": simhits["pid"].to_numpy()[sims], "order": np.arange(len(rows))})
        votes = pairs.groupby(["row", "pid"], sort=False).agg(n=("order", "size"), first=("order", "min")).reset_index()
        votes = votes.sort_values(["row", "n", "first"], ascending=[True, False, True], kind="stable")
        best = votes.drop_duplicates("row")
        particle_id[best["row"].to_numpy()] = best["pid"].to_numpy()
        return particle_id

    def _particles(
        self, files: dict[str, Path], event: int, particle_id: np.ndarray, *, required: bool
    ) -> Particles | None:
        path = self._particles_path(files, event, required=required)
        if path is None:
            return None
        columns = {
            **_id_columns(path, event),
            **{c: np.float64 for c in ("vx", "vy", "vz", "px", "py", "pz", "q")},
        }
        table = _read(path, event, columns)
        ids = _particle_ids(table, path, event)
        unique, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise DataError(f"particle {int(unique[np.argmax(counts > 1)])} appears twice", file=str(path), event=event)
        px, py, pz = (table[c].to_numpy() for c in ("px", "py", "pz"))
        pt = np.hypot(px, py)
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.arcsinh(pz / pt)
        hit_particles, hit_counts = np.unique(particle_id[particle_id != 0], return_counts=True)
        pos, has_hits = search_sorted(hit_particles, ids)
        nhits = np.where(has_hits, hit_counts[pos] if len(hit_counts) else 0, 0)
        try:
            q = integer_column(table["q"].to_numpy(), np.int32)
        except ColumnError as err:
            raise DataError(str(err), file=str(path), branch="q", event=event) from None
        return Particles(
            particle_id=ids,
            pt=pt.astype(np.float32),
            eta=eta.astype(np.float32),
            phi=np.arctan2(py, px).astype(np.float32),
            vx=table["vx"].to_numpy().astype(np.float32),
            vy=table["vy"].to_numpy().astype(np.float32),
            vz=table["vz"].to_numpy().astype(np.float32),
            q=q,
            nhits=np.asarray(nhits, np.int32),
        )

    def _particles_path(self, files: dict[str, Path], event: int, *, required: bool) -> Path | None:
        stem = self.config.particles
        if stem is not None:
            path = files.get(stem)
        else:
            known = [s for s in PARTICLE_STEMS if s in files]
            others = sorted(s for s in files if s.startswith("particles") and s not in PARTICLE_STEMS)
            if known:
                path = files[known[0]]
            elif len(others) == 1:
                path = files[others[0]]
            elif others:
                raise DataError(
                    f"several particle files ({', '.join(others)}); choose one with the config key 'particles'",
                    file=str(files["measurements"].parent),
                    event=event,
                )
            else:
                path = None
        if path is None and required:
            raise DataError(
                f"missing particles file (event#########-{stem or 'particles*'}.csv)",
                file=str(files["measurements"].parent),
                event=event,
            )
        return path

    def _cells(self, files: dict[str, Path], event: int, hit_id: np.ndarray, geometry_id: np.ndarray) -> dict:
        path = files.get("cells")
        if path is None:
            raise DataError(
                "cells: true but there is no cells file", file=str(files["measurements"].parent), event=event
            )
        header = self._header(path, event)
        key = "measurement_id" if "measurement_id" in header else "hit_id"  # older ACTS keyed cells by hit_id
        cells = _read(path, event, {"geometry_id": np.uint64, key: np.int64, "value": np.float64})
        rows, found = lookup_rows(hit_id, cells[key].to_numpy())
        if not found.all():
            raise DataError(
                f"cell of {key} {int(cells[key].to_numpy()[np.argmax(~found)])}, absent from the measurements",
                file=str(path),
                branch=key,
                event=event,
            )
        wrong_module = geometry_id[rows] != cells["geometry_id"].to_numpy()
        if wrong_module.any():
            raise DataError(
                f"cell of {key} {int(cells[key].to_numpy()[np.argmax(wrong_module)])} lies on another module "
                "(geometry_id) than its measurement",
                file=str(path),
                branch="geometry_id",
                event=event,
            )
        n = len(hit_id)
        return {
            "count": np.bincount(rows, minlength=n).astype(np.int32),
            "value": np.bincount(rows, weights=cells["value"].to_numpy(), minlength=n).astype(np.float32),
        }

    @staticmethod
    def _header(path: Path, event: int) -> set[str]:
        try:
            return {str(c).strip() for c in pd.read_csv(path, nrows=0).columns}
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
            raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None

    # -- geometry ------------------------------------------------------------------------------------------
    def _load_modules(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(sorted keys, centres [M, 3], rotations [M, 3, 3], key kind) of the detectors file."""
        if self._modules is not None:
            return self._modules
        path = self._detectors
        if path is None:
            raise DataError("positions: detectors needs the config key 'detectors' (a detectors.csv)")
        if not path.is_file():
            raise DataError("detectors file not found (config key 'detectors')", file=str(path))
        header = self._header(path, -1)
        by_geometry = "geometry_id" in header
        keys_columns: dict[str, Any] = (
            {"geometry_id": np.uint64}
            if by_geometry
            else {"volume_id": np.int64, "layer_id": np.int64, "module_id": np.int64}
        )
        try:
            table = _read(
                path,
                -1,
                {
                    **keys_columns,
                    "cx": np.float64,
                    "cy": np.float64,
                    "cz": np.float64,
                    **dict.fromkeys(ROTATION_COLUMNS, np.float64),
                },
                {"bounds_type": np.int64},
            )
        except DataError as err:
            raise DataError(str(err).replace(", event -1", "")) from None
        if by_geometry:
            keys = table["geometry_id"].to_numpy().view(np.int64)
        else:
            keys = pack_keys(*(table[c].to_numpy() for c in ("volume_id", "layer_id", "module_id")))
        if "bounds_type" in table:
            bounds = table["bounds_type"].to_numpy()
            # a non-planar module placed as a plane would be silently wrong: mark it, and fail on its hits
            planar = np.isin(bounds, list(PLANAR_BOUNDS))
        else:
            bounds = np.full(len(table), -1)
            planar = np.ones(len(table), bool)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if len(keys) > 1 and np.any(keys[1:] == keys[:-1]):
            raise DataError("a module appears twice", file=str(path))
        centres = table[["cx", "cy", "cz"]].to_numpy()[order]
        rotations = table[list(ROTATION_COLUMNS)].to_numpy().reshape(-1, 3, 3)[order]
        rotations[~planar[order]] = np.nan
        self._bounds = bounds[order]
        self._modules = (keys, centres, rotations, "geometry_id" if by_geometry else "volume_layer_module")
        return self._modules

    def _place(self, meas: pd.DataFrame, meas_path: Path, event: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global positions of measurements from their local coordinates on their (planar) module."""
        for c in ("local0", "local1"):
            if c not in meas:
                raise DataError("missing column", file=str(meas_path), branch=c, event=event)
        keys, centres, rotations, kind = self._load_modules()
        gid = meas["geometry_id"].to_numpy()
        if kind == "geometry_id":
            query = gid.view(np.int64)
        else:
            f = decode_geometry_id(gid)
            query = pack_keys(f["volume"], f["layer"], f["sensitive"])
        rows, found = search_sorted(keys, query)
        if not found.all():
            i = int(np.argmax(~found))
            f = decode_geometry_id(gid[i : i + 1])
            raise DataError(
                f"{int((~found).sum())} measurement(s) on modules absent from {self._detectors}, first "
                f"geometry_id {int(gid[i])} (volume {int(f['volume'][0])}, layer {int(f['layer'][0])}, "
                f"sensitive {int(f['sensitive'][0])})",
                file=str(meas_path),
                event=event,
            )
        rot = rotations[rows]
        if np.isnan(rot[:, 0, 0]).any():
            i = int(np.argmax(np.isnan(rot[:, 0, 0])))
            raise DataError(
                f"geometry_id {int(gid[i])} is a non-planar surface (bounds_type {int(self._bounds[rows[i]])}) whose "
                "local coordinates are not cartesian; use measurements with global_x/y/z or positions: simhits",
                file=str(meas_path),
                event=event,
            )
        local = np.stack([meas["local0"].to_numpy(), meas["local1"].to_numpy(), np.zeros(len(meas))], axis=1)
        xyz = centres[rows] + np.einsum("nij,nj->ni", rot, local)
        return xyz[:, 0], xyz[:, 1], xyz[:, 2]


def read_acts_csv(source: str | os.PathLike, **config: Any) -> Iterator[Event]:
    """Events of an ACTS CSV directory; ``config`` as :class:`ActsCsvReader.Config`."""
    return ActsCsvReader(ActsCsvReader.Config(**config))(source)
