"""Track-builder plugins: truth, connected_components, walkthrough."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking import registry
from tracking.benchmarks.reference import same_partition
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.simulation import simulate_event
from tracking.truth import truth_segments


def toy_event(particle_id) -> Event:
    n = len(particle_id)
    x = np.linspace(10.0, 100.0, n, dtype=np.float32)
    return Event(
        event_id=3,
        hit_id=np.arange(n, dtype=np.int64),
        x=x,
        y=np.zeros(n, np.float32),
        z=np.zeros(n, np.float32),
        particle_id=np.asarray(particle_id, dtype=np.int64),
    )


@pytest.fixture(scope="module")
def scored_event() -> Event:
    """A simulated event whose graph is its truth segments (score 0.9) plus random fakes (score 0.3)."""
    event = simulate_event(mu=5, seed=4)
    truth = truth_segments(event)
    rng = np.random.default_rng(0)
    fakes = np.sort(rng.integers(0, event.num_hits, (2, truth.shape[1])), axis=0)
    edge_index = np.concatenate([truth, fakes], axis=1)
    scores = np.concatenate([np.full(truth.shape[1], 0.9), np.full(fakes.shape[1], 0.3)]).astype(np.float32)
    perm = rng.permutation(edge_index.shape[1])
    return event.replace(edge_index=np.ascontiguousarray(edge_index[:, perm]), edge_scores=scores[perm])


def test_truth_builder():
    event = toy_event([0, 5, 5, 7, 7, 7, 9])
    out = registry.create("track_builder", "truth", {"min_hits": 2})(event)
    np.testing.assert_array_equal(np.asarray(out.track_labels), [-1, 0, 0, 1, 1, 1, -1])
    with pytest.raises(DataError, match="particle_id"):
        registry.create("track_builder", "truth")(toy_event([0, 1]).replace(particle_id=None))


@pytest.mark.parametrize(
    ("name", "options"),
    [("connected_components", {}), ("connected_components", {"junction_removal": True}), ("walkthrough", {})],
)
def test_builders_recover_truth_when_scores_separate(scored_event, device, name, options):
    event = scored_event.to(device)
    builder = registry.create("track_builder", name, {"score_cut": 0.5, "min_hits": 3, **options})
    out = builder(event)
    labels = out.track_labels
    assert isinstance(labels, torch.Tensor) and labels.device.type == device and labels.dtype == torch.int64
    expected = registry.create("track_builder", "truth", {"min_hits": 3})(scored_event).track_labels
    assert same_partition(labels.cpu().numpy(), np.asarray(expected))


def test_junction_removal_cleans_a_low_cut(scored_event):
    # With the cut below the fakes' score, plain components merge particles; junction removal (truth
    # edges win every junction) gives the particles back, apart from fakes joining two track ends.
    plain = registry.create("track_builder", "connected_components", {"score_cut": 0.1, "min_hits": 1})
    cleaned = registry.create(
        "track_builder", "connected_components", {"score_cut": 0.1, "min_hits": 1, "junction_removal": True}
    )
    n_plain = int(np.asarray(plain(scored_event).track_labels).max()) + 1
    n_cleaned = int(np.asarray(cleaned(scored_event).track_labels).max()) + 1
    assert n_cleaned > n_plain


def test_walkthrough_orders_starts_by_radius(scored_event):
    from tracking.ops import walkthrough

    out = registry.create("track_builder", "walkthrough", {"score_cut": 0.2, "walk_cut": 0.5, "min_hits": 2})(
        scored_event
    )
    expected = walkthrough(
        scored_event.edge_index,
        scored_event.num_hits,
        scored_event.edge_scores,
        cut=0.2,
        walk_cut=0.5,
        min_hits=2,
        order=scored_event.r,
    )
    np.testing.assert_array_equal(out.track_labels, expected)


@pytest.mark.parametrize("name", ["connected_components", "walkthrough"])
def test_builders_need_a_scored_graph(name):
    builder = registry.create("track_builder", name)
    event = toy_event([1, 1, 1])
    with pytest.raises(DataError, match="edge_index"):
        builder(event)
    with pytest.raises(DataError, match="edge_scores"):
        builder(event.replace(edge_index=np.array([[0, 1], [1, 2]])))


def test_config_errors():
    with pytest.raises(ConfigError, match="min_hits"):
        registry.create("track_builder", "connected_components", {"min_hits": -2})
    with pytest.raises(ConfigError, match="junction_removal"):
        registry.create("track_builder", "connected_components", {"junction_removal": "yes"})
    with pytest.raises(ConfigError, match="walk_cut"):
        registry.create("track_builder", "walkthrough", {"walk_cut": "high"})


@pytest.mark.parametrize(
    ("options", "start"), [({"order": "distance"}, "distance"), ({"detector": "DESC"}, "distance"), ({}, "radius")]
)
def test_walkthrough_order_follows_the_detector(scored_event, tmp_path, options, start):
    """order: distance, or auto with a description whose tracks start at the smallest distance from its
    beam spot, orders the walk starts by that distance; auto without one by the radius."""
    from tracking.detector import DetectorDescription
    from tracking.ops import walkthrough

    desc = DetectorDescription(track_start="distance", beam_spot=(0.0, 0.0, 50.0))
    if options.get("detector") == "DESC":
        options = {"detector": str(desc.save(tmp_path / "detector.yaml"))}
    base = {"score_cut": 0.2, "walk_cut": 0.5, "min_hits": 2}
    stage = registry.create("track_builder", "walkthrough", base | options)
    assert stage.detector.track_start == start
    ev = scored_event
    x, y, z = (np.asarray(getattr(ev, k), np.float32) for k in ("x", "y", "z"))
    if start == "distance":
        bz = np.float32(50.0 if "detector" in options else 0.0)
        order = np.sqrt(x * x + y * y + (z - bz) * (z - bz))
    else:
        order = np.asarray(ev.r)
    expected = walkthrough(ev.edge_index, ev.num_hits, ev.edge_scores, cut=0.2, walk_cut=0.5, min_hits=2, order=order)
    np.testing.assert_array_equal(stage(ev).track_labels, expected)


def test_walkthrough_recovery_cut_finds_tracks_one_edge_under_the_cut():
    # particle 1: hits 0-3 confident; particle 2: hits 4-6 with one edge at 0.75 (under the cut 0.9)
    event = toy_event([1, 1, 1, 1, 2, 2, 2]).replace(
        edge_index=np.array([[0, 1, 2, 4, 5], [1, 2, 3, 5, 6]]),
        edge_scores=np.array([0.95, 0.95, 0.95, 0.95, 0.75], dtype=np.float32),
    )
    plain = registry.create("track_builder", "walkthrough", {"score_cut": 0.9, "min_hits": 3})(event)
    np.testing.assert_array_equal(np.asarray(plain.track_labels), [0, 0, 0, 0, -1, -1, -1])
    config = {"score_cut": 0.9, "min_hits": 3, "recovery_cut": 0.7}
    out = registry.create("track_builder", "walkthrough", config)(event)
    np.testing.assert_array_equal(np.asarray(out.track_labels), [0, 0, 0, 0, 1, 1, 1])
    with pytest.raises(ConfigError, match="recovery_cut"):
        registry.create("track_builder", "walkthrough", {"recovery_cut": 1.5})


def test_walkthrough_extension_completes_a_stem_after_the_short_track_rule():
    # particle 1: hits 0-6 along x; the walk at 0.5 keeps hits 0-3 and leaves 4-6 behind an edge at 0.3, a
    # 3-hit piece the short-track rule (< 4 hits need a mean score > 0.95) drops; extension at 0.2 grows the
    # stem over it, onto every hit of the particle
    event = toy_event([1] * 7).replace(
        edge_index=np.array([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]]),
        edge_scores=np.array([0.9, 0.9, 0.9, 0.3, 0.9, 0.9], dtype=np.float32),
    )
    config = {"score_cut": 0.5, "min_hits": 3, "short_hits": 4, "short_score_cut": 0.95}
    plain = registry.create("track_builder", "walkthrough", config)(event)
    np.testing.assert_array_equal(np.asarray(plain.track_labels), [0, 0, 0, 0, -1, -1, -1])
    out = registry.create("track_builder", "walkthrough", {**config, "extend_cut": 0.2})(event)
    np.testing.assert_array_equal(np.asarray(out.track_labels), [0] * 7)
    higher = registry.create("track_builder", "walkthrough", {**config, "extend_cut": 0.4})(event)
    np.testing.assert_array_equal(np.asarray(higher.track_labels), [0, 0, 0, 0, -1, -1, -1])
    with pytest.raises(ConfigError, match="extend_cut"):
        registry.create("track_builder", "walkthrough", {"extend_cut": -0.1})


def test_walkthrough_helix_extension_takes_hits_on_the_line_whatever_their_edges_score():
    # particle 1: hits 0-7 on the x axis; the walk at 0.5 keeps hits 3-7 (track 0); hits 0-2 hang on edges the
    # classifier scored ~0 (a soft particle's segments learned as negatives); hit 8 sits 3 mm off the line
    # beside hit 2 and shares an edge with hit 3. The helix extension (1 mm, 5 mm) takes 2, 1, 0 and not 8.
    event = toy_event([1] * 8 + [0])
    event = event.replace(
        y=np.r_[np.zeros(8), 3.0].astype(np.float32),
        x=np.r_[np.asarray(event.x)[:8], np.asarray(event.x)[2]].astype(np.float32),
        edge_index=np.array([[0, 1, 2, 3, 4, 5, 6, 8], [1, 2, 3, 4, 5, 6, 7, 3]]),
        edge_scores=np.array([0.01, 0.01, 0.01, 0.9, 0.9, 0.9, 0.9, 0.01], dtype=np.float32),
    )
    config = {"score_cut": 0.5, "min_hits": 3, "order": "radius"}
    plain = registry.create("track_builder", "walkthrough", config)(event)
    np.testing.assert_array_equal(np.asarray(plain.track_labels), [-1, -1, -1, 0, 0, 0, 0, 0, -1])
    out = registry.create("track_builder", "walkthrough", {**config, "extend_helix": [1.0, 5.0]})(event)
    np.testing.assert_array_equal(np.asarray(out.track_labels), [0] * 8 + [-1])
    with pytest.raises(ConfigError, match="extend_helix"):
        registry.create("track_builder", "walkthrough", {"extend_helix": [0.0, 5.0]})
