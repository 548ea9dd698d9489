"""The ``acts_root`` reader plugin: finds the files, indexes the events and reads them one run at a time."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from ...event import Event
from ...stages import Reader
from ..columns import ColumnError, check_event_number
from ..pending import EventStream, PendingEvent
from .branches import MEASUREMENT_BRANCHES, PARTICLE_BRANCHES, TreeBranches, TruthLayout, open_tree
from .event_index import EventIndex, adjacent_batches, build_event_index, select_events
from .measurements import REQUIRED_BRANCHES as MEASUREMENT_REQUIRED
from .measurements import read_measurements
from .particles import read_particles, required_branches


class ActsRootReader(Reader):
    """ACTS ROOT files (measurements.root + particles.root) -> events, one at a time."""

    @dataclass
    class Config:
        """Args:
        measurement_branches: DESIGN name -> branch name in the file, for files that differ
            (e.g. ``{"rec_gx": "x"}``); keys from ``MEASUREMENT_BRANCHES``.
        particle_branches: the same for the particles tree; keys from ``PARTICLE_BRANCHES``.
        measurements_file, particles_file: file names inside the source directory.
        measurements_tree, particles_tree: tree names.
        events: read only these event numbers (each must exist); default all.
        truth: None = read truth when present, True = require it, False = ignore it.
        chunk_entries: at most this many measurement entries are read at once (events larger
            than this are still read whole).
        """

        measurement_branches: dict[str, str] = field(default_factory=dict)
        particle_branches: dict[str, str] = field(default_factory=dict)
        measurements_file: str = "measurements.root"
        particles_file: str = "particles.root"
        measurements_tree: str = "measurements"
        particles_tree: str = "particles"
        events: list[int] | None = None
        truth: bool | None = None
        chunk_entries: int = 1_000_000

    def __init__(self, config: Config | None = None) -> None:
        config = config if config is not None else self.Config()
        super().__init__(config)
        for label, mapping, known in (
            ("measurement_branches", config.measurement_branches, MEASUREMENT_BRANCHES),
            ("particle_branches", config.particle_branches, PARTICLE_BRANCHES),
        ):
            unknown = sorted(set(mapping) - set(known))
            if unknown:
                raise ConfigError(f"acts_root: {label} has unknown key(s) {unknown}; known: {', '.join(known)}")
        if config.chunk_entries < 1:
            raise ConfigError(f"acts_root: chunk_entries must be >= 1, got {config.chunk_entries}")
        self._index_cache: dict[tuple, EventIndex] = {}

    # -- paths and files -------------------------------------------------------------------------------
    def _paths(self, source: str | os.PathLike) -> tuple[Path, Path | None]:
        cfg = self.config
        path = Path(source)
        if path.is_dir():
            measurements = path / cfg.measurements_file
        elif path.exists():
            measurements = path
        else:
            raise DataError("no such file or directory", file=str(path))
        if not measurements.is_file():
            raise DataError(f"missing {cfg.measurements_file} (ACTS measurements)", file=str(measurements))
        if cfg.truth is False:
            return measurements, None
        particles = measurements.parent / cfg.particles_file
        if not particles.is_file():
            if cfg.truth:
                raise DataError("truth required (truth: true) but the particles file is missing", file=str(particles))
            return measurements, None
        return measurements, particles

    # -- index -----------------------------------------------------------------------------------------
    def _index(self, measurements: Path, particles: Path | None) -> EventIndex:
        stat = measurements.stat()
        pstat = particles.stat() if particles is not None else None
        key = (
            str(measurements.resolve()),
            stat.st_mtime_ns,
            stat.st_size,
            str(particles) if particles else None,
            pstat.st_mtime_ns if pstat else None,
        )
        if key not in self._index_cache:
            self._index_cache.clear()
            cfg = self.config
            self._index_cache[key] = build_event_index(
                measurements,
                particles,
                measurements_tree=cfg.measurements_tree,
                measurement_branches=cfg.measurement_branches,
                particles_tree=cfg.particles_tree,
                particle_branches=cfg.particle_branches,
                chunk_entries=cfg.chunk_entries,
            )
        return self._index_cache[key]

    def _selected(self, index: EventIndex, source: Path) -> np.ndarray:
        return select_events(index, self.config.events, source)

    # -- public interface ------------------------------------------------------------------------------
    def count(self, source: str | os.PathLike) -> int:
        """Number of events that ``__call__`` yields (reads only the event number branches)."""
        measurements, particles = self._paths(source)
        return len(self._selected(self._index(measurements, particles), measurements))

    def event_numbers(self, source: str | os.PathLike) -> list[int]:
        """Event numbers ``__call__`` yields, in its order (reads only the event number branches)."""
        measurements, particles = self._paths(source)
        index = self._index(measurements, particles)
        return [int(i) for i in index.event_ids[self._selected(index, measurements)]]

    def __call__(self, source: str | os.PathLike) -> EventStream:
        """The events of ``source`` (a directory with the ACTS files, or measurements.root), in event order.

        The iterator survives a bad event: ``next()`` raises that event's DataError and the following
        ``next()`` reads the next event (see :class:`tracking.io.pending.EventStream`).
        """
        return EventStream(self.pending_events(source))

    def pending_events(self, source: str | os.PathLike) -> Iterator[PendingEvent]:
        """Each event of ``source`` as (event number, read): a bad event fails in its ``read()`` only.

        The files, trees and the branches every event needs are checked here, before the first event
        (a failure there concerns every event); the event index is built too.
        """
        measurements, particles = self._paths(source)
        index = self._index(measurements, particles)
        selected = self._selected(index, measurements)
        pending = self._pending(measurements, particles, index, selected)
        next(pending)  # runs the file-level checks now; the generator then waits at its first event
        return pending

    def _pending(
        self, measurements: Path, particles: Path | None, index: EventIndex, selected: np.ndarray
    ) -> Iterator[PendingEvent]:
        """After the file-level checks, yields None once (see :meth:`pending_events`), then the events."""
        cfg = self.config
        files: list = []
        try:
            mtree = open_tree(files, measurements, cfg.measurements_tree)
            hits = TreeBranches.of(mtree, measurements, cfg.measurement_branches, MEASUREMENT_BRANCHES)
            hits.require(MEASUREMENT_REQUIRED)
            hits_truth = None if cfg.truth is False else hits.truth_layout("particles_", required=bool(cfg.truth))
            table: TreeBranches | None = None
            table_truth = None
            if particles is not None:
                ptree = open_tree(files, particles, cfg.particles_tree)
                table = TreeBranches.of(ptree, particles, cfg.particle_branches, PARTICLE_BRANCHES)
                table.require(required_branches(table))
                table_truth = table.truth_layout("", required=bool(cfg.truth))
                if table_truth is None:
                    raise table.error("particles tree has neither barcode branches nor 'particle_id'", "particle_id")
            yield None  # type: ignore[misc]  # checks done

            def read_event(pos: int, batch: _Batch) -> Event:
                event_id = int(index.event_ids[pos])
                try:
                    check_event_number(event_id)
                except ColumnError as err:
                    raise hits.error(str(err), "event_nr", event=event_id) from None
                columns = batch.columns(pos)
                particle_table = None
                if table is not None and table_truth is not None:
                    particle_table = read_particles(
                        table, table_truth, int(index.particle_entries[pos]), event_id, columns.get("particle_id")
                    )
                return Event(
                    event_id=event_id,
                    hit_id=np.arange(len(columns["x"]), dtype=np.int64),
                    particles=particle_table,
                    meta={"source": str(measurements), "reader": "acts_root"},
                    **columns,
                )

            for positions in adjacent_batches(index, selected, cfg.chunk_entries):
                batch = _Batch(hits, hits_truth, index, positions)
                for pos in positions:
                    yield PendingEvent(int(index.event_ids[pos]), functools.partial(read_event, pos, batch))
        finally:
            for f in files:
                f.close()


class _Batch:
    """The measurement columns of a run of adjacent events, read together on the first ``columns()`` call.

    When the run fails to read (a bad value, a damaged basket), each event is then read on its own, so
    that only the bad one fails and its neighbours still come out.
    """

    def __init__(self, hits: TreeBranches, truth: TruthLayout | None, index: EventIndex, positions: list[int]):
        self.hits, self.truth, self.index, self.positions = hits, truth, index, positions
        self._columns: dict[int, dict[str, np.ndarray]] | None = None
        self._failed = len(positions) == 1  # a single event is read on its own anyway

    def columns(self, pos: int) -> dict[str, np.ndarray]:
        if self._columns is None and not self._failed:
            try:
                self._columns = dict(
                    zip(self.positions, read_measurements(self.hits, self.truth, self.index, self.positions))
                )
            except DataError:
                self._failed = True
        if self._columns is not None:
            return self._columns.pop(pos)
        return read_measurements(self.hits, self.truth, self.index, [pos])[0]


def read_acts_root(source: str | os.PathLike, **config: Any) -> EventStream:
    """Events of an ACTS output directory (or measurements.root); ``config`` as :class:`ActsRootReader.Config`."""
    return ActsRootReader(ActsRootReader.Config(**config))(source)
