"""Hand-made events for the metric tests."""

from __future__ import annotations

import numpy as np

from tracking.event import Event, Particles


def make_event(
    particle_id,
    *,
    z=None,
    particles: dict[int, tuple[float, float]] | None = None,
    vz: dict[int, float] | None = None,
    vr: dict[int, float] | None = None,
    track_labels=None,
    event_id: int = 0,
    hit_id=None,
) -> Event:
    """An event whose hits lie on the z axis side (x = 1 + i) with the given truth.

    ``particles`` maps particle id -> (pt, eta); ``vz`` optional vertex z per particle, ``vr`` its distance
    from the beam line (the vertex at x = vr, y = 0).
    """
    pid = np.asarray(particle_id, dtype=np.int64)
    n = len(pid)
    x = (1.0 + np.arange(n)).astype(np.float32)
    y = np.zeros(n, dtype=np.float32)
    zz = np.zeros(n, dtype=np.float32) if z is None else np.asarray(z, dtype=np.float32)
    table = None
    if particles is not None:
        ids = np.array(sorted(particles), dtype=np.int64)
        m = len(ids)
        table = Particles(
            particle_id=ids,
            pt=np.array([particles[i][0] for i in ids], dtype=np.float32),
            eta=np.array([particles[i][1] for i in ids], dtype=np.float32),
            phi=np.zeros(m, dtype=np.float32),
            vx=np.array([(vr or {}).get(int(i), 0.0) for i in ids], dtype=np.float32),
            vy=np.zeros(m, dtype=np.float32),
            vz=np.array([(vz or {}).get(int(i), 0.0) for i in ids], dtype=np.float32),
            q=np.ones(m, dtype=np.int32),
            nhits=np.array([(pid == i).sum() for i in ids], dtype=np.int32),
        )
    return Event(
        event_id=event_id,
        hit_id=np.arange(n, dtype=np.int64) if hit_id is None else np.asarray(hit_id, dtype=np.int64),
        x=x,
        y=y,
        z=zz,
        particle_id=pid,
        particles=table,
        track_labels=None if track_labels is None else np.asarray(track_labels, dtype=np.int64),
    )
