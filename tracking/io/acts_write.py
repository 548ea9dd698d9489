"""Write events as ACTS does (Fatras + digitisation): measurements.root, hits.root, particles.root.

Branch names and types follow DESIGN.md "Formats" (ACTS v44+, barcode branches):

- ``measurements.root``, tree ``measurements``, one entry per measurement, in hit order:
  ``event_nr`` (u32), ``volume_id``, ``layer_id``, ``surface_id`` (u32), ``rec_gx, rec_gy, rec_gz``,
  ``true_x, true_y, true_z`` (f32, mm) and the jagged u32 truth links ``particles_vertex_primary``,
  ``particles_vertex_secondary``, ``particles_particle``, ``particles_generation``,
  ``particles_sub_particle`` (empty for noise; uproot stores them with one shared counter branch
  ``nparticles``, where ACTS writes std::vector; readers see the same jagged arrays).
- ``hits.root``, tree ``hits`` (RootSimHitWriter), one entry per particle hit: ``event_id``,
  ``barcode_*`` (u32), ``geometry_id`` (u64, ACTS GeometryIdentifier bit layout), ``tx, ty, tz, tt``,
  ``tpx, tpy, tpz, te``, ``deltapx, deltapy, deltapz, deltae`` (f32), ``index`` (i32), ``volume_id``,
  ``boundary_id``, ``layer_id``, ``approach_id``, ``sensitive_id`` (u32).
- ``particles.root``, tree ``particles`` (RootParticleWriter), one entry per event: ``event_id`` (u32)
  and vectors ``vertex_primary, vertex_secondary, particle, generation, sub_particle`` (u32),
  ``particle_type`` (i32), ``process`` (u32), ``vx, vy, vz, vt, px, py, pz, m, q, eta, phi, pt, p``
  (f32), ``number_of_hits``, ``outcome`` (u32); counter branch ``nparticles``.

Truth positions and momenta come from ``event.meta["sim_truth"]`` / ``["sim_particles"]`` when the
event was simulated; otherwise measured positions stand in for true ones and momenta are derived
from the particle table. Events are written one at a time (``mktree`` + ``extend``), and the three
files appear together or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from ..atomic import atomic_outputs
from ..errors import DataError
from ..event import Event
from .barcode import FIELD_NAMES as BARCODE_FIELDS
from .barcode import decode_barcode

PION_MASS = 0.13957039

MEASUREMENT_TYPES = {
    "event_nr": np.uint32,
    "volume_id": np.uint32,
    "layer_id": np.uint32,
    "surface_id": np.uint32,
    "rec_gx": np.float32,
    "rec_gy": np.float32,
    "rec_gz": np.float32,
    "true_x": np.float32,
    "true_y": np.float32,
    "true_z": np.float32,
    "particles": "var * {" + ", ".join(f"{name}: uint32" for name in BARCODE_FIELDS) + "}",
}
HIT_TYPES = {
    "event_id": np.uint32,
    **{f"barcode_{name}": np.uint32 for name in BARCODE_FIELDS},
    "geometry_id": np.uint64,
    **{name: np.float32 for name in ("tx", "ty", "tz", "tt", "tpx", "tpy", "tpz", "te")},
    **{name: np.float32 for name in ("deltapx", "deltapy", "deltapz", "deltae")},
    "index": np.int32,
    **{name: np.uint32 for name in ("volume_id", "boundary_id", "layer_id", "approach_id", "sensitive_id")},
}
PARTICLE_VECTOR_TYPES = {
    **{name: "uint32" for name in BARCODE_FIELDS},
    "particle_type": "int32",
    "process": "uint32",
    **{name: "float32" for name in ("vx", "vy", "vz", "vt", "px", "py", "pz", "m", "q", "eta", "phi", "pt", "p")},
    # RootParticleWriter writes these too, and ACTS' own reader (acts.examples.uproot) needs total_x0/total_l0
    **{name: "float32" for name in ("q_over_p", "theta", "e_loss", "total_x0", "total_l0")},
    "number_of_hits": "uint32",
    "outcome": "uint32",
}
PARTICLE_TYPES = {
    "event_id": np.uint32,
    "particles": "var * {" + ", ".join(f"{k}: {v}" for k, v in PARTICLE_VECTOR_TYPES.items()) + "}",
}
FILES = {"measurements": "measurements.root", "hits": "hits.root", "particles": "particles.root"}


def geometry_id(volume_id, layer_id, sensitive_id, boundary_id=0, approach_id=0) -> np.ndarray:
    """ACTS ``GeometryIdentifier`` values, from the top: volume 8 | boundary 8 | layer 12 | approach 8 |
    sensitive 20 | extra 8 bits."""
    parts = ((volume_id, 56), (boundary_id, 48), (layer_id, 36), (approach_id, 28), (sensitive_id, 8))
    out = np.zeros(np.broadcast(*(p for p, _ in parts)).shape, np.uint64)
    for value, shift in parts:
        out |= np.asarray(value, np.uint64) << np.uint64(shift)
    return out


def _hit_truth(event: Event) -> dict[str, np.ndarray]:
    n = event.num_hits
    truth = event.meta.get("sim_truth")
    if truth is not None:
        return truth
    zeros = np.zeros(n)
    return {
        "true_x": np.asarray(event.x, np.float64),
        "true_y": np.asarray(event.y, np.float64),
        "true_z": np.asarray(event.z, np.float64),
        "true_t": zeros,
        "true_px": zeros,
        "true_py": zeros,
        "true_pz": zeros,
        "delta_px": zeros,
        "delta_py": zeros,
        "delta_pz": zeros,
        "index": np.full(n, -1, np.int64),
    }


def _required(event: Event) -> None:
    for name in ("volume_id", "layer_id", "module_id", "particle_id"):
        if getattr(event, name) is None:
            raise DataError(f"cannot write ACTS files: event has no {name!r}", event=event.event_id)
    if event.particles is None:
        raise DataError("cannot write ACTS files: event has no particles table", event=event.event_id)


def _measurement_chunk(event: Event) -> dict:
    truth = _hit_truth(event)
    n = event.num_hits
    pid = np.asarray(event.particle_id)
    fields = decode_barcode(pid)
    counts = (pid != 0).astype(np.int64)
    particles = ak.zip(
        {name: ak.unflatten(fields[name][pid != 0], counts) for name in BARCODE_FIELDS}, depth_limit=None
    )
    return {
        "event_nr": np.full(n, event.event_id, np.uint32),
        "volume_id": np.asarray(event.volume_id).astype(np.uint32),
        "layer_id": np.asarray(event.layer_id).astype(np.uint32),
        "surface_id": np.asarray(event.module_id).astype(np.uint32),
        "rec_gx": np.asarray(event.x, np.float32),
        "rec_gy": np.asarray(event.y, np.float32),
        "rec_gz": np.asarray(event.z, np.float32),
        "true_x": np.asarray(truth["true_x"], np.float32),
        "true_y": np.asarray(truth["true_y"], np.float32),
        "true_z": np.asarray(truth["true_z"], np.float32),
        "particles": particles,
    }


def _hit_chunk(event: Event, mass: float = PION_MASS) -> dict:
    truth = _hit_truth(event)
    pid = np.asarray(event.particle_id)
    signal = pid != 0
    fields = decode_barcode(pid[signal])
    tp = [np.asarray(truth[k])[signal] for k in ("true_px", "true_py", "true_pz")]
    dp = [np.asarray(truth[k])[signal] for k in ("delta_px", "delta_py", "delta_pz")]
    energy = np.sqrt(tp[0] ** 2 + tp[1] ** 2 + tp[2] ** 2 + mass**2)
    after = np.sqrt((tp[0] + dp[0]) ** 2 + (tp[1] + dp[1]) ** 2 + (tp[2] + dp[2]) ** 2 + mass**2)
    volume = np.asarray(event.volume_id)[signal].astype(np.uint32)
    layer = np.asarray(event.layer_id)[signal].astype(np.uint32)
    module = np.asarray(event.module_id)[signal].astype(np.uint32)
    n = int(signal.sum())
    zeros = np.zeros(n, np.uint32)
    return {
        "event_id": np.full(n, event.event_id, np.uint32),
        **{f"barcode_{name}": fields[name] for name in BARCODE_FIELDS},
        "geometry_id": geometry_id(volume, layer, module),
        "tx": np.asarray(truth["true_x"])[signal].astype(np.float32),
        "ty": np.asarray(truth["true_y"])[signal].astype(np.float32),
        "tz": np.asarray(truth["true_z"])[signal].astype(np.float32),
        "tt": np.asarray(truth["true_t"])[signal].astype(np.float32),
        "tpx": tp[0].astype(np.float32),
        "tpy": tp[1].astype(np.float32),
        "tpz": tp[2].astype(np.float32),
        "te": energy.astype(np.float32),
        "deltapx": dp[0].astype(np.float32),
        "deltapy": dp[1].astype(np.float32),
        "deltapz": dp[2].astype(np.float32),
        "deltae": (after - energy).astype(np.float32),
        "index": np.asarray(truth["index"])[signal].astype(np.int32),
        "volume_id": volume,
        "boundary_id": zeros,
        "layer_id": layer,
        "approach_id": zeros,
        "sensitive_id": module,
    }


def _particle_chunk(event: Event) -> dict:
    assert event.particles is not None  # _required checked it
    particles = event.particles.numpy()
    n = len(particles)
    fields = decode_barcode(np.asarray(particles.particle_id))
    pt = np.asarray(particles.pt, np.float64)
    eta = np.asarray(particles.eta, np.float64)
    phi = np.asarray(particles.phi, np.float64)
    extra = event.meta.get("sim_particles") or {}
    px = extra.get("px", pt * np.cos(phi))
    py = extra.get("py", pt * np.sin(phi))
    pz = extra.get("pz", pt * np.sinh(eta))
    q = np.asarray(particles.q)
    mass = extra.get("mass", np.full(n, PION_MASS))
    ptype = extra.get("particle_type", (211 * q).astype(np.int32))
    momentum = pt * np.cosh(eta)
    q_over_p = np.divide(q, momentum, out=np.zeros(n), where=momentum > 0)
    columns = {
        **{name: fields[name] for name in BARCODE_FIELDS},
        "particle_type": ptype,
        "process": np.zeros(n),
        "vx": particles.vx,
        "vy": particles.vy,
        "vz": particles.vz,
        "vt": np.zeros(n),
        "px": px,
        "py": py,
        "pz": pz,
        "m": mass,
        "q": q,
        "eta": eta,
        "phi": phi,
        "pt": pt,
        "p": momentum,
        "q_over_p": q_over_p,
        "theta": 2 * np.arctan(np.exp(-eta)),
        # material and energy loss along the path: the built-in simulation does not track them
        "e_loss": np.zeros(n),
        "total_x0": np.zeros(n),
        "total_l0": np.zeros(n),
        "number_of_hits": particles.nhits,
        "outcome": np.zeros(n),
    }
    record = ak.zip(
        {
            name: ak.unflatten(np.asarray(values).astype(PARTICLE_VECTOR_TYPES[name]), [n])
            for name, values in columns.items()
        }
    )
    return {"event_id": np.array([event.event_id], np.uint32), "particles": record}


def write_acts(events: Iterable[Event], outdir: str | os.PathLike) -> int:
    """Write ``events`` to ``outdir/{measurements,hits,particles}.root``; return the number written.

    Events are converted and appended one at a time, so memory holds one event. The files are written
    under temporary names in ``outdir`` and renamed together at the end; on any error the temporary
    files are removed and existing outputs are left as they were.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with (
        atomic_outputs({key: out / name for key, name in FILES.items()}, suffix=".root.tmp") as temps,
        uproot.recreate(temps["measurements"]) as f_meas,
        uproot.recreate(temps["hits"]) as f_hits,
        uproot.recreate(temps["particles"]) as f_part,
    ):
        t_meas = f_meas.mktree("measurements", MEASUREMENT_TYPES, counter_name=lambda name: f"n{name}")
        t_hits = f_hits.mktree("hits", HIT_TYPES)
        t_part = f_part.mktree(
            "particles", PARTICLE_TYPES, field_name=lambda outer, inner: inner, counter_name=lambda name: f"n{name}"
        )
        for event in events:
            event = event.numpy()
            _required(event)
            if event.num_hits:
                t_meas.extend(_measurement_chunk(event))
                hits = _hit_chunk(event)
                if len(hits["event_id"]):
                    t_hits.extend(hits)
            t_part.extend(_particle_chunk(event))
            written += 1
    return written
