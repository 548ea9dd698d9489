"""bench_pipeline's machinery on a tiny pipeline: both paths agree, reference reuse, rows, memory
subprocess. No timing assertions."""

from __future__ import annotations

import math

import pytest
import torch

from tracking import registry
from tracking.benchmarks import bench_pipeline as bp
from tracking.benchmarks.reference import ReferenceStage, reference_stage, same_model_reference
from tracking.modulemap import learn_module_map
from tracking.nn import InteractionGNN
from tracking.nn.checkpoint import save_model
from tracking.simulation import simulate_event


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny_pipeline")
    map_path = learn_module_map(simulate_event(mu=5, seed=600 + i) for i in range(3)).save(tmp / "map.npz")
    torch.manual_seed(0)
    checkpoint = save_model(InteractionGNN(hidden=8, n_iterations=1), tmp / "gnn.pt")
    stages = [
        registry.create("graph_builder", "module_map", {"map": map_path}),
        registry.create("edge_classifier", "interaction_gnn", {"checkpoint": checkpoint, "score_cut": 0.3}),
        registry.create("track_builder", "connected_components", {"score_cut": 0.3, "min_hits": 3}),
    ]
    return stages, [bp._label(s) for s in stages], [reference_stage(s) for s in stages]


def test_measure_both_paths_agree(tiny_pipeline):
    stages, labels, refs = tiny_pipeline
    assert labels == [
        "graph_builder:module_map",
        "edge_classifier:interaction_gnn",
        "track_builder:connected_components",
    ]
    event = simulate_event(mu=5, seed=61)
    same = [same_model_reference(s) for s in stages]
    assert same[0] is None and same[1] is not None and same[2] is None
    m = bp.measure(event, stages, labels, refs, repeat=1, name="mu=5", mu=5, warmup=0, same_model=same)
    assert m.hits == event.num_hits and set(m.stage_ours) == set(m.stage_ref) == set(labels)
    assert m.counts["edges"] == m.counts["edges_reference"] > 0 and m.counts["graph_edges_equal"] is True
    assert set(m.stage_same_model) == {labels[1]}
    # identical inputs: every reference stage got our stage's input, so the track builders agree
    assert m.counts["same_tracks"] is True and m.counts["tracks"] == m.counts["tracks_reference"]
    assert m.end_to_end[1] == pytest.approx(sum(m.stage_ref.values()))
    # truth is stripped before timing: production inference has none
    assert m.inputs[labels[0]][1].particle_id is None

    again = bp.measure(event, stages, labels, refs, repeat=1, name="mu=5", mu=5, warmup=0, reference_from=m)
    assert again.stage_ref == m.stage_ref and again.end_to_end[1] == m.end_to_end[1]
    assert again.counts["same_tracks"] is True

    rows = bp._latency_rows(m, labels, "cpu")
    assert [r.extra["stage"] for r in rows] == [labels[0], labels[1], labels[1], labels[2], bp.END_TO_END]
    assert [r.extra["kind"] for r in rows].count(bp.SAME_MODEL_KIND) == 1
    assert all(r.extra["hits"] == event.num_hits and r.extra["threads"] >= 1 for r in rows)
    assert rows[-1].extra["checks"]["graph_edges_equal"] is True

    bigger = bp.measure(simulate_event(mu=10, seed=62), stages, labels, refs, repeat=1, name="mu=10", mu=10, warmup=0)
    growth = bp._growth_rows([m, bigger], labels, "cpu")
    assert len(growth) == 4 and all(r.unit == "" and r.ratio is None for r in growth)
    assert all(math.isfinite(r.ours_s) and math.isfinite(r.baseline_s) for r in growth)


def test_onnxruntime_rows_reuse_the_reference(tiny_pipeline, tmp_path, monkeypatch):
    """The [onnxruntime] rows: the pipeline's edge classifiers switched to backend onnxruntime, timed against
    the reference figures of the torch run (not measured again), only on the mu = 200 and real events."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("TRACKPIPE_CACHE_DIR", str(tmp_path))
    stages, labels, refs = tiny_pipeline
    event = simulate_event(mu=5, seed=63)
    m = bp.measure(event, stages, labels, refs, repeat=1, name="mu=200", mu=200, warmup=0)
    other = bp.measure(event, stages, labels, refs, repeat=1, name="mu=5", mu=5, warmup=0)
    assert "--quick" in bp._onnxruntime_rows(True, stages, labels, refs, [m], print)[0].skipped
    rows = bp._onnxruntime_rows(False, stages, labels, refs, [other, m], print)
    assert [r.name for r in rows] == [f"{label} [onnxruntime]" for label in labels] + [f"{bp.END_TO_END} [onnxruntime]"]
    assert all(r.extra["backend"] == "onnxruntime" and r.extra["mu"] == 200 for r in rows)
    assert [r.baseline_s for r in rows[:-1]] == [m.stage_ref[label] for label in labels]
    assert rows[-1].extra["checks"]["same_tracks"] is True
    assert stages[1].config.backend == "torch"  # the torch pipeline is left as it was


def test_measure_fails_when_the_graphs_differ(tiny_pipeline):
    """A reference graph builder that loses an edge must fail the benchmark, not be recorded."""
    stages, labels, refs = tiny_pipeline

    def lossy(event):
        out = refs[0](event)
        return out.replace(edge_index=out.edge_index[:, 1:])

    broken = [ReferenceStage(labels[0], lossy), *refs[1:]]
    with pytest.raises(bp.GraphMismatchError, match="edge sets differ"):
        bp.measure(simulate_event(mu=5, seed=61), stages, labels, broken, repeat=1, name="mu=5", mu=5, warmup=0)


def test_peak_memory_subprocess_measures_an_allocation():
    """scipy components on a 2M-node chain build COO + CSR matrices of tens of MiB: the fresh
    subprocess must see them, and not the memory of loading the input."""
    import numpy as np

    from tracking.benchmarks.reference import ReferenceStage, _ScipyComponents
    from tracking.event import Event

    n = 2_000_000
    coords = np.zeros(n, dtype=np.float32)
    event = Event(
        event_id=0,
        hit_id=np.arange(n, dtype=np.int64),
        x=coords + 1,
        y=coords,
        z=coords,
        edge_index=np.stack([np.arange(n - 1), np.arange(1, n)]),
        edge_scores=np.ones(n - 1, dtype=np.float32),
    )
    mib = bp.peak_memory_mib(ReferenceStage("track_builder:scipy", _ScipyComponents(0.5, 3)), event)
    assert 20 < mib < 1000
