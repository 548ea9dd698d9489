"""Reader of TrackML challenge CSV files: ``event#########-{hits,truth,particles}.csv[.gz]``.

The source is a directory (every event in it, sorted by event number) or one event's prefix path
(``.../event000000001``) or any of its part files (``.../event000000001-hits.csv.gz``). Plain and gzipped
files are both read (pandas infers the compression from the name); when both exist for one part the
reader refuses to guess. The TrackML ``hit_id`` (1-based) is kept as ``Event.hit_id``; the event id is
the number in the file name (any number of digits: the naming rule is :mod:`tracking.io.trackml_names`'s);
``cells`` files are not read.

Columns are read with explicit dtypes and the rule of the ROOT reader: an integer column accepts a value
only when it converts losslessly (``2`` and ``2.0`` are fine; ``2.5``, text, or a value beyond int32 for
the ids is a :class:`DataError` naming file, column and event), and hit coordinates must be finite and
within +-1e6 mm. ``module_id`` may be absent (``Event.module_id`` is then None): the stages that need it
say so. Event numbers must be 0 .. 2**32 - 1. A hits file with a header and no rows yields an Event with
zero hits.

One bad event does not end the iteration: ``pending_events(source)`` yields (event number, read) pairs
whose ``read()`` alone fails for a bad event, and the iterator of ``reader(source)`` raises that event's
DataError and reads the next event on the next ``next()`` (:mod:`tracking.io.pending`).

Truth: ``truth`` gives each hit its ``particle_id`` (joined on ``hit_id``; every hit must have a row);
``particles`` gives the table with ``pt = hypot(px, py)``, ``eta`` and ``phi`` from the momentum, the
vertex, ``q`` and ``nhits``. Both are optional unless ``truth: true``.

Geometry: with ``detectors`` set, ``detectors.csv[.gz]`` is loaded once, every hit's
``(volume_id, layer_id, module_id)`` must name a module in it (else a DataError naming the event and the
id), and :meth:`TrackmlCsvReader.module_geometry` returns the module row (centre, rotation, thickness,
half sizes, pitch) of each hit of an event.
"""

from __future__ import annotations

import functools
import os
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..arrays import search_sorted
from ..errors import ConfigError, DataError
from ..event import Event, Particles
from ..stages import Reader
from .columns import ColumnError, check_event_number, coordinate_column, float_column, integer_column
from .module_keys import pack_keys, unpack_keys
from .pending import EventStream, PendingEvent, select_events
from .trackml_names import parse_name, part_file_names

# column -> (dtype pandas reads it as, dtype in the Event)
# ``module_id`` is optional: only some stages need it (module_map with ``module_ids: file``, the
# ``detectors`` check), and they say so when an event lacks it.
HIT_COLUMNS: dict[str, tuple[Any, Any]] = {
    "hit_id": (np.int64, np.int64),
    "x": (np.float64, np.float32),
    "y": (np.float64, np.float32),
    "z": (np.float64, np.float32),
    "volume_id": (np.int64, np.int32),
    "layer_id": (np.int64, np.int32),
    "module_id": (np.int64, np.int32),
}
OPTIONAL_HIT_COLUMNS: tuple[str, ...] = ("module_id",)
TRUTH_COLUMNS: dict[str, Any] = {"hit_id": np.int64, "particle_id": np.int64}
PARTICLE_COLUMNS: dict[str, Any] = {
    "particle_id": np.int64,
    "vx": np.float64,
    "vy": np.float64,
    "vz": np.float64,
    "px": np.float64,
    "py": np.float64,
    "pz": np.float64,
    "q": np.int64,
    "nhits": np.int64,
}
DETECTOR_ID_COLUMNS: tuple[str, ...] = ("volume_id", "layer_id", "module_id")


def read_csv_columns(
    path: Path, columns: dict[str, Any], event: int | None, optional: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``columns`` of one CSV with their dtypes; a missing column (unless ``optional``, then it is left out of
    the frame) or an unparsable value -> DataError."""
    try:
        header = pd.read_csv(path, nrows=0).columns
    except FileNotFoundError:
        raise DataError("no such file", file=str(path), event=event) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None
    missing = [c for c in columns if c not in header and c not in optional]
    if missing:
        raise DataError(f"missing column; the file has {list(header)}", file=str(path), branch=missing[0], event=event)
    columns = {c: d for c, d in columns.items() if c in header}
    try:
        with warnings.catch_warnings():
            # pandas warns on the cast before it raises for a value the dtype cannot hold (nan, 1e20 in an
            # integer column); the raise is what we report, with the column named
            warnings.simplefilter("ignore", RuntimeWarning)
            return pd.read_csv(path, usecols=list(columns), dtype=columns)
    except (ValueError, TypeError, OverflowError) as err:
        # pandas names no column when a value does not parse: find it so the message can
        column = _unparsable_column(path, columns)
        expected = np.dtype(columns[column] if column is not None else object)
        raise DataError(f"values are not {expected}: {err}", file=str(path), branch=column, event=event) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read CSV: {type(err).__name__}: {err}", file=str(path), event=event) from None


def _unparsable_column(path: Path, columns: dict[str, Any]) -> str | None:
    for column, dtype in columns.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                pd.read_csv(path, usecols=[column], dtype={column: dtype})
        except (ValueError, TypeError, OverflowError):
            return column
    return None


class TrackmlCsvReader(Reader):
    """TrackML CSV (hits, truth, particles; plain or .gz; optional detectors.csv) -> events."""

    @dataclass
    class Config:
        """Args:
        detectors: path of ``detectors.csv[.gz]``; when set, hit module ids are checked against it
            and :meth:`module_geometry` works. Default None.
        events: read only these event numbers (each must exist); default all.
        truth: None = read truth/particles when present, True = require both, False = ignore them.
        """

        detectors: str | None = None
        events: list[int] | None = None
        truth: bool | None = None

    def __init__(self, config: Config | None = None) -> None:
        config = config if config is not None else self.Config()
        super().__init__(config)
        self._detectors: pd.DataFrame | None = None
        self._detector_keys: np.ndarray | None = None

    # -- geometry --------------------------------------------------------------------------------------
    @property
    def detectors(self) -> pd.DataFrame | None:
        """The detectors table (one row per module, sorted by module id) or None when not configured."""
        if self.config.detectors is None:
            return None
        if self._detectors is None:
            path = Path(self.config.detectors)
            if not path.is_file():
                raise DataError("detectors file not found (config key 'detectors')", file=str(path))
            columns = {c: np.int64 for c in DETECTOR_ID_COLUMNS}
            ids = read_csv_columns(path, columns, None)
            try:
                table = pd.read_csv(path)
            except (ValueError, pd.errors.ParserError, OSError, EOFError) as err:
                raise DataError(f"cannot read CSV: {err}", file=str(path)) from None
            # some copies carry a leading unnamed index column; it is not geometry
            table = table.drop(columns=[c for c in table.columns if str(c).startswith("Unnamed")])
            table[list(DETECTOR_ID_COLUMNS)] = ids[list(DETECTOR_ID_COLUMNS)].astype(np.int32)
            try:
                keys = pack_keys(*(table[c].to_numpy() for c in DETECTOR_ID_COLUMNS))
            except ValueError as err:
                raise DataError(str(err), file=str(path)) from None
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            if len(keys) > 1 and np.any(keys[1:] == keys[:-1]):
                dup = table.iloc[order[int(np.flatnonzero(keys[1:] == keys[:-1])[0])]]
                raise DataError(
                    f"module {tuple(int(dup[c]) for c in DETECTOR_ID_COLUMNS)} appears twice", file=str(path)
                )
            self._detectors = table.iloc[order].reset_index(drop=True)
            self._detector_keys = keys
        return self._detectors

    def module_geometry(self, event: Event) -> pd.DataFrame:
        """The detectors row of each hit of ``event`` (same order as the hits); needs ``detectors``."""
        table = self.detectors
        if table is None:
            raise ConfigError("trackml_csv: module_geometry needs the config key 'detectors'")
        ev = event.numpy()
        volume, layer, module = ev.volume_id, ev.layer_id, ev.module_id
        if volume is None or layer is None or module is None:
            raise DataError("module_geometry needs volume_id, layer_id and module_id", event=event.event_id)
        pos = self._module_rows(volume, layer, module, event.event_id, self.config.detectors)
        return table.iloc[pos].reset_index(drop=True)

    def _module_rows(
        self, volume: np.ndarray, layer: np.ndarray, module: np.ndarray, event_id: int, hits_file: Any
    ) -> np.ndarray:
        """The detectors row of each hit's module; DataError naming ``hits_file`` and the event for a module
        absent from the detectors file (or ids no module key can hold)."""
        known = self._detector_keys
        assert known is not None
        try:
            keys = pack_keys(volume, layer, module)
        except ValueError as err:
            raise DataError(str(err), file=str(hits_file), event=event_id) from None
        pos, on_known = search_sorted(known, keys)
        bad = ~on_known
        if bad.any():
            triple = tuple(int(i) for i in unpack_keys(keys[np.argmax(bad)]))
            raise DataError(
                f"{int(bad.sum())} hit(s) on modules absent from {self.config.detectors}, first "
                f"(volume_id, layer_id, module_id) = {triple}",
                file=str(hits_file),
                event=event_id,
            )
        return pos

    # -- sources ---------------------------------------------------------------------------------------
    def _prefixes(self, source: str | os.PathLike) -> list[tuple[int, Path]]:
        """(event id, prefix path) of every event in ``source``, sorted, after the ``events`` selection."""
        path = Path(source)
        if path.is_dir():
            found: dict[int, list[Path]] = {}
            prefix_names: dict[int, str] = {}
            for child in path.iterdir():
                name = parse_name(child.name)
                if name is not None and name.kind == "hits":
                    found.setdefault(name.event_id, []).append(child)
                    prefix_names[name.event_id] = name.prefix
            if not found:
                raise DataError("no event#########-hits.csv[.gz] files in directory", file=str(path))
            prefixes = {}
            for event_id, files in found.items():
                if len(files) > 1:
                    raise DataError(
                        f"both {sorted(f.name for f in files)} exist; remove one", file=str(path), event=event_id
                    )
                prefixes[event_id] = path / prefix_names[event_id]
        else:
            name = parse_name(path.name)
            if name is None:
                if not path.exists():
                    raise DataError("no such file or directory", file=str(path))
                raise DataError(
                    "not a TrackML event path (expected .../event#########[-hits.csv[.gz]])", file=str(path)
                )
            prefix = path.parent / name.prefix
            event_id = name.event_id
            self._part(prefix, "hits", event_id, required=True)
            prefixes = {event_id: prefix}
        return select_events(prefixes, self.config.events, str(path))

    @staticmethod
    def _part(prefix: Path, part: str, event_id: int, *, required: bool) -> Path | None:
        candidates = [p for p in (prefix.parent / n for n in part_file_names(prefix.name, part)) if p.is_file()]
        if len(candidates) > 1:
            raise DataError(
                f"both {[p.name for p in candidates]} exist; remove one", file=str(prefix.parent), event=event_id
            )
        if not candidates:
            if required:
                raise DataError(
                    f"missing {part} file ({prefix.name}-{part}.csv[.gz])", file=str(prefix), event=event_id
                )
            return None
        return candidates[0]

    # -- public interface ------------------------------------------------------------------------------
    def count(self, source: str | os.PathLike) -> int:
        """Number of events in ``source`` (from the file names only)."""
        return len(self._prefixes(source))

    def event_numbers(self, source: str | os.PathLike) -> list[int]:
        """Event numbers ``__call__`` yields, in its order (from the file names only)."""
        return [event_id for event_id, _ in self._prefixes(source)]

    def __call__(self, source: str | os.PathLike) -> EventStream:
        """The events of ``source``, sorted by event number.

        The iterator survives a bad event: ``next()`` raises that event's DataError and the following
        ``next()`` reads the next event (see :class:`tracking.io.pending.EventStream`).
        """
        return EventStream(self.pending_events(source))

    def pending_events(self, source: str | os.PathLike) -> Iterator[PendingEvent]:
        """Each event of ``source`` as (event number, read): a bad event fails in its ``read()`` only.

        The directory listing and the ``detectors`` file are checked here, before the first event.
        """
        prefixes = self._prefixes(source)
        if self.config.detectors is not None:
            _ = self.detectors  # a bad detectors file fails now, not after the first event
        return iter(
            [
                PendingEvent(event_id, functools.partial(self.read_event, prefix, event_id))
                for event_id, prefix in prefixes
            ]
        )

    def read_event(self, prefix: str | os.PathLike, event_id: int | None = None) -> Event:
        """One event from its prefix path (``.../event000000001``)."""
        prefix = Path(prefix)
        if event_id is None:
            name = parse_name(prefix.name)
            if name is None:
                raise DataError("not a TrackML event prefix", file=str(prefix))
            prefix, event_id = prefix.parent / name.prefix, name.event_id
        hits_path = self._part(prefix, "hits", event_id, required=True)
        assert hits_path is not None
        try:
            check_event_number(event_id)
        except ColumnError as err:
            raise DataError(str(err), file=str(hits_path), event=event_id) from None
        hits = read_csv_columns(
            hits_path, {c: d for c, (d, _) in HIT_COLUMNS.items()}, event_id, optional=OPTIONAL_HIT_COLUMNS
        )
        columns: dict[str, np.ndarray] = {}
        for column, (_, dtype) in HIT_COLUMNS.items():
            if column not in hits:
                continue
            values = hits[column].to_numpy()
            try:
                columns[column] = (
                    coordinate_column(values) if np.dtype(dtype).kind == "f" else integer_column(values, dtype)
                )
            except ColumnError as err:
                row = f" at row {err.index}" if err.index is not None else ""
                raise DataError(f"{err}{row}", file=str(hits_path), branch=column, event=event_id) from None
        hit_id = columns["hit_id"]
        if len(np.unique(hit_id)) != len(hit_id):
            raise DataError("hit_id values repeat", file=str(hits_path), branch="hit_id", event=event_id)
        if self.config.detectors is not None:
            _ = self.detectors
            if "module_id" not in columns:
                raise DataError(
                    "the check against the detectors file (config key 'detectors') needs the hits' module_id",
                    file=str(hits_path),
                    branch="module_id",
                    event=event_id,
                )
            self._module_rows(columns["volume_id"], columns["layer_id"], columns["module_id"], event_id, hits_path)

        particle_id = particles = None
        if self.config.truth is not False:
            required = bool(self.config.truth)
            truth_path = self._part(prefix, "truth", event_id, required=required)
            particles_path = self._part(prefix, "particles", event_id, required=required)
            if truth_path is not None:
                particle_id = self._hit_particles(truth_path, hit_id, event_id)
            if particles_path is not None:
                particles = self._particles(particles_path, event_id)
        return Event(
            event_id=event_id,
            particle_id=particle_id,
            particles=particles,
            meta={"source": str(hits_path), "reader": "trackml_csv"},
            **columns,
        )

    @staticmethod
    def _hit_particles(path: Path, hit_id: np.ndarray, event_id: int) -> np.ndarray:
        truth = read_csv_columns(path, TRUTH_COLUMNS, event_id)
        truth_hits = truth["hit_id"].to_numpy()
        order = np.argsort(truth_hits, kind="stable")
        sorted_hits = truth_hits[order]
        if len(sorted_hits) > 1 and np.any(sorted_hits[1:] == sorted_hits[:-1]):
            raise DataError("hit_id values repeat", file=str(path), branch="hit_id", event=event_id)
        pos, has_truth = search_sorted(sorted_hits, hit_id)
        missing = ~has_truth
        if missing.any():
            raise DataError(
                f"{int(missing.sum())} hit(s) have no truth row, first hit_id {hit_id[np.argmax(missing)]}",
                file=str(path),
                branch="hit_id",
                event=event_id,
            )
        return truth["particle_id"].to_numpy()[order[pos]].astype(np.int64)

    @staticmethod
    def _particles(path: Path, event_id: int) -> Particles:
        table = read_csv_columns(path, PARTICLE_COLUMNS, event_id)

        def column(name: str, convert) -> np.ndarray:
            try:
                return convert(table[name].to_numpy())
            except ColumnError as err:
                raise DataError(str(err), file=str(path), branch=name, event=event_id) from None

        px, py, pz = (table[c].to_numpy() for c in ("px", "py", "pz"))
        pt = np.hypot(px, py)
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.arcsinh(pz / pt)
        return Particles(
            particle_id=table["particle_id"].to_numpy(),
            pt=pt.astype(np.float32),
            eta=eta.astype(np.float32),
            phi=np.arctan2(py, px).astype(np.float32),
            vx=column("vx", float_column),
            vy=column("vy", float_column),
            vz=column("vz", float_column),
            q=column("q", lambda v: integer_column(v, np.int32)),
            nhits=column("nhits", lambda v: integer_column(v, np.int32)),
        )


def read_trackml_csv(source: str | os.PathLike, **config: Any) -> EventStream:
    """Events of a TrackML directory or event path; ``config`` as :class:`TrackmlCsvReader.Config`."""
    return TrackmlCsvReader(TrackmlCsvReader.Config(**config))(source)
