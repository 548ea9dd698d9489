"""Reader of the ROOT files that ACTS (Fatras + digitisation) writes: ``measurements.root`` and
``particles.root`` (schemas in DESIGN.md, "Formats").

Events are read one at a time, never a whole file: a first pass reads only the ``event_nr`` branch of
the measurements tree, in chunks of ``chunk_entries`` entries, and records where each event's block of
entries starts and stops; then each event (or a run of consecutive small events, up to
``chunk_entries`` entries) is read with ``entry_start``/``entry_stop``. Blocks may appear in any order in
the file (multi-threaded ACTS writes them as events finish) but each event's measurements must be
contiguous. Events are yielded in ``event_nr`` order.

A hit's ``hit_id`` is the index of the measurement within its event, in file order. Its
``particle_id`` comes from the v44+ barcode branches ``particles_vertex_primary, ..._sub_particle``
(jagged; empty = noise; several particles -> the first) packed by :func:`tracking.io.barcode.encode_barcode`,
or from an older single ``particle_id`` branch (jagged or flat, signed or unsigned 64-bit). ``hits.root``
(simulated hits) is not needed and not read: measurements carry their truth links.

Type rules (the same for every branch): an integer field accepts any integer or floating branch whose
values convert losslessly (e.g. ``event_nr`` written as float64 ``3.0``); a non-integral, non-finite or
out-of-range value is a :class:`DataError` naming file, tree, branch and event. Float fields accept
integer or float branches and are stored as float32. Hit coordinates must be finite. An event present in
``particles.root`` but without measurements yields an Event with zero hits. Every failure of uproot on a
truncated or corrupt file is re-raised as a :class:`DataError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from ..errors import ConfigError, DataError
from ..event import Event, Particles
from ..stages import Reader
from .barcode import FIELDS as BARCODE_LAYOUT
from .barcode import encode_barcode
from .columns import ColumnError, float_column, integer_column, particle_id_column

BARCODE_FIELDS: tuple[str, ...] = tuple(name for name, _, _ in BARCODE_LAYOUT)

# DESIGN names of the branches this reader knows; the config maps them to the names in a file.
MEASUREMENT_BRANCHES: tuple[str, ...] = (
    "event_nr", "volume_id", "layer_id", "surface_id", "rec_gx", "rec_gy", "rec_gz",
    *(f"particles_{name}" for name in BARCODE_FIELDS), "particle_id",
)
PARTICLE_BRANCHES: tuple[str, ...] = (
    "event_id", *BARCODE_FIELDS, "particle_id",
    "pt", "eta", "phi", "px", "py", "pz", "vx", "vy", "vz", "q", "number_of_hits",
)


def _lookup(sorted_keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value: whether it is in ``sorted_keys``, and its position there (valid where found)."""
    pos = np.searchsorted(sorted_keys, values)
    if len(sorted_keys) == 0:
        return np.zeros(len(values), bool), np.zeros(len(values), np.int64)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return sorted_keys[pos] == values, pos


# -- the reader -----------------------------------------------------------------------------------------


@dataclass
class _EventIndex:
    """Where each event lives: sorted ids, measurement entry range, particles entry (-1 = none)."""

    event_ids: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    particle_entries: np.ndarray


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
        self._index_cache: dict[tuple, _EventIndex] = {}

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
        particles: Path | None = measurements.parent / cfg.particles_file
        if cfg.truth is False:
            particles = None
        elif not particles.is_file():
            if cfg.truth:
                raise DataError("truth required (truth: true) but the particles file is missing", file=str(particles))
            particles = None
        return measurements, particles

    @staticmethod
    @contextmanager
    def _uproot_errors(path: Path, tree: str | None = None, branch: str | None = None, event: int | None = None):
        """Turn whatever uproot raises on a truncated or corrupt file into a DataError with context."""
        try:
            yield
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - uproot raises many types on corrupt input
            raise DataError(
                f"cannot read ROOT data, the file may be truncated or corrupt: {type(err).__name__}: {err}",
                file=str(path), tree=tree, branch=branch, event=event,
            ) from err

    def _open_tree(self, stack: list, path: Path, tree_name: str):
        with self._uproot_errors(path):
            rootfile = uproot.open(path)
        stack.append(rootfile)
        with self._uproot_errors(path, tree_name):
            names = {key.split(";")[0] for key in rootfile.keys(recursive=False)}
            if tree_name not in names:
                raise DataError(
                    f"missing tree; the file holds {sorted(names) or 'nothing'}", file=str(path), tree=tree_name
                )
            tree = rootfile[tree_name]
            if not isinstance(tree, uproot.TTree):
                raise DataError(f"{tree_name!r} is a {type(tree).__name__}, not a TTree", file=str(path),
                                tree=tree_name)
            tree.keys()  # forces reading the branch list, which a corrupt file can fail on
        return tree

    # -- branch lookup ---------------------------------------------------------------------------------
    @staticmethod
    def _branch_names(tree, mapping: dict[str, str], names: Sequence[str]) -> dict[str, str | None]:
        """DESIGN name -> file branch name, or None when absent from the tree."""
        present = set(tree.keys())
        out: dict[str, str | None] = {}
        for name in names:
            actual = mapping.get(name, name)
            out[name] = actual if actual in present else None
        return out

    @staticmethod
    def _require(found: dict[str, str | None], names: Sequence[str], mapping, path: Path, tree) -> None:
        for name in names:
            if found[name] is None:
                actual = mapping.get(name, name)
                hint = f" (mapped from {name!r})" if actual != name else ""
                raise DataError(
                    f"missing branch{hint}; the tree has {', '.join(sorted(tree.keys()))}",
                    file=str(path), tree=tree.name, branch=actual,
                )

    def _truth_branches(self, found, mapping, path: Path, tree, prefix: str) -> str | None:
        """'barcode', 'particle_id' or None, after checking that a barcode is complete."""
        barcode = [f"{prefix}{name}" for name in BARCODE_FIELDS]
        have = [name for name in barcode if found[name] is not None]
        if have and len(have) < len(barcode):
            missing = [mapping.get(n, n) for n in barcode if found[n] is None]
            raise DataError(
                f"incomplete barcode: has {[mapping.get(n, n) for n in have]} but lacks {missing}",
                file=str(path), tree=tree.name, branch=missing[0],
            )
        if have:
            return "barcode"
        if found["particle_id"] is not None:
            return "particle_id"
        if self.config.truth:
            raise DataError(
                "truth required (truth: true) but neither barcode branches "
                f"{[mapping.get(n, n) for n in barcode]} nor 'particle_id' exist",
                file=str(path), tree=tree.name, branch=mapping.get("particle_id", "particle_id"),
            )
        return None

    # -- index -----------------------------------------------------------------------------------------
    def _index(self, measurements: Path, particles: Path | None) -> _EventIndex:
        stat = measurements.stat()
        pstat = particles.stat() if particles is not None else None
        key = (
            str(measurements.resolve()), stat.st_mtime_ns, stat.st_size,
            str(particles) if particles else None, pstat.st_mtime_ns if pstat else None,
        )
        if key not in self._index_cache:
            self._index_cache.clear()
            self._index_cache[key] = self._build_index(measurements, particles)
        return self._index_cache[key]

    def _build_index(self, measurements: Path, particles: Path | None) -> _EventIndex:
        cfg = self.config
        files: list = []
        try:
            tree = self._open_tree(files, measurements, cfg.measurements_tree)
            found = self._branch_names(tree, cfg.measurement_branches, ["event_nr"])
            self._require(found, ["event_nr"], cfg.measurement_branches, measurements, tree)
            event_branch = found["event_nr"]
            ids_parts, starts_parts = [], []
            last_id: int | None = None
            n = tree.num_entries
            for begin in range(0, n, cfg.chunk_entries):
                end = min(begin + cfg.chunk_entries, n)
                with self._uproot_errors(measurements, tree.name, event_branch):
                    raw = tree[event_branch].array(entry_start=begin, entry_stop=end, library="np")
                try:
                    ev = integer_column(raw, np.int64)
                except ColumnError as err:
                    raise DataError(
                        f"bad event number at entry {begin + (err.index or 0)}: {err}",
                        file=str(measurements), tree=tree.name, branch=event_branch,
                    ) from None
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
                raise DataError(
                    f"the measurements of one event are not contiguous (entries {starts[i]}..{stops[i]} and "
                    f"{starts[i + 1]}..{stops[i + 1]})",
                    file=str(measurements), tree=tree.name, branch=event_branch, event=int(ids[i]),
                )

            pids = np.zeros(0, np.int64)
            pentries = np.zeros(0, np.int64)
            if particles is not None:
                pids, pentries = self._particle_event_ids(files, particles)
        finally:
            for f in files:
                f.close()

        all_ids = np.union1d(ids, pids)
        has_meas, mpos = _lookup(ids, all_ids)
        has_part, ppos = _lookup(pids, all_ids)
        return _EventIndex(
            event_ids=all_ids.astype(np.int64),
            starts=np.where(has_meas, starts[mpos] if len(ids) else 0, 0).astype(np.int64),
            stops=np.where(has_meas, stops[mpos] if len(ids) else 0, 0).astype(np.int64),
            particle_entries=np.where(has_part, pentries[ppos] if len(pids) else -1, -1).astype(np.int64),
        )

    def _particle_event_ids(self, files: list, particles: Path) -> tuple[np.ndarray, np.ndarray]:
        """Sorted event ids of the particles tree and the entry holding each."""
        cfg = self.config
        tree = self._open_tree(files, particles, cfg.particles_tree)
        found = self._branch_names(tree, cfg.particle_branches, ["event_id"])
        self._require(found, ["event_id"], cfg.particle_branches, particles, tree)
        branch = found["event_id"]
        with self._uproot_errors(particles, tree.name, branch):
            raw = tree[branch].array(library="ak")
        entries = np.arange(len(raw), dtype=np.int64)
        if raw.ndim > 1:
            # a vector event_id repeats the id per particle; an entry without particles carries none
            first = ak.firsts(raw)
            if not ak.all(raw == first):
                bad = int(np.flatnonzero(~ak.to_numpy(ak.fill_none(ak.all(raw == first, axis=1), True)))[0])
                raise DataError(f"entry {bad} mixes event ids", file=str(particles), tree=tree.name, branch=branch)
            keep = ~ak.to_numpy(ak.is_none(first))
            raw, entries = ak.to_numpy(ak.fill_none(first, 0))[keep], entries[keep]
        try:
            ids = integer_column(ak.to_numpy(raw), np.int64)
        except ColumnError as err:
            raise DataError(f"bad event id: {err}", file=str(particles), tree=tree.name, branch=branch) from None
        order = np.argsort(ids, kind="stable")
        ids, entries = ids[order], entries[order]
        repeated = np.flatnonzero(ids[1:] == ids[:-1])
        if len(repeated):
            raise DataError("event appears in two entries", file=str(particles), tree=tree.name, branch=branch,
                            event=int(ids[repeated[0]]))
        return ids, entries

    def _selected(self, index: _EventIndex, source: Path) -> np.ndarray:
        """Positions in ``index`` of the events to read, in event order."""
        if self.config.events is None:
            return np.arange(len(index.event_ids))
        wanted = np.unique(np.asarray(self.config.events, dtype=np.int64))
        found, pos = _lookup(index.event_ids, wanted)
        missing = wanted[~found]
        if len(missing):
            have = (f"{index.event_ids.min()}..{index.event_ids.max()} ({len(index.event_ids)} events)"
                    if len(index.event_ids) else "no events")
            raise DataError(f"requested event not in the file, which has {have}", file=str(source),
                            event=int(missing[0]))
        return pos

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

    def __call__(self, source: str | os.PathLike) -> Iterator[Event]:
        """Yield the events of ``source`` (a directory with the ACTS files, or measurements.root)."""
        measurements, particles = self._paths(source)
        index = self._index(measurements, particles)
        selected = self._selected(index, measurements)
        return self._events(measurements, particles, index, selected)

    def _events(self, measurements: Path, particles: Path | None, index: _EventIndex,
                selected: np.ndarray) -> Iterator[Event]:
        cfg = self.config
        files: list = []
        try:
            mtree = self._open_tree(files, measurements, cfg.measurements_tree)
            mmap = cfg.measurement_branches
            mfound = self._branch_names(mtree, mmap, MEASUREMENT_BRANCHES)
            self._require(mfound, ["volume_id", "layer_id", "surface_id", "rec_gx", "rec_gy", "rec_gz"],
                          mmap, measurements, mtree)
            mtruth = (None if cfg.truth is False
                      else self._truth_branches(mfound, mmap, measurements, mtree, "particles_"))
            ptree = pfound = ptruth = None
            if particles is not None:
                ptree = self._open_tree(files, particles, cfg.particles_tree)
                pmap = cfg.particle_branches
                pfound = self._branch_names(ptree, pmap, PARTICLE_BRANCHES)
                has_pt_eta_phi = all(pfound[n] for n in ("pt", "eta", "phi"))
                kinematics = ["pt", "eta", "phi"] if has_pt_eta_phi else ["px", "py", "pz"]
                self._require(pfound, [*kinematics, "vx", "vy", "vz", "q"], pmap, particles, ptree)
                ptruth = self._truth_branches(pfound, pmap, particles, ptree, "")
                if ptruth is None:
                    raise DataError("particles tree has neither barcode branches nor 'particle_id'",
                                    file=str(particles), tree=ptree.name,
                                    branch=pmap.get("particle_id", "particle_id"))

            for batch in self._batches(index, selected):
                hits = self._read_measurements(mtree, mfound, mtruth, measurements, index, batch)
                for pos, columns in zip(batch, hits):
                    event_id = int(index.event_ids[pos])
                    table = None
                    if ptree is not None:
                        table = self._read_particles(ptree, pfound, ptruth, particles, int(index.particle_entries[pos]),
                                                     event_id, columns.get("particle_id"))
                    yield Event(
                        event_id=event_id,
                        hit_id=np.arange(len(columns["x"]), dtype=np.int64),
                        particles=table,
                        meta={"source": str(measurements), "reader": "acts_root"},
                        **columns,
                    )
        finally:
            for f in files:
                f.close()

    def _batches(self, index: _EventIndex, selected: np.ndarray) -> Iterator[list[int]]:
        """Runs of selected events whose entries are adjacent in the file, up to chunk_entries each."""
        batch: list[int] = []
        size = 0
        for pos in selected:
            n = int(index.stops[pos] - index.starts[pos])
            adjacent = bool(batch) and index.starts[pos] == index.stops[batch[-1]]
            if batch and (not adjacent or size + n > self.config.chunk_entries):
                yield batch
                batch, size = [], 0
            batch.append(int(pos))
            size += n
        if batch:
            yield batch

    def _read_measurements(self, tree, found, truth: str | None, path: Path, index: _EventIndex,
                           batch: list[int]) -> list[dict[str, np.ndarray | None]]:
        """Columns of each event of ``batch`` (read together; they are adjacent in the file)."""
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

        def read(name: str):
            branch = found[name]
            with self._uproot_errors(path, tree.name, branch, int(index.event_ids[batch[0]])):
                return tree[branch].array(entry_start=begin, entry_stop=end, library="ak")

        def convert(name: str, fn: Callable[[Any], np.ndarray], values) -> np.ndarray:
            try:
                return fn(values)
            except ColumnError as err:
                raise DataError(str(err), file=str(path), tree=tree.name, branch=found[name],
                                event=event_at(err.index)) from None

        columns: dict[str, np.ndarray | None] = {}
        if end > begin:
            for name, field_name in (("rec_gx", "x"), ("rec_gy", "y"), ("rec_gz", "z")):
                flat = self._flat(read(name), name, found, path, tree)
                columns[field_name] = convert(name, lambda v: float_column(v, finite=True), flat)
            for name, field_name in (("volume_id", "volume_id"), ("layer_id", "layer_id"), ("surface_id", "module_id")):
                flat = self._flat(read(name), name, found, path, tree)
                columns[field_name] = convert(name, lambda v: integer_column(v, np.int32), flat)
            if truth == "barcode":
                columns["particle_id"] = self._barcode_column(
                    {f: read(f"particles_{f}") for f in BARCODE_FIELDS}, "particles_", found, path, tree, event_at)
            elif truth == "particle_id":
                columns["particle_id"] = convert("particle_id", particle_id_column, self._first(read("particle_id")))
        else:
            for name in ("x", "y", "z"):
                columns[name] = np.zeros(0, np.float32)
            for name in ("volume_id", "layer_id", "module_id"):
                columns[name] = np.zeros(0, np.int32)
            if truth is not None:
                columns["particle_id"] = np.zeros(0, np.int64)
        return [{k: v[lo:hi] for k, v in columns.items()} for lo, hi in bounds]

    @staticmethod
    def _flat(values, name: str, found, path: Path, tree) -> np.ndarray:
        if values.ndim != 1:
            raise DataError(f"expected one value per entry, got type {values.type}", file=str(path),
                            tree=tree.name, branch=found[name])
        return ak.to_numpy(values)

    @staticmethod
    def _first(values) -> np.ndarray:
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

    def _barcode_column(self, parts: dict[str, Any], prefix: str, found, path: Path, tree,
                        event_at: Callable[[int | None], int | None]) -> np.ndarray:
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
                raise DataError(f"barcode branches disagree on the number of particles at entry {row}",
                                file=str(path), tree=tree.name, branch=found[f"{prefix}{name}"], event=event_at(row))
        fields = {}
        for name, values in parts.items():
            try:
                fields[name] = integer_column(self._first(values), np.uint32)
            except ColumnError as err:
                raise DataError(str(err), file=str(path), tree=tree.name, branch=found[f"{prefix}{name}"],
                                event=event_at(err.index)) from None
        try:
            return encode_barcode(*(fields[name] for name in BARCODE_FIELDS))
        except ValueError as err:
            raise DataError(str(err), file=str(path), tree=tree.name) from None

    def _read_particles(self, tree, found, truth: str, path: Path, entry: int, event_id: int,
                        hit_particle_ids: np.ndarray | None) -> Particles:
        """The particle table of one event (empty when the event has no entry in the particles tree)."""
        names = [n for n in PARTICLE_BRANCHES if found[n] is not None and n != "event_id"]
        raw: dict[str, Any] = {}
        if entry >= 0:
            for name in names:
                with self._uproot_errors(path, tree.name, found[name], event_id):
                    values = tree[found[name]].array(entry_start=entry, entry_stop=entry + 1, library="ak")
                if values.ndim != 2:
                    raise DataError(f"expected one vector per event, got type {values.type}", file=str(path),
                                    tree=tree.name, branch=found[name], event=event_id)
                raw[name] = ak.to_numpy(values[0])
        else:
            raw = {name: np.zeros(0, np.float32) for name in names}
        lengths = {found[n]: len(v) for n, v in raw.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"particle branches have different lengths {lengths}", file=str(path), tree=tree.name,
                            event=event_id)

        def convert(name: str, fn: Callable[[Any], np.ndarray]) -> np.ndarray:
            try:
                return fn(raw[name])
            except ColumnError as err:
                raise DataError(str(err), file=str(path), tree=tree.name, branch=found[name], event=event_id) from None

        if truth == "barcode":
            fields = [convert(n, lambda v: integer_column(v, np.uint32)) for n in BARCODE_FIELDS]
            try:
                pid = encode_barcode(*fields)
            except ValueError as err:
                raise DataError(str(err), file=str(path), tree=tree.name, event=event_id) from None
        else:
            pid = convert("particle_id", particle_id_column)
        if "pt" in raw and "eta" in raw and "phi" in raw:
            pt, eta, phi = (convert(n, float_column) for n in ("pt", "eta", "phi"))
        else:
            px, py, pz = (convert(n, float_column).astype(np.float64) for n in ("px", "py", "pz"))
            pt64 = np.hypot(px, py)
            with np.errstate(divide="ignore", invalid="ignore"):
                eta = np.arcsinh(pz / pt64).astype(np.float32)
            pt, phi = pt64.astype(np.float32), np.arctan2(py, px).astype(np.float32)
        if "number_of_hits" in raw:
            nhits = convert("number_of_hits", lambda v: integer_column(v, np.int32))
        elif hit_particle_ids is not None:
            # older files lack number_of_hits: count this event's measurements per particle instead
            ids, counts = np.unique(hit_particle_ids, return_counts=True)
            counted, pos = _lookup(ids, pid)
            nhits = np.where(counted, counts[pos] if len(ids) else 0, 0).astype(np.int32)
        else:
            nhits = np.full(len(pid), -1, np.int32)  # unknown
        return Particles(
            particle_id=pid, pt=pt, eta=eta, phi=phi,
            vx=convert("vx", float_column), vy=convert("vy", float_column), vz=convert("vz", float_column),
            q=convert("q", lambda v: integer_column(v, np.int32)), nhits=nhits,
        )


def read_acts_root(source: str | os.PathLike, **config: Any) -> Iterator[Event]:
    """Events of an ACTS output directory (or measurements.root); ``config`` as :class:`ActsRootReader.Config`."""
    return ActsRootReader(ActsRootReader.Config(**config))(source)
