"""Generic columnar input and output: Parquet or CSV tables, one row per hit (and one per particle).

The reader (plugin ``columnar``) takes any such table with a column mapping in its config, so that a new
format needs no code at all when it is already a table, and ~10 lines when it is not (build events with
:func:`event_from_columns`, store them with :func:`tracking.io.write_events`).

Layout. A source is a hits file (``.parquet``, ``.pq``, ``.csv``, ``.csv.gz``) or a directory of them (every
file whose name contains the ``hits`` stem). A file holds many events when it has the event column (mapped
field ``event_id``), else one event whose number is the last number in the file name (0 when it has none).
Its particles are in the file of the same name with ``hits`` replaced by ``particles`` (``hits.parquet`` ->
``particles.parquet``, ``event12-hits.csv`` -> ``event12-particles.csv``), when it exists.

Hit fields (file column = the field's name unless ``columns`` maps it): ``x, y, z`` (required), ``event_id``,
``hit_id`` (default: the row within the event), ``volume_id, layer_id, module_id``, ``particle_id`` (0 =
noise). Particle fields (``particle_columns``): ``particle_id, vx, vy, vz, q`` and either ``pt, eta, phi``
or ``px, py, pz``; ``nhits`` is counted from the hits when absent. Units: lengths are multiplied by
``length_unit`` to give mm and momenta by ``momentum_unit`` to give GeV.

A multi-event Parquet file is read one event at a time (a filter on the event column; :func:`write_events`
writes one row group per event so that this reads only that event); a CSV file is read whole.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..arrays import as_numpy, search_sorted
from ..atomic import atomic_outputs
from ..errors import ConfigError, DataError
from ..event import HIT_DTYPES, PARTICLE_DTYPES, Event, Particles
from ..extras import require
from ..stages import Reader
from .columns import ColumnError, float_column, integer_column, particle_id_column

__all__ = [
    "HIT_FIELDS",
    "PARTICLE_FIELDS",
    "ColumnarReader",
    "event_from_columns",
    "is_columnar_hits_file",
    "write_columnar",
]

HIT_FIELDS: tuple[str, ...] = ("event_id", "hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id")
PARTICLE_FIELDS: tuple[str, ...] = (
    "event_id",
    "particle_id",
    "pt",
    "eta",
    "phi",
    "px",
    "py",
    "pz",
    "vx",
    "vy",
    "vz",
    "q",
    "nhits",
)
SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".csv", ".csv.gz")
_LENGTHS = ("x", "y", "z", "vx", "vy", "vz")
_MOMENTA = ("pt", "px", "py", "pz")


@dataclass(frozen=True)
class _Where:
    """Where converted columns come from, for errors: the file and the file's name of each field."""

    file: str | None = None
    hit_names: Mapping[str, str] = field(default_factory=dict)
    particle_names: Mapping[str, str] = field(default_factory=dict)
    particle_file: str | None = None

    def hit(self, name: str) -> str:
        return self.hit_names.get(name, name)

    def particle(self, name: str) -> str:
        return self.particle_names.get(name, f"particles.{name}" if self.file is None else name)


def _convert(name: str, values: Any, dtype: Any) -> np.ndarray:
    arr = as_numpy(values) if not isinstance(values, (list, tuple)) else np.asarray(values)
    if name == "particle_id":
        return particle_id_column(arr)
    if np.dtype(dtype).kind == "f":
        return float_column(arr, finite=name in ("x", "y", "z"))
    return integer_column(arr, dtype)


def event_from_columns(
    event_id: int,
    hits: Mapping[str, Any],
    particles: Mapping[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
    _where: _Where = _Where(),
) -> Event:
    """An :class:`Event` from plain arrays (lists, numpy, torch, pandas columns), cast losslessly to its dtypes.

    ``hits`` needs ``x, y, z`` (mm) and may give ``hit_id`` (default ``0..N-1``), ``volume_id, layer_id,
    module_id`` and ``particle_id`` (0 = noise). ``particles`` needs ``particle_id, vx, vy, vz, q`` and
    either ``pt, eta, phi`` or ``px, py, pz`` (GeV); ``nhits`` is counted from the hits when absent. A value
    that does not convert (a fractional id, NaN position) is a :class:`DataError` naming the event and field.
    """
    unknown = sorted(set(hits) - set(HIT_FIELDS) - {"event_id"})
    if unknown:
        raise DataError(
            f"unknown hit field(s) {unknown}; known: {', '.join(HIT_FIELDS[1:])}", file=_where.file, event=event_id
        )
    columns: dict[str, Any] = {}
    for name in HIT_FIELDS[1:]:
        if name not in hits or hits[name] is None:
            if name in ("x", "y", "z"):
                raise DataError(f"hits need {name!r}", file=_where.file, event=event_id, branch=_where.hit(name))
            continue
        try:
            columns[name] = _convert(name, hits[name], HIT_DTYPES[name])
        except ColumnError as err:
            row = f" at row {err.index}" if err.index is not None else ""
            raise DataError(f"{err}{row}", file=_where.file, event=event_id, branch=_where.hit(name)) from None
    n = len(columns["x"])
    if "hit_id" not in columns:
        columns["hit_id"] = np.arange(n, dtype=np.int64)
    table = None
    if particles is not None:
        table = _particles(event_id, particles, columns.get("particle_id"), _where)
    return Event(event_id=int(event_id), particles=table, meta=dict(meta or {}), **columns)


def _particles(event_id: int, given: Mapping[str, Any], hit_particles: np.ndarray | None, where: _Where) -> Particles:
    unknown = sorted(set(given) - set(PARTICLE_FIELDS))
    if unknown:
        raise DataError(
            f"unknown particle field(s) {unknown}; known: {', '.join(PARTICLE_FIELDS[1:])}",
            file=where.particle_file or where.file,
            event=event_id,
        )
    if all(k in given for k in ("pt", "eta", "phi")):
        kinematics = {k: given[k] for k in ("pt", "eta", "phi")}
    elif all(k in given for k in ("px", "py", "pz")):
        px, py, pz = (np.asarray(as_numpy(given[k]), np.float64) for k in ("px", "py", "pz"))
        pt = np.hypot(px, py)
        with np.errstate(divide="ignore", invalid="ignore"):
            kinematics = {"pt": pt, "eta": np.arcsinh(pz / pt), "phi": np.arctan2(py, px)}
    else:
        raise DataError(
            "particles need pt, eta, phi or px, py, pz", file=where.particle_file or where.file, event=event_id
        )
    out: dict[str, Any] = {}
    for name in ("particle_id", "vx", "vy", "vz", "q", "nhits"):
        if name not in given or given[name] is None:
            if name == "nhits":
                continue
            raise DataError(
                f"particles need {name!r}",
                file=where.particle_file or where.file,
                event=event_id,
                branch=where.particle(name),
            )
        try:
            out[name] = _convert(name, given[name], PARTICLE_DTYPES[name])
        except ColumnError as err:
            raise DataError(
                str(err), file=where.particle_file or where.file, event=event_id, branch=where.particle(name)
            ) from None
    for name, values in kinematics.items():
        out[name] = float_column(np.asarray(as_numpy(values)))
    if "nhits" not in out:
        ids = out["particle_id"]
        if hit_particles is None:
            out["nhits"] = np.zeros(len(ids), np.int32)
        else:
            found, counts = np.unique(hit_particles[hit_particles != 0], return_counts=True)
            pos, present = search_sorted(found, ids)
            out["nhits"] = np.where(present, counts[pos] if len(counts) else 0, 0).astype(np.int32)
    return Particles(**out)


# -- reading -------------------------------------------------------------------------------------------------
def is_columnar_hits_file(name: str) -> bool:
    """Whether ``name`` is a hit table the ``columnar`` reader finds by itself: ``*hits*.parquet`` / ``.pq``, or
    ``hits.csv[.gz]`` (other CSV names belong to TrackML and ACTS, whose files are ``event<N>-hits.csv``)."""
    lower = name.lower()
    if "hits" in lower and lower.endswith((".parquet", ".pq")):
        return True
    return lower in ("hits.csv", "hits.csv.gz")


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataError("unknown table format (expected .parquet, .pq, .csv or .csv.gz)", file=str(path))


def _file_number(path: Path) -> int:
    numbers = re.findall(r"\d+", path.name.split(".")[0])
    return int(numbers[-1]) if numbers else 0


class ColumnarReader(Reader):
    """Parquet / CSV tables (one row per hit, optional particle table), with a column mapping -> events."""

    @dataclass
    class Config:
        """Args:
        columns: hit field -> column in the file, for the fields whose column has another name
            (``{x: hit_x, event_id: evt}``); fields: event_id, hit_id, x, y, z, volume_id, layer_id,
            module_id, particle_id.
        particle_columns: particle field -> column (event_id, particle_id, pt, eta, phi, px, py, pz, vx,
            vy, vz, q, nhits).
        hits: the stem that names hit files in a directory and is replaced by ``particles`` to find the
            particle file.
        particles: the particle files' stem; None reads no particles.
        format: ``auto`` (by suffix), ``parquet`` or ``csv``.
        length_unit: mm per unit of the file's lengths (10 for cm, 1000 for m).
        momentum_unit: GeV per unit of the file's momenta (0.001 for MeV).
        events: read only these event numbers (each must exist); default all.
        truth: None = read particle_id and particles when present, True = require them, False = ignore.
        """

        columns: dict[str, str] = field(default_factory=dict)
        particle_columns: dict[str, str] = field(default_factory=dict)
        hits: str = "hits"
        particles: str | None = "particles"
        format: Literal["auto", "parquet", "csv"] = "auto"
        length_unit: float = 1.0
        momentum_unit: float = 1.0
        events: list[int] | None = None
        truth: bool | None = None

        def __post_init__(self) -> None:
            for key, known in (("columns", HIT_FIELDS), ("particle_columns", PARTICLE_FIELDS)):
                bad = sorted(set(getattr(self, key)) - set(known))
                if bad:
                    raise ValueError(f"{key}: unknown field(s) {bad}; known: {', '.join(known)}")
            if self.length_unit <= 0 or self.momentum_unit <= 0:
                raise ValueError("length_unit and momentum_unit must be positive")

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config if config is not None else self.Config())
        self._csv_cache: tuple[Path, pd.DataFrame] | None = None

    # -- files and events ----------------------------------------------------------------------------------
    def _hit_files(self, source: str | os.PathLike) -> list[Path]:
        path = Path(source)
        if path.is_file():
            return [path]
        if path.is_dir():
            stem = self.config.hits
            files = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and stem in p.name and p.name.lower().endswith(SUFFIXES) and not p.name.startswith(".")
            )
            if not files:
                raise DataError(f"no hit tables (*{stem}*{{{','.join(SUFFIXES)}}}) in directory", file=str(path))
            return files
        raise DataError("no such file or directory", file=str(path))

    def _column(self, field_name: str, particles: bool = False) -> str:
        mapping = self.config.particle_columns if particles else self.config.columns
        return mapping.get(field_name, field_name)

    def _header(self, path: Path) -> list[str]:
        fmt = _format_of(path, self.config.format)
        try:
            if fmt == "parquet":
                return list(_parquet().read_schema(path).names)
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, EOFError, zlib.error) as err:
            raise DataError(f"cannot read table: {type(err).__name__}: {err}", file=str(path)) from None

    def _events(self, source: str | os.PathLike) -> list[tuple[int, Path, bool]]:
        """(event id, hits file, whether the file has an event column) of every event, sorted by event id."""
        seen: dict[int, Path] = {}
        out = []
        event_column = self._column("event_id")
        for path in self._hit_files(source):
            header = self._header(path)
            if event_column in header:
                ids = np.unique(self._read(path, [event_column])[event_column].to_numpy())
                try:
                    ids = integer_column(ids, np.int64)
                except ColumnError as err:
                    raise DataError(str(err), file=str(path), branch=event_column) from None
                multi = True
            else:
                ids, multi = np.array([_file_number(path)]), False
            for event_id in ids.tolist():
                if event_id in seen:
                    raise DataError(
                        f"event {event_id} is in both {seen[event_id].name} and {path.name}", file=str(path)
                    )
                seen[event_id] = path
                out.append((int(event_id), path, multi))
        out.sort(key=lambda item: item[0])
        if self.config.events is not None:
            known = {e for e, _, _ in out}
            missing = sorted(set(self.config.events) - known)
            if missing:
                raise DataError(
                    f"requested event not found; available: {sorted(known)[:10]}", file=str(source), event=missing[0]
                )
            wanted = set(self.config.events)
            out = [item for item in out if item[0] in wanted]
        return out

    def count(self, source: str | os.PathLike) -> int:
        return len(self._events(source))

    def event_numbers(self, source: str | os.PathLike) -> list[int]:
        return [e for e, _, _ in self._events(source)]

    def __call__(self, source: str | os.PathLike) -> Iterator[Event]:
        events = self._events(source)
        return (self.read_event(path, event_id, multi) for event_id, path, multi in events)

    def _read(self, path: Path, columns: list[str], event: tuple[str, int] | None = None) -> pd.DataFrame:
        """``columns`` of the table at ``path`` (only the rows of one event when ``event`` = (column, id))."""
        fmt = _format_of(path, self.config.format)
        try:
            if fmt == "parquet":
                pq = _parquet()
                filters = [(event[0], "==", event[1])] if event is not None else None
                return pq.read_table(path, columns=columns, filters=filters).to_pandas()
            if self._csv_cache is None or self._csv_cache[0] != path:
                self._csv_cache = (path, pd.read_csv(path))
            frame = self._csv_cache[1]
            missing = [c for c in columns if c not in frame]
            if missing:
                raise DataError(
                    f"missing column; the file has {list(frame.columns)}", file=str(path), branch=missing[0]
                )
            if event is not None:
                frame = frame[frame[event[0]].to_numpy() == event[1]]
            return frame[columns]
        except (
            OSError,
            ValueError,
            KeyError,
            pd.errors.ParserError,
            pd.errors.EmptyDataError,
            EOFError,
            zlib.error,
        ) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"cannot read table: {type(err).__name__}: {err}", file=str(path)) from None

    def _particles_path(self, hits_path: Path) -> Path | None:
        stem = self.config.particles
        if stem is None or self.config.hits not in hits_path.name:
            return None
        candidate = hits_path.with_name(hits_path.name.replace(self.config.hits, stem, 1))
        return candidate if candidate.is_file() and candidate != hits_path else None

    def read_event(self, path: Path, event_id: int, multi: bool) -> Event:
        """Event ``event_id`` of the hits file ``path`` (``multi``: the file has an event column)."""
        cfg = self.config
        header = self._header(path)
        wanted = [f for f in HIT_FIELDS[1:] if self._column(f) in header]
        if cfg.truth is False and "particle_id" in wanted:
            wanted.remove("particle_id")
        for required in ("x", "y", "z") + (("particle_id",) if cfg.truth else ()):
            if required not in wanted:
                raise DataError(
                    f"missing column {self._column(required)!r} for {required} (map it with the config key "
                    f"'columns'); the file has {header}",
                    file=str(path),
                    branch=self._column(required),
                    event=event_id,
                )
        event_filter = (self._column("event_id"), event_id) if multi else None
        table = self._read(path, [self._column(f) for f in wanted], event_filter)
        hits = {f: table[self._column(f)].to_numpy() for f in wanted}
        for name in ("x", "y", "z"):
            if cfg.length_unit != 1.0:
                hits[name] = np.asarray(hits[name], np.float64) * cfg.length_unit
        particles = None
        ppath = self._particles_path(path) if cfg.truth is not False else None
        if ppath is None and cfg.truth:
            raise DataError(
                f"missing particle table ({cfg.particles} beside {path.name})", file=str(path), event=event_id
            )
        if ppath is not None:
            particles = self._read_particles(ppath, event_id, multi)
        where = _Where(str(path), cfg.columns, cfg.particle_columns, str(ppath) if ppath is not None else None)
        return event_from_columns(
            event_id, hits, particles, meta={"source": str(path), "reader": "columnar"}, _where=where
        )

    def _read_particles(self, path: Path, event_id: int, multi: bool) -> dict[str, np.ndarray]:
        cfg = self.config
        header = self._header(path)
        fields = [f for f in PARTICLE_FIELDS[1:] if self._column(f, True) in header]
        event_column = self._column("event_id", True)
        if multi and event_column not in header:
            raise DataError(
                f"the hits file holds several events but the particle table has no event column {event_column!r}",
                file=str(path),
                event=event_id,
            )
        table = self._read(path, [self._column(f, True) for f in fields], (event_column, event_id) if multi else None)
        out = {f: table[self._column(f, True)].to_numpy() for f in fields}
        for name in fields:
            if name in _LENGTHS and cfg.length_unit != 1.0:
                out[name] = np.asarray(out[name], np.float64) * cfg.length_unit
            if name in _MOMENTA and cfg.momentum_unit != 1.0:
                out[name] = np.asarray(out[name], np.float64) * cfg.momentum_unit
        return out


def _parquet() -> Any:
    require("pyarrow")
    import pyarrow.parquet as pq

    return pq


# -- writing -------------------------------------------------------------------------------------------------
def _hit_frame(event: Event, fields: list[str]) -> pd.DataFrame:
    ev = event.numpy()
    data: dict[str, Any] = {"event_id": np.full(ev.num_hits, ev.event_id, np.int64)}
    for name in fields:
        value = getattr(ev, name)
        if value is None:
            raise DataError(
                f"cannot write hits: this event has no {name!r} but the first event had it", event=ev.event_id
            )
        data[name] = np.asarray(value)
    return pd.DataFrame(data)


def _particle_frame(event: Event) -> pd.DataFrame:
    if event.particles is None:
        raise DataError(
            "cannot write particles: this event has none but the first event had them", event=event.event_id
        )
    p = event.particles.numpy()
    data: dict[str, Any] = {"event_id": np.full(len(p), event.event_id, np.int64)}
    for name in ("particle_id", "pt", "eta", "phi", "vx", "vy", "vz", "q", "nhits"):
        data[name] = np.asarray(getattr(p, name))
    return pd.DataFrame(data)


def write_columnar(events: Iterable[Event], directory: str | os.PathLike, *, format: str = "parquet") -> int:
    """Write ``events`` as ``hits.<ext>`` and (when they have particles) ``particles.<ext>`` in ``directory``,
    one row per hit / particle with an ``event_id`` column: what :class:`ColumnarReader` reads with no mapping.

    Events are written one at a time (a Parquet row group each) and the files appear together or not at all.
    """
    if format not in ("parquet", "csv"):
        raise ConfigError(f"columnar format must be parquet or csv, got {format!r}")
    ext = ".parquet" if format == "parquet" else ".csv"
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    iterator = iter(events)
    first = next(iterator, None)
    if first is None:
        raise DataError("no events to write", file=str(out))
    first = first.numpy()
    optional = ("volume_id", "layer_id", "module_id", "particle_id")
    fields = ["hit_id", "x", "y", "z", *(f for f in optional if getattr(first, f) is not None)]
    targets = {"hits": out / f"hits{ext}"}
    if first.particles is not None:
        targets["particles"] = out / f"particles{ext}"
    written = 0
    writers: dict[str, Any] = {}
    with atomic_outputs(targets, suffix=f"{ext}.tmp") as temps:
        try:
            for event in _chain(first, iterator):
                event = event.numpy()
                frames = {"hits": _hit_frame(event, fields)}
                if "particles" in targets:
                    frames["particles"] = _particle_frame(event)
                for key, frame in frames.items():
                    if format == "parquet":
                        pa = require("pyarrow")
                        table = pa.Table.from_pandas(frame, preserve_index=False)
                        if key not in writers:
                            writers[key] = _parquet().ParquetWriter(temps[key], table.schema)
                        writers[key].write_table(table)
                    else:
                        frame.to_csv(temps[key], mode="w" if written == 0 else "a", header=written == 0, index=False)
                written += 1
        finally:
            for writer in writers.values():
                writer.close()
    return written


def _chain(first: Event, rest: Iterator[Event]) -> Iterator[Event]:
    yield first
    yield from rest
