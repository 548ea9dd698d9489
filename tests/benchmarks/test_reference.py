"""The ACORN-equivalent reference path against trackpipe's kernels and brute force, on small inputs:
the benchmark compares like with like only if both compute the same thing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.benchmarks.bench_pipeline import growth_exponent
from tracking.benchmarks.reference import (
    acorn_module_map_edges,
    ckdtree_radius_pairs,
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


@pytest.mark.parametrize("batch_size", [10**9, 50])  # one batch, and many small batches
def test_acorn_module_map_equals_doublet_kernel(small_map, batch_size):
    event = simulate_event(mu=5, seed=77)
    ours = small_map.build(event)
    ref = acorn_module_map_edges(small_map, event, batch_size=batch_size)
    assert ref.dtype == np.int64 and ref.shape[0] == 2 and ours.shape[1] > 0
    assert np.array_equal(_edge_keys(ours, event.num_hits), _edge_keys(ref, event.num_hits))


def test_acorn_module_map_empty_event(small_map):
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
    assert acorn_module_map_edges(small_map, one).shape == (2, 0)


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


def test_default_pipeline_has_a_reference_for_every_stage():
    """The benchmark runs the shipped pipeline beside its reference: every stage has one; fed our stage's
    input, the graph builder gives our edges, the ACORN-layout models score every edge in [0, 1], our
    model in ACORN's harness gives our scores, and the walk gives our tracks."""
    from tracking.benchmarks.reference import AcornFilter, AcornInteractionGNN, reference_stage, same_model_reference
    from tracking.pipeline import Pipeline

    pipeline = Pipeline.from_yaml("builtin:default_pipeline.yaml", device="cpu")
    references = [reference_stage(stage) for stage in pipeline.stages]
    assert isinstance(references[1].fn.model, AcornFilter)
    assert isinstance(references[2].fn.model, AcornInteractionGNN)
    assert references[2].fn.model.n_iterations == pipeline.stages[2].model.hparams["n_iterations"]
    event = simulate_event(mu=5, seed=77).to("cpu")
    n = event.num_hits
    for stage, ref in zip(pipeline.stages, references):
        ours = stage(event)
        theirs = ref(event.numpy())
        if stage.plugin_kind == "graph_builder":
            assert np.array_equal(_edge_keys(ours.edge_index, n), _edge_keys(theirs.edge_index, n))
        elif stage.plugin_kind == "edge_classifier":
            raw = ref.fn.__class__(ref.fn.model, 0.5, False, None)(event.numpy())  # no pruning: every edge
            assert raw.edge_scores.shape == (event.num_edges,)
            assert ((raw.edge_scores >= 0) & (raw.edge_scores <= 1)).all()
            same = same_model_reference(stage)(event.numpy())
            np.testing.assert_array_equal(np.asarray(same.edge_index), ours.edge_index.numpy())
            np.testing.assert_allclose(same.edge_scores, ours.edge_scores.numpy(), rtol=1e-4, atol=1e-5)
        else:
            assert same_partition(np.asarray(theirs.track_labels), ours.track_labels.numpy())
            assert ours.track_labels.max() >= 5  # tracks came out, so the comparison means something
        event = ours


@pytest.mark.parametrize("seed", range(6))
def test_numba_walkthrough_equals_python_and_ours(seed):
    pytest.importorskip("numba")
    from tracking.benchmarks.reference import numba_walkthrough, python_walkthrough
    from tracking.ops import walkthrough

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    edges = rng.integers(0, n, size=(2, int(rng.integers(0, 3 * n)))).astype(np.int64)
    scores = rng.choice(np.array([0.2, 0.6, 0.7, 0.9], dtype=np.float32), size=edges.shape[1])  # many ties
    order = rng.random(n).astype(np.float32)
    for args in [(0.5, None, 1), (0.5, 0.65, 3)]:
        want = python_walkthrough(edges, n, scores, *args, order)
        assert np.array_equal(numba_walkthrough(edges, n, scores, *args, order), want)
        ours = walkthrough(torch.from_numpy(edges), n, torch.from_numpy(scores), *args, torch.from_numpy(order))
        assert same_partition(np.asarray(ours), want)
    assert np.array_equal(numba_walkthrough(edges, n), python_walkthrough(edges, n))
