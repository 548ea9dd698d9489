"""The shipped default pipeline: the same tracks as when it was shipped, and no truth work.

``data/default_pipeline_mu200_tracks.npz`` holds the ``hit_id`` and ``track_labels`` that the pipeline
refitted by ``configs/default_model.sh`` (real-module TrackML simulation, round 11 with its GNN, 2026-12-07) gave for
``simulate_event(mu=200, seed=20261129, event_id=0)`` through ``builtin:default_pipeline.yaml`` on the
CPU with one torch thread. A change of the simulation or of a shipped model changes them on purpose:
regenerate the file then (the reference is the inputs and the
labels, saved with ``np.savez_compressed(path, hit_id=..., track_labels=labels.astype(np.int32))``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracking import truth
from tracking.arrays import as_numpy
from tracking.pipeline import Pipeline
from tracking.runner import DEFAULT_PIPELINE
from tracking.simulation import simulate_event

REFERENCE = Path(__file__).parent / "data" / "default_pipeline_mu200_tracks.npz"


@pytest.mark.slow
def test_default_pipeline_gives_the_reference_tracks():
    with np.load(REFERENCE) as npz:  # closed before any assertion can fail
        reference = {key: npz[key] for key in ("hit_id", "track_labels")}
    event = simulate_event(mu=200, seed=20261129, event_id=0)
    np.testing.assert_array_equal(as_numpy(event.hit_id), reference["hit_id"])  # same input as the reference
    out = Pipeline.from_yaml(DEFAULT_PIPELINE, device="cpu")(event)
    labels = as_numpy(out.track_labels)
    assert labels.max() > 1000  # a real mu = 200 reconstruction, not an empty one
    np.testing.assert_array_equal(labels, reference["track_labels"])


def test_inference_does_no_truth_work(monkeypatch):
    """Running on an event with truth computes no truth graph and gives the tracks of the same event
    without truth."""
    event = simulate_event(mu=10, seed=5, event_id=0)
    pipeline = Pipeline.from_yaml(DEFAULT_PIPELINE, device="cpu")
    without_truth = pipeline(event.replace(particle_id=None, particles=None))

    def forbidden(*args, **kwargs):
        raise AssertionError("truth computed during inference")

    for name in ("truth_segments", "edge_truth", "label_edges"):
        monkeypatch.setattr(truth, name, forbidden)
    with_truth = pipeline(event)
    assert with_truth.edge_truth is None
    np.testing.assert_array_equal(as_numpy(with_truth.track_labels), as_numpy(without_truth.track_labels))
    assert (as_numpy(with_truth.track_labels) >= 0).any()
