"""The interaction_gnn and edge_filter plugins on a small hand-made graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking import registry
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.nn import EdgeFilter, InteractionGNN, save_model
from tracking.nn.features import edge_features, node_features
from tracking.pipeline import Pipeline

PLUGINS = {
    "interaction_gnn": lambda: InteractionGNN(hidden=8, n_iterations=2),
    "edge_filter": lambda: EdgeFilter(hidden=8, n_layers=2),
}


def hand_made_event() -> Event:
    """Two 4-hit tracks on barrel layers r = 32, 72, 116, 172 mm plus one noise hit, with the true
    segments and every cross-track pair between consecutive layers as edges."""
    radii = np.array([32.0, 72.0, 116.0, 172.0])
    phis = (0.3, -1.2)
    x, y, z, pid = [], [], [], []
    for track, phi in enumerate(phis):
        x += list(radii * np.cos(phi + 0.001 * radii))
        y += list(radii * np.sin(phi + 0.001 * radii))
        z += list(radii * (0.5 - track))
        pid += [track + 1] * 4
    x, y, z, pid = [*x, 100.0], [*y, -20.0], [*z, 300.0], [*pid, 0]
    true = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7)]
    fake = [(0, 5), (4, 1), (1, 6), (5, 2), (2, 7), (6, 3), (1, 8), (8, 3)]
    edges = np.array(true + fake, dtype=np.int64).T
    return Event(
        event_id=11,
        hit_id=np.arange(len(x), dtype=np.int64),
        x=np.array(x, np.float32),
        y=np.array(y, np.float32),
        z=np.array(z, np.float32),
        particle_id=np.array(pid, np.int64),
        edge_index=edges,
        edge_truth=np.array([True] * len(true) + [False] * len(fake)),
        edge_features=np.arange(edges.shape[1] * 2, dtype=np.float32).reshape(-1, 2),
    )


@pytest.fixture
def checkpoints(tmp_path):
    torch.manual_seed(0)
    return {name: save_model(make(), tmp_path / f"{name}.pt") for name, make in PLUGINS.items()}


def expected_scores(model, event: Event) -> torch.Tensor:
    ev = event.to("cpu")
    with torch.no_grad():
        return torch.sigmoid(
            model.cpu()(node_features(ev), ev.edge_index, edge_features(ev, width=model.edge_features))
        )


@pytest.mark.parametrize("name", list(PLUGINS))
def test_doublet_only_checkpoint_still_runs(tmp_path, name):
    """Checkpoints of FEATURES_VERSION 2 (7 doublet features, no triplets) keep working."""
    torch.manual_seed(1)
    model = {
        "interaction_gnn": lambda: InteractionGNN(edge_features=7, hidden=8, n_iterations=2),
        "edge_filter": lambda: EdgeFilter(edge_features=7, hidden=8, n_layers=2),
    }[name]()
    stage = registry.create(
        "edge_classifier", name, {"checkpoint": str(save_model(model, tmp_path / "m.pt")), "prune": False}
    )
    out = stage(hand_made_event())
    torch.testing.assert_close(out.edge_scores, expected_scores(stage.model, hand_made_event()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(PLUGINS))
def test_scores_without_pruning(checkpoints, name, device):
    stage = registry.create("edge_classifier", name, {"checkpoint": str(checkpoints[name]), "prune": False}).to(device)
    event = hand_made_event().to(device)
    out = stage(event)
    assert out.edge_scores.dtype == torch.float32 and out.edge_scores.device.type == device
    assert out.num_edges == event.num_edges
    torch.testing.assert_close(out.edge_scores.cpu(), expected_scores(stage.model, event), rtol=1e-5, atol=1e-6)
    out.edge_scores.add_(0)  # ordinary tensors, not inference-mode ones: later stages may modify them


@pytest.mark.parametrize("name", list(PLUGINS))
def test_score_cut_prunes_every_edge_field(checkpoints, name):
    event = hand_made_event()
    all_scores = registry.create("edge_classifier", name, {"checkpoint": checkpoints[name], "prune": False})(
        event
    ).edge_scores
    cut = float(all_scores.median())
    out = registry.create("edge_classifier", name, {"checkpoint": checkpoints[name], "score_cut": cut})(event)
    keep = (all_scores > cut).numpy()
    assert 0 < keep.sum() < len(keep)
    np.testing.assert_array_equal(out.edge_index.numpy(), event.edge_index[:, keep])
    np.testing.assert_array_equal(out.edge_truth.numpy(), event.edge_truth[keep])
    np.testing.assert_array_equal(out.edge_features.numpy(), event.edge_features[keep])
    np.testing.assert_array_equal(out.edge_scores.numpy(), all_scores.numpy()[keep])
    assert (out.edge_scores > cut).all()


def test_cut_of_one_leaves_an_empty_graph_and_empty_graph_runs(checkpoints):
    stage = registry.create(
        "edge_classifier", "interaction_gnn", {"checkpoint": checkpoints["interaction_gnn"], "score_cut": 1.0}
    )
    out = stage(hand_made_event())
    assert out.num_edges == 0 and out.edge_scores.shape == (0,) and out.edge_truth.shape == (0,)
    again = stage(out)
    assert again.num_edges == 0


def test_edge_filter_chunks_give_the_same_scores(checkpoints):
    event = hand_made_event()
    whole = registry.create(
        "edge_classifier", "edge_filter", {"checkpoint": checkpoints["edge_filter"], "prune": False}
    )
    chunked = registry.create(
        "edge_classifier", "edge_filter", {"checkpoint": checkpoints["edge_filter"], "prune": False, "chunk_size": 3}
    )
    torch.testing.assert_close(chunked(event).edge_scores, whole(event).edge_scores)


def test_in_a_yaml_pipeline_with_a_relative_checkpoint(checkpoints, tmp_path):
    config = {
        "device": "cpu",
        "inputs": ["graph"],  # the hand-made event carries its graph
        "stages": [
            {"edge_classifier": "edge_filter", "checkpoint": "edge_filter.pt", "score_cut": 0.0},
            {"edge_classifier": "interaction_gnn", "checkpoint": "interaction_gnn.pt", "prune": False},
        ],
    }
    pipeline = Pipeline.from_config(config, base_dir=tmp_path)
    out = pipeline(hand_made_event())
    assert out.edge_scores.shape == (out.num_edges,)
    assert set(pipeline.mean_timings()) == {"edge_classifier:edge_filter", "edge_classifier:interaction_gnn"}


def test_config_errors_name_the_problem(checkpoints, tmp_path):
    with pytest.raises(ConfigError, match="missing.pt"):
        registry.create("edge_classifier", "interaction_gnn", {"checkpoint": tmp_path / "missing.pt"})
    with pytest.raises(ConfigError, match="holds a EdgeFilter, expected a InteractionGNN"):
        registry.create("edge_classifier", "interaction_gnn", {"checkpoint": checkpoints["edge_filter"]})
    with pytest.raises(ConfigError, match="score_cut"):
        registry.create("edge_classifier", "edge_filter", {"checkpoint": checkpoints["edge_filter"], "score_cut": 1.5})
    with pytest.raises(ConfigError, match="chunk_size"):
        registry.create("edge_classifier", "edge_filter", {"checkpoint": checkpoints["edge_filter"], "chunk_size": 0})
    wrong_width = save_model(InteractionGNN(node_features=3, hidden=4, n_iterations=1), tmp_path / "w.pt")
    with pytest.raises(ConfigError, match="3 node"):
        registry.create("edge_classifier", "interaction_gnn", {"checkpoint": wrong_width})


def test_event_without_graph(checkpoints):
    stage = registry.create("edge_classifier", "interaction_gnn", {"checkpoint": checkpoints["interaction_gnn"]})
    event = hand_made_event().replace(edge_index=None, edge_truth=None, edge_features=None)
    with pytest.raises(DataError, match="graph_builder.*event 11"):
        stage(event)


@pytest.mark.parametrize("name", list(PLUGINS))
def test_checkpoint_records_the_detector_it_was_trained_with(tmp_path, name):
    """The stage scales features with the description in the checkpoint's extra; ``detector:`` overrides
    it; a checkpoint without one is the built-in detector's."""
    from tracking.detector import BUILTIN, DetectorDescription

    torch.manual_seed(0)
    model = PLUGINS[name]()
    velo = DetectorDescription(name="velo", field_tesla=0.0, r_scale=50.0, z_scale=700.0)
    ev = hand_made_event()
    plain, recorded = tmp_path / "plain.pt", tmp_path / "velo.pt"
    save_model(model, plain)
    save_model(model, recorded, extra={"detector": velo.to_dict()})
    stage = registry.create("edge_classifier", name, {"checkpoint": str(recorded), "prune": False})
    assert stage.detector == velo
    assert registry.create("edge_classifier", name, {"checkpoint": str(plain)}).detector == BUILTIN
    override = registry.create(
        "edge_classifier", name, {"checkpoint": str(recorded), "detector": str(velo.save(tmp_path / "d.yaml"))}
    )
    assert override.detector == velo
    with torch.no_grad():
        want = torch.sigmoid(
            model.eval()(
                node_features(ev, detector=velo),
                torch.as_tensor(ev.edge_index),
                edge_features(ev, width=model.edge_features, detector=velo),
            )
        )
    torch.testing.assert_close(stage(ev).edge_scores, want)


@pytest.mark.slow
def test_gnn_reuses_the_filters_doublet_features_bit_for_bit(monkeypatch):
    """The default pipeline's filter hands its features to the GNN, which computes no doublet features
    and gets the features (and scores) it would compute itself."""
    from tracking.nn import features as F
    from tracking.runner import DEFAULT_PIPELINE
    from tracking.simulation import simulate_event

    pipeline = Pipeline.from_yaml(DEFAULT_PIPELINE, device="cpu")
    graph_builder, edge_filter, gnn = pipeline.stages[:3]
    filtered = edge_filter(graph_builder(simulate_event(mu=20, seed=3, event_id=0)))
    assert filtered.edge_features.shape == (filtered.edge_index.shape[1], 10)
    assert filtered.meta["edge_features"]["detector"] == gnn.detector
    fresh = edge_features(filtered, filtered.edge_index, detector=gnn.detector)
    reused = edge_features(filtered, filtered.edge_index, detector=gnn.detector, known=filtered.edge_features)
    assert torch.equal(reused, fresh)
    calls = []  # doublet features computed: by the torch form or by the native kernel
    original = F.compute_edge_features
    monkeypatch.setattr(F, "compute_edge_features", lambda *a, **k: calls.append(1) or original(*a, **k))
    native = F.core.doublet_features_cpu
    monkeypatch.setattr(F.core, "doublet_features_cpu", lambda *a, **k: calls.append(1) or native(*a, **k))
    scored = gnn.__class__(gnn.config)(filtered)
    assert calls == []  # reused
    expected = gnn.__class__(gnn.config)(filtered.replace(edge_features=None, meta={}))
    assert calls == [1]
    assert torch.equal(scored.edge_scores, expected.edge_scores)
    with pytest.raises(ValueError, match="known features must have shape"):
        edge_features(filtered, filtered.edge_index, known=filtered.edge_features[:5])


def test_precision_and_compile_are_validated(checkpoints):
    for key, value in (("precision", "fp16"), ("compile", "maybe")):
        with pytest.raises(ConfigError, match=key):
            registry.create("edge_classifier", "edge_filter", {"checkpoint": checkpoints["edge_filter"], key: value})
    stage = registry.create(
        "edge_classifier", "interaction_gnn", {"checkpoint": checkpoints["interaction_gnn"], "precision": "FP32"}
    )
    assert stage.runner.precision == "fp32" and stage.runner.compile == "auto"


def test_features_another_component_set_are_left_alone(checkpoints):
    event = hand_made_event()  # carries 2-column edge_features of its own, without our provenance
    out = registry.create("edge_classifier", "edge_filter", {"checkpoint": checkpoints["edge_filter"], "prune": False})(
        event
    )
    np.testing.assert_array_equal(out.edge_features.numpy(), event.edge_features)
    assert "edge_features" not in out.meta
