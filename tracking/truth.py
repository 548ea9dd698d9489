"""The truth graph: consecutive hits of one particle, ordered by distance from its production vertex.

Shared by the metrics (edge efficiency / purity), map learning (``trackpipe build-map``) and training
(edge labels), so all three agree on what a true edge is. Inference never computes it: the graph
builders only build graphs, and whoever wants labelled edges (training, benchmarks, studies) calls
:func:`label_edges`.
"""

from __future__ import annotations

import numpy as np
import torch

from .arrays import as_numpy
from .errors import DataError
from .event import Event


def truth_segments(event: Event) -> np.ndarray:
    """int64 [2, S]: for each particle (not noise), its hits sorted by distance from its vertex
    (3D; from the origin when the event has no particle table), linked consecutively, first -> next.
    """
    if event.particle_id is None:
        raise ValueError(f"event {event.event_id} has no truth (particle_id)")
    pid = as_numpy(event.particle_id).astype(np.int64, copy=False)
    x, y, z = (as_numpy(a).astype(np.float64) for a in (event.x, event.y, event.z))
    vx = vy = vz = np.zeros(len(pid))
    if event.particles is not None and len(event.particles):
        p = event.particles.numpy()
        rows, found = p.lookup(pid)
        vx, vy, vz = (np.where(found, column[rows], 0.0) for column in (p.vx, p.vy, p.vz))
    dist = np.sqrt((x - vx) ** 2 + (y - vy) ** 2 + (z - vz) ** 2)
    hits = np.flatnonzero(pid != 0)
    order = hits[np.lexsort((dist[hits], pid[hits]))]
    same = pid[order[1:]] == pid[order[:-1]]
    return np.stack([order[:-1][same], order[1:][same]]).astype(np.int64)


def edge_truth(edge_index, segments: np.ndarray, num_hits: int) -> np.ndarray:
    """bool [E]: whether each edge joins the two hits of a truth segment (in either direction)."""
    ei = as_numpy(edge_index).astype(np.int64, copy=False)
    if ei.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    n = np.int64(max(num_hits, 1))
    seg_key = np.unique(np.minimum(segments[0], segments[1]) * n + np.maximum(segments[0], segments[1]))
    key = np.minimum(ei[0], ei[1]) * n + np.maximum(ei[0], ei[1])
    return np.isin(key, seg_key)


def label_edges(event: Event, pt_min: float | None = None) -> Event:
    """``event`` with ``edge_truth`` (bool [E], on the device of ``edge_index``) set for its graph:
    whether each edge joins consecutive hits of one particle (of pT > ``pt_min`` GeV when given)."""
    if event.edge_index is None:
        raise ValueError(f"event {event.event_id} has no graph (edge_index) to label")
    segments = truth_segments(event)
    if pt_min is not None:
        segments = segments_above_pt(event, segments, pt_min)
    truth = edge_truth(event.edge_index, segments, event.num_hits)
    if isinstance(event.edge_index, torch.Tensor):
        return event.replace(edge_truth=torch.from_numpy(truth).to(event.edge_index.device))
    return event.replace(edge_truth=truth)


def segments_displaced(event: Event, segments: np.ndarray, r_min: float) -> np.ndarray:
    """bool per column of ``segments``: its particle was produced more than ``r_min`` mm from the beam line
    (transverse distance of the particle table's vertex; needs the table: a DataError names the event)."""
    if event.particles is None:
        raise DataError(
            f"displaced particles (loss.displaced_weight) need the particle table (vx, vy); event {event.event_id} "
            "has none"
        )
    particles = event.particles
    r = np.hypot(as_numpy(particles.vx).astype(np.float64), as_numpy(particles.vy).astype(np.float64))
    r_vertex, found = _segment_particle_values(event, segments, r)
    return found & (r_vertex > r_min)


def segments_short(event: Event, segments: np.ndarray, max_hits: int) -> np.ndarray:
    """bool per column of ``segments``: its particle leaves at most ``max_hits`` hits in the event (particles
    that stop in the material, leave through the ends or are produced in the outer layers)."""
    pid = as_numpy(event.particle_id).astype(np.int64, copy=False)
    _, inverse, counts = np.unique(pid, return_inverse=True, return_counts=True)
    return counts[inverse[segments[0]]] <= max_hits


def _segment_particle_values(event: Event, segments: np.ndarray, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(value, found)`` per column of ``segments``: ``column`` (one value per particle-table row) of the
    segment's particle, and whether the table has that particle (value 0 where not)."""
    assert event.particles is not None
    pid = as_numpy(event.particle_id).astype(np.int64, copy=False)
    rows, found = event.particles.lookup(pid[segments[0]])
    values = np.zeros(segments.shape[1], dtype=column.dtype)
    values[found] = column[rows[found]]
    return values, found


def segments_above_pt(event: Event, segments: np.ndarray, pt_min: float) -> np.ndarray:
    """The columns of ``segments`` whose particle has pT > ``pt_min`` (needs the particle table;
    a particle missing from it fails the cut)."""
    if event.particles is None:
        raise ValueError(f"a pT threshold ({pt_min} GeV) needs the particle table; event {event.event_id} has none")
    pt = as_numpy(event.particles.pt).astype(np.float64)  # compared in double precision, as always
    segment_pt, found = _segment_particle_values(event, segments, pt)
    return segments[:, found & (segment_pt > pt_min)]
