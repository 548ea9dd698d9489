import numpy as np
import pytest

from tracking import Event, Particles
from tracking.truth import edge_truth, segments_above_pt, truth_segments


def test_segments_follow_distance_from_vertex():
    # particle 5 produced at x=10: its hits at x=12, 11, 30 are ordered 11 -> 12 -> 30; noise skipped
    x = np.array([12, 11, 30, 5, 1], np.float32)
    pid = np.array([5, 5, 5, 0, 7], np.int64)
    parts = Particles(
        particle_id=np.array([5, 7], np.int64),
        pt=np.ones(2, np.float32),
        eta=np.zeros(2, np.float32),
        phi=np.zeros(2, np.float32),
        vx=np.array([10, 0], np.float32),
        vy=np.zeros(2, np.float32),
        vz=np.zeros(2, np.float32),
        q=np.ones(2, np.int32),
        nhits=np.array([3, 1], np.int32),
    )
    ev = Event(
        event_id=0,
        hit_id=np.arange(5, dtype=np.int64),
        x=x,
        y=np.zeros(5, np.float32),
        z=np.zeros(5, np.float32),
        particle_id=pid,
        particles=parts,
    )
    seg = truth_segments(ev)
    assert seg.tolist() == [[1, 0], [0, 2]]
    truth = edge_truth(np.array([[0, 2, 1, 3], [1, 0, 2, 4]]), seg, 5)
    assert truth.tolist() == [True, True, False, False]
    assert edge_truth(np.zeros((2, 0), np.int64), seg, 5).shape == (0,)


def test_segments_above_pt_keeps_target_particles():
    pid = np.array([5, 5, 7, 7, 7], np.int64)
    parts = Particles(
        particle_id=np.array([5, 7], np.int64),
        pt=np.array([0.5, 2.0], np.float32),
        eta=np.zeros(2, np.float32),
        phi=np.zeros(2, np.float32),
        vx=np.zeros(2, np.float32),
        vy=np.zeros(2, np.float32),
        vz=np.zeros(2, np.float32),
        q=np.ones(2, np.int32),
        nhits=np.array([2, 3], np.int32),
    )
    ev = Event(
        event_id=0,
        hit_id=np.arange(5, dtype=np.int64),
        x=np.arange(1, 6, dtype=np.float32),
        y=np.zeros(5, np.float32),
        z=np.zeros(5, np.float32),
        particle_id=pid,
        particles=parts,
    )
    seg = truth_segments(ev)
    assert seg.tolist() == [[0, 2, 3], [1, 3, 4]]
    assert segments_above_pt(ev, seg, 0.9).tolist() == [[2, 3], [3, 4]]
    assert segments_above_pt(ev, seg, 0.1).shape == (2, 3)
    with pytest.raises(ValueError, match="particle table"):
        segments_above_pt(ev.replace(particles=None), seg, 0.9)
