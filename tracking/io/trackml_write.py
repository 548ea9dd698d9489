"""Write events as TrackML CSV: ``event#########-{hits,truth,particles}.csv[.gz]``.

Columns are the TrackML library's (``dataset.py``):
- hits: ``hit_id, x, y, z, volume_id, layer_id, module_id``
- truth: ``hit_id, particle_id, tx, ty, tz, tpx, tpy, tpz, weight``
- particles: ``particle_id, vx, vy, vz, px, py, pz, q, nhits``

``hit_id`` is the event's own ``hit_id`` written verbatim (0-based for simulated events, where TrackML
files start at 1), so that reading the files back gives the same ids. ``weight`` is uniform: each
particle hit weighs ``1 / (number of particle hits)`` and noise weighs 0, so weights sum to 1 per
event like TrackML's (which additionally up-weight high-pT particles and the track ends; the
TrackML-score code in ``tracking.metrics`` computes those weights itself). Every file is written
atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_output
from ..errors import DataError
from ..event import Event
from .trackml_names import event_file_name


def _write_csv(frame: pd.DataFrame, path: Path, gzip: bool) -> None:
    with atomic_output(path, suffix=".tmp") as tmp:
        frame.to_csv(tmp, index=False, compression="gzip" if gzip else None)


def write_trackml_event(event: Event, outdir: str | os.PathLike, gzip: bool = False) -> list[Path]:
    """Write one event's hits, truth and particles CSV files into ``outdir``; return their paths."""
    event = event.numpy()
    for name in ("volume_id", "layer_id", "module_id"):
        if getattr(event, name) is None:
            raise DataError(f"cannot write TrackML hits: event has no {name!r}", event=event.event_id)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    hits = pd.DataFrame(
        {
            "hit_id": event.hit_id,
            "x": event.x,
            "y": event.y,
            "z": event.z,
            "volume_id": event.volume_id,
            "layer_id": event.layer_id,
            "module_id": event.module_id,
        }
    )
    paths.append(out / event_file_name(event.event_id, "hits", gzip=gzip))
    _write_csv(hits, paths[-1], gzip)
    if event.particle_id is None:
        return paths

    pid = np.asarray(event.particle_id)
    truth_arrays = event.meta.get("sim_truth") or {}
    zeros = np.zeros(event.num_hits, np.float32)
    n_signal = int((pid != 0).sum())
    truth = pd.DataFrame(
        {
            "hit_id": event.hit_id,
            "particle_id": pid,
            "tx": np.asarray(truth_arrays.get("true_x", event.x), np.float32),
            "ty": np.asarray(truth_arrays.get("true_y", event.y), np.float32),
            "tz": np.asarray(truth_arrays.get("true_z", event.z), np.float32),
            "tpx": np.asarray(truth_arrays.get("true_px", zeros), np.float32),
            "tpy": np.asarray(truth_arrays.get("true_py", zeros), np.float32),
            "tpz": np.asarray(truth_arrays.get("true_pz", zeros), np.float32),
            "weight": np.where(pid != 0, 1.0 / max(n_signal, 1), 0.0).astype(np.float32),
        }
    )
    paths.append(out / event_file_name(event.event_id, "truth", gzip=gzip))
    _write_csv(truth, paths[-1], gzip)
    if event.particles is None:
        return paths

    particles = event.particles.numpy()
    extra = event.meta.get("sim_particles") or {}
    pt, eta, phi = (np.asarray(a, np.float64) for a in (particles.pt, particles.eta, particles.phi))
    table = pd.DataFrame(
        {
            "particle_id": particles.particle_id,
            "vx": particles.vx,
            "vy": particles.vy,
            "vz": particles.vz,
            "px": np.asarray(extra.get("px", pt * np.cos(phi)), np.float32),
            "py": np.asarray(extra.get("py", pt * np.sin(phi)), np.float32),
            "pz": np.asarray(extra.get("pz", pt * np.sinh(eta)), np.float32),
            "q": particles.q,
            "nhits": particles.nhits,
        }
    )
    paths.append(out / event_file_name(event.event_id, "particles", gzip=gzip))
    _write_csv(table, paths[-1], gzip)
    return paths


def write_trackml_csv(events: Iterable[Event], outdir: str | os.PathLike, gzip: bool = False) -> int:
    """Write every event of ``events`` as TrackML CSV files in ``outdir``; return the number written."""
    written = 0
    for event in events:
        write_trackml_event(event, outdir, gzip=gzip)
        written += 1
    return written
