"""The ACORN-equivalent reference path against trackpipe's kernels and brute force, on small inputs:
the benchmark compares like with like only if both compute the same thing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.benchmarks.bench_pipeline import growth_exponent
from tracking.benchmarks.reference import (
    ckdtree_radius_pairs,
    pandas_module_map_edges,
    same_partition,
    scipy_connected_components,
    torch_radius_pairs,
)
from tracking.modulemap import learn_module_map
from tracking.simulation import simulate_event


def _edge_keys(edges, n):
    edges = np.asarray(edges)
    return np.sort(edges[0].astype(np.int64) * n + edges[1])


@pytest.fixture(scope="module")
def small_map():
    return learn_module_map(simulate_event(mu=5, seed=900 + i) for i in range(3))


@pytest.mark.parametrize("max_pairs", [10**9, 50])  # one chunk, and many small chunks
def test_pandas_module_map_equals_doublet_kernel(small_map, max_pairs):
    event = simulate_event(mu=5, seed=77)
    ours = small_map.build(event)
    ref = pandas_module_map_edges(small_map, event, max_pairs=max_pairs)
    assert ref.dtype == np.int64 and ref.shape[0] == 2 and ours.shape[1] > 0
    assert np.array_equal(_edge_keys(ours, event.num_hits), _edge_keys(ref, event.num_hits))


def test_pandas_module_map_empty_event(small_map):
    event = simulate_event(mu=5, seed=78)
    keep = np.zeros(event.num_hits, dtype=bool)
    keep[:1] = True
    one = event.replace(
        **{
            name: getattr(event, name)[keep] for name in ("hit_id", "x", "y", "z", "volume_id", "layer_id", "module_id")
        },
        r=None,
        phi=None,
        eta=None,
        particle_id=None,
        particles=None,
    )
    assert pandas_module_map_edges(small_map, one).shape == (2, 0)


def test_radius_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    points = rng.random((300, 3)).astype(np.float32)
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.nonzero((d <= 0.1) & ~np.eye(len(points), dtype=bool))
    brute = np.sort(i * 300 + j)
    assert np.array_equal(_edge_keys(ckdtree_radius_pairs(points, 0.1), 300), brute)
    assert np.array_equal(_edge_keys(torch_radius_pairs(torch.from_numpy(points), 0.1, block=64).numpy(), 300), brute)
    assert ckdtree_radius_pairs(points[:1], 0.1).shape == (2, 0)


def test_scipy_components_match_ours_and_cuts():
    from tracking.ops import connected_components

    rng = np.random.default_rng(1)
    n = 500
    edges = rng.integers(0, n, size=(2, 400)).astype(np.int64)
    scores = rng.random(400).astype(np.float32)
    ref = scipy_connected_components(edges, n, scores, cut=0.5, min_hits=3)
    ours = connected_components(edges, n, scores, cut=0.5, min_hits=3)
    assert same_partition(ours, ref)
    # hand-made: a 3-chain, a 2-chain (too short), an edge under the cut
    edges = np.array([[0, 1, 3, 5], [1, 2, 4, 6]])
    labels = scipy_connected_components(edges, 7, np.array([0.9, 0.9, 0.9, 0.1]), cut=0.5, min_hits=3)
    assert labels.tolist() == [0, 0, 0, -1, -1, -1, -1]
    assert scipy_connected_components(np.zeros((2, 0), dtype=np.int64), 4).tolist() == [-1] * 4


def test_same_partition_and_growth_exponent():
    assert same_partition(np.array([0, 0, 1, -1]), np.array([1, 1, 0, -1]))
    assert not same_partition(np.array([0, 0, 1, -1]), np.array([0, 1, 1, -1]))
    assert not same_partition(np.array([0, 0, -1]), np.array([0, 0, 0]))
    assert same_partition(np.array([-1, -1]), np.array([-1, -1]))
    hits = [1000, 2000, 4000]
    assert growth_exponent(hits, [2e-3 * (h / 1000) ** 1.5 for h in hits]) == pytest.approx(1.5)
    assert np.isnan(growth_exponent([1000], [1.0]))


def test_junction_removal_reference_matches_ours():
    from tracking.benchmarks.reference import numpy_junction_removal
    from tracking.ops import junction_removal

    rng = np.random.default_rng(2)
    n = 300
    edges = rng.integers(0, n, size=(2, 1200)).astype(np.int64)
    scores = rng.choice(np.array([0.2, 0.6, 0.7, 0.9], dtype=np.float32), size=1200)  # many ties
    assert np.array_equal(numpy_junction_removal(edges, scores, 0.5), junction_removal(edges, scores, 0.5, n))
    assert not numpy_junction_removal(edges[:, :0], scores[:0], 0.5).any()


def test_default_pipeline_has_a_reference_for_every_stage_with_equal_tracks():
    """The benchmark runs the shipped pipeline beside its reference: every stage must have one, and
    on a small event both must give the same edges, scores and tracks."""
    from tracking.benchmarks.reference import reference_stage, run_reference
    from tracking.pipeline import Pipeline

    pipeline = Pipeline.from_yaml("builtin:default_pipeline.yaml", device="cpu")
    references = [reference_stage(stage) for stage in pipeline.stages]
    event = simulate_event(mu=5, seed=77)
    ours = pipeline(event)
    theirs = run_reference(references, event)
    n = event.num_hits
    # same edges (the pandas joins list them in another order) with the same scores
    key_ours, key_theirs = (np.asarray(e[0]) * n + np.asarray(e[1]) for e in (ours.edge_index, theirs.edge_index))
    order_ours, order_theirs = np.argsort(key_ours), np.argsort(key_theirs)
    np.testing.assert_array_equal(key_theirs[order_theirs], key_ours[order_ours])
    np.testing.assert_allclose(
        np.asarray(theirs.edge_scores)[order_theirs], ours.edge_scores.numpy()[order_ours], rtol=1e-4, atol=1e-5
    )
    assert same_partition(np.asarray(theirs.track_labels), ours.track_labels.numpy())
    assert ours.track_labels.max() >= 5  # tracks came out, so the comparison means something
