"""LHCb VELO events (the JSON of the public "velopix tracking" project) -> trackpipe events.

A second detector for trackpipe, and an example of a reader plugin that lives outside the package:
importing this module registers the reader ``velo_json`` (``pip install -e examples/velo`` does it through
the example's own ``trackpipe.plugins`` entry point, exactly as a third-party package would), and
``python examples/velo/velo_reader.py convert SRC -o OUT`` writes the events as ACTS ROOT files, which
every trackpipe command reads.

What an event holds (see ``../shared/data/README.md`` for the JSON):

- hits in file order, ``hit_id`` = index in the JSON lists; ``x, y, z`` in mm;
- ids for the module map: ``layer_id`` = the VELO module (0..51, ordered along z), ``volume_id`` = the
  side of the beam it sits on (module % 2), ``module_id`` = the face of the module (0 = upstream plane,
  1 = the plane 1.162 mm downstream; each face carries two sensors, which the JSON does not tell apart);
- truth: ``particle_id`` = the particle's ``key``; a hit left by several particles (about 2 % of hits)
  gets the particle with the most hits (ties: the smaller key), and every link is kept in
  ``event.meta["hit_particles"]`` (hit rows, particle ids) for the LHCb matching;
- the particle table: ``pt`` (GeV), ``eta``, ``phi``, ``q``, ``nhits`` from the JSON; the JSON has no
  production vertex, so ``vx, vy, vz`` is where the straight line through the particle's hits comes
  closest to the beam line (kept upstream of its first hit), which orders its hits as the truth graph
  needs; ``Particles.extra`` carries ``pdg``, ``p`` (GeV) and the flags ``is_long``, ``is_down``,
  ``has_velo``, ``has_ut``, ``has_scifi``, ``from_beauty``, ``from_charm``, ``from_strange`` that the
  LHCb categories read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tracking.errors import DataError
from tracking.event import Event, Particles
from tracking.stages import Reader

N_MODULES = 52
# The two planes of every module sit at z = Z0 + 12.5 mm * k and 1.162 mm downstream of it.
PLANE_PITCH = 12.5
PLANE_Z0 = -288.08
FACE_OFFSET = 1.162
_Z_TOLERANCE = 0.01
FLAG_COLUMNS = {
    "isLong": "is_long",
    "isDown": "is_down",
    "hasVelo": "has_velo",
    "hasUT": "has_ut",
    "hasScifi": "has_scifi",
    "fromBeautyDecay": "from_beauty",
    "fromCharmDecay": "from_charm",
    "fromStrangeDecay": "from_strange",
}
NEEDED = ("key", "pid", "p", "pt", "eta", "phi", "charge", "hits", *FLAG_COLUMNS)
FILE_PATTERN = re.compile(r"^velo_event_(\d+)\.json$")


def event_files(source: str | os.PathLike) -> list[tuple[int, Path]]:
    """(event number, path) of the ``velo_event_N.json`` files of a directory (or one such file), by number."""
    path = Path(source)
    if path.is_file():
        m = FILE_PATTERN.match(path.name)
        if m is None:
            raise DataError("not a velo_event_N.json file", file=str(path))
        return [(int(m.group(1)), path)]
    if not path.is_dir():
        raise DataError("VELO event file or directory not found", file=str(path))
    found = [(int(m.group(1)), p) for p in path.iterdir() if (m := FILE_PATTERN.match(p.name))]
    if not found:
        raise DataError("no velo_event_N.json files", file=str(path))
    return sorted(found)


def _faces(z: np.ndarray, path: Path) -> np.ndarray:
    offset = np.mod(z - PLANE_Z0, PLANE_PITCH)
    face = np.abs(offset - FACE_OFFSET) < _Z_TOLERANCE
    upstream = (offset < _Z_TOLERANCE) | (offset > PLANE_PITCH - _Z_TOLERANCE)
    bad = ~(face | upstream)
    if bad.any():
        raise DataError(f"hit {int(np.argmax(bad))} at z = {z[bad][0]} mm lies on no VELO plane", file=str(path))
    return face.astype(np.int32)


def _vertices(
    particle_rows: np.ndarray, hit_rows: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, eta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per particle, the point where the least-squares line x(z), y(z) through its hits comes closest to the
    beam line, moved to its first hit when that point lies among or beyond its hits."""
    n = len(eta)
    hz, hx, hy = z[hit_rows], x[hit_rows], y[hit_rows]

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(particle_rows, weights=values, minlength=n)

    s0, sz, szz = total(np.ones_like(hz)), total(hz), total(hz * hz)
    det = s0 * szz - sz * sz
    ok = det > 1e-9
    safe = np.where(ok, det, 1.0)
    bx = np.where(ok, (s0 * total(hx * hz) - sz * total(hx)) / safe, 0.0)
    by = np.where(ok, (s0 * total(hy * hz) - sz * total(hy)) / safe, 0.0)
    ax = np.where(s0 > 0, (total(hx) - bx * sz) / np.maximum(s0, 1), 0.0)
    ay = np.where(s0 > 0, (total(hy) - by * sz) / np.maximum(s0, 1), 0.0)
    slope2 = bx * bx + by * by
    vz = np.where(ok & (slope2 > 1e-12), -(ax * bx + ay * by) / np.where(slope2 > 1e-12, slope2, 1.0), 0.0)
    zmin = np.full(n, np.inf)
    zmax = np.full(n, -np.inf)
    np.minimum.at(zmin, particle_rows, hz)
    np.maximum.at(zmax, particle_rows, hz)
    has = s0 > 0
    # a particle flies forward (eta > 0) or backward: its vertex is upstream of all its hits
    vz = np.where(has & (eta >= 0), np.minimum(vz, zmin), vz)
    vz = np.where(has & (eta < 0), np.maximum(vz, zmax), vz)
    return ax + bx * vz, ay + by * vz, vz


def read_velo_event(path: str | os.PathLike, event_id: int | None = None, *, truth: bool = True) -> Event:
    """One ``velo_event_N.json`` as an :class:`Event` (module docstring); DataError names the file and key."""
    path = Path(path)
    if event_id is None:
        m = FILE_PATTERN.match(path.name)
        event_id = int(m.group(1)) if m else 0
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read VELO JSON: {err}", file=str(path), event=event_id) from err
    for key in ("x", "y", "z", "module_prefix_sum"):
        if key not in data:
            raise DataError("missing key", file=str(path), branch=key, event=event_id)
    x, y, z = (np.asarray(data[k], dtype=np.float64) for k in ("x", "y", "z"))
    n = len(x)
    if len(y) != n or len(z) != n:
        raise DataError(f"x, y, z have {n}, {len(y)}, {len(z)} entries", file=str(path), event=event_id)
    prefix = np.asarray(data["module_prefix_sum"], dtype=np.int64)
    if len(prefix) != N_MODULES + 1 or prefix[0] != 0 or prefix[-1] != n or np.any(np.diff(prefix) < 0):
        raise DataError(
            f"module_prefix_sum must be {N_MODULES + 1} rising offsets from 0 to {n}",
            file=str(path),
            branch="module_prefix_sum",
            event=event_id,
        )
    module = np.repeat(np.arange(N_MODULES, dtype=np.int32), np.diff(prefix))
    f32 = np.float32
    hits: dict[str, Any] = {
        "event_id": event_id,
        "hit_id": np.arange(n, dtype=np.int64),
        "x": x.astype(f32),
        "y": y.astype(f32),
        "z": z.astype(f32),
        "volume_id": (module % 2).astype(np.int32),
        "layer_id": module,
        "module_id": _faces(z, path),
        "meta": {"source": str(path), "reader": "velo_json"},
    }
    if not truth:
        return Event(**hits)
    mc = data.get("montecarlo")
    if not mc or "description" not in mc or "particles" not in mc:
        raise DataError("no Monte Carlo truth", file=str(path), branch="montecarlo", event=event_id)
    columns = list(mc["description"])
    missing = [c for c in NEEDED if c not in columns]
    if missing:
        raise DataError(f"montecarlo.description lacks {missing}", file=str(path), event=event_id)
    col = {name: columns.index(name) for name in NEEDED}
    rows = mc["particles"]
    if any(len(r) != len(columns) for r in rows):
        raise DataError("a montecarlo.particles row does not match the description", file=str(path), event=event_id)

    def column(name: str, dtype: Any) -> np.ndarray:
        return np.asarray([r[col[name]] for r in rows], dtype=dtype).reshape(len(rows))

    keys = column("key", np.int64)
    if len(np.unique(keys)) != len(keys) or (keys == 0).any():
        raise DataError("particle keys must be unique and non-zero", file=str(path), event=event_id)
    nhits = np.asarray([len(r[col["hits"]]) for r in rows], dtype=np.int64)
    particle_rows = np.repeat(np.arange(len(rows)), nhits)
    hit_rows = np.asarray([h for r in rows for h in r[col["hits"]]], dtype=np.int64)
    if len(hit_rows) and (hit_rows.min() < 0 or hit_rows.max() >= n):
        raise DataError(f"a particle lists a hit outside [0, {n})", file=str(path), event=event_id)

    # one particle per hit for the event model: the one with the most hits, ties to the smaller key
    particle_id = np.zeros(n, dtype=np.int64)
    if len(hit_rows):
        order = np.lexsort((keys[particle_rows], -nhits[particle_rows], hit_rows))
        first = np.ones(len(order), dtype=bool)
        first[1:] = hit_rows[order][1:] != hit_rows[order][:-1]
        particle_id[hit_rows[order][first]] = keys[particle_rows][order][first]

    eta = column("eta", np.float64)
    vx, vy, vz = _vertices(particle_rows, hit_rows, x, y, z, eta)
    extra: dict[str, np.ndarray] = {"pdg": column("pid", np.int64), "p": (column("p", np.float64) / 1000).astype(f32)}
    extra.update({ours: column(theirs, np.int64) != 0 for theirs, ours in FLAG_COLUMNS.items()})
    particles = Particles(
        particle_id=keys,
        pt=(column("pt", np.float64) / 1000).astype(f32),
        eta=eta.astype(f32),
        phi=column("phi", f32),
        vx=vx.astype(f32),
        vy=vy.astype(f32),
        vz=vz.astype(f32),
        q=np.rint(column("charge", np.float64)).astype(np.int32),
        nhits=nhits.astype(np.int32),
        extra=extra,
    )
    hits["meta"]["hit_particles"] = (hit_rows, keys[particle_rows])
    return Event(**hits, particle_id=particle_id, particles=particles)


class VeloJsonReader(Reader):
    """LHCb VELO JSON (velo_event_N.json, the velopix tracking project) -> events, by event number."""

    @dataclass
    class Config:
        """Args:
        events: read only these event numbers (each must exist); default all.
        truth: None or True = read the Monte Carlo truth (it is always in the files), False = hits only.
        """

        events: list[int] | None = None
        truth: bool | None = None

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config if config is not None else self.Config())

    def _files(self, source: str | os.PathLike) -> list[tuple[int, Path]]:
        files = event_files(source)
        if self.config.events is None:
            return files
        by_number = dict(files)
        missing = [e for e in self.config.events if e not in by_number]
        if missing:
            raise DataError(f"{len(missing)} requested event(s) not found, first {missing[0]}", file=str(source))
        return [(e, by_number[e]) for e in sorted(set(self.config.events))]

    def count(self, source: str | os.PathLike) -> int:
        return len(self._files(source))

    def __call__(self, source: str | os.PathLike) -> Iterator[Event]:
        files = self._files(source)
        truth = self.config.truth is not False
        return (read_velo_event(path, number, truth=truth) for number, path in files)


def _register() -> None:
    from tracking import registry

    registry.load_plugins()
    known = {(p.kind, p.name) for p in registry.available("reader")}
    if ("reader", "velo_json") not in known:
        registry.register("reader", "velo_json")(VeloJsonReader)


_register()


# -- converter -------------------------------------------------------------------------------------------


def parse_events(spec: str) -> list[int]:
    """``"0-799"``, ``"900-994,3"`` -> event numbers."""
    numbers: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        numbers.extend(range(int(lo), int(hi or lo) + 1))
    return numbers


def convert(source: str | os.PathLike, output: str | os.PathLike, events: list[int] | None = None) -> int:
    """Write the VELO events of ``source`` as ACTS ROOT files (measurements/hits/particles.root) in ``output``.

    The hit order is kept, so a measurement's id (its index in the event) is the JSON hit id and tracks
    of the converted events can be scored against the JSON with ``--truth-reader velo_json``. The ACTS
    files keep one particle per measurement and not the LHCb flags: score against the JSON.
    """
    from tracking.io.acts_write import write_acts

    reader = VeloJsonReader(VeloJsonReader.Config(events=events))
    return write_acts(reader(source), output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="velo_reader.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="VELO JSON events -> ACTS ROOT files that trackpipe reads")
    conv.add_argument("source", help="directory of velo_event_N.json files (or one file)")
    conv.add_argument("-o", "--output", required=True, help="output directory (measurements.root, ...)")
    conv.add_argument("--events", default=None, help="event numbers, e.g. 0-799 or 900-994 (default: all)")
    args = parser.parse_args(argv)
    try:
        written = convert(args.source, args.output, parse_events(args.events) if args.events else None)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {written} event(s) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
