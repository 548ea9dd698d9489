"""Partitioned training steps: the loss and every parameter gradient equal the full graph's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from tracking import registry
from tracking.nn import EdgeFilter, InteractionGNN, edge_features, node_features
from tracking.simulation import simulate_event
from tracking.training import (
    GraphSample,
    build_partitions,
    graph_loss,
    k_hop_nodes,
    partition_graph,
    plan_partitions,
    region_of_edges,
)
from tracking.truth import edge_truth, truth_segments


def _sample(mu: float) -> GraphSample:
    event = simulate_event(mu, 7, 0)
    graph = registry.create("graph_builder", "training_test_eta_phi_pairs")(event)
    ei = graph.edge_index
    y = torch.from_numpy(edge_truth(ei, truth_segments(event), event.num_hits))
    return GraphSample(0, node_features(graph).double(), ei, edge_features(graph, ei).double(), y)


@pytest.fixture(scope="module")
def mu50_sample(toy_builder) -> GraphSample:
    return _sample(50)


@pytest.fixture(scope="module")
def mu10_sample(toy_builder) -> GraphSample:
    return _sample(10)


def _loss_and_grads(model, sample, partitions, pos_weight=3.0):
    model.zero_grad(set_to_none=True)
    loss, _ = graph_loss(model, sample, pos_weight, partitions, backward=True)
    return loss, {name: p.grad.clone() for name, p in model.named_parameters()}


def _random_graph(n, e, seed):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return ei[:, ei[0] != ei[1]]


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_k_hop_nodes_match_shortest_paths(k):
    n = 60
    ei = _random_graph(n, 70, seed=k)
    seeds = torch.zeros(n, dtype=torch.bool)
    seeds[[0, 5, 17]] = True
    adjacency = coo_matrix((np.ones(ei.shape[1]), (ei[0].numpy(), ei[1].numpy())), shape=(n, n))
    dist = shortest_path(adjacency, directed=False, unweighted=True, indices=[0, 5, 17]).min(axis=0)
    assert np.array_equal(k_hop_nodes(seeds, ei, k).numpy(), dist <= k)


def test_regions_are_balanced_and_cover_every_edge():
    g = torch.Generator().manual_seed(0)
    eta, phi = torch.randn(1000, generator=g), torch.rand(1000, generator=g) * 6 - 3
    for n, bands in ((1, 1), (2, 1), (4, 2), (5, 1), (9, 3)):
        region = region_of_edges(eta, phi, n, eta_bands=bands)
        counts = torch.bincount(region)
        assert len(torch.unique(region)) >= n
        assert counts[counts > 0].max() - counts[counts > 0].min() <= 2 * (1000 // len(counts) // 10 + 1) or n == 1
    assert region_of_edges(eta[:0], phi[:0], 4).numel() == 0


def test_partitions_own_each_edge_once_and_are_induced():
    n = 80
    ei = _random_graph(n, 150, seed=3)
    region = torch.arange(ei.shape[1]) % 5
    parts = build_partitions(ei, n, region, hops=2)
    owned = torch.cat([p.edges[p.owned] for p in parts])
    assert torch.equal(torch.sort(owned).values, torch.arange(ei.shape[1]))
    for p in parts:
        inside = torch.zeros(n, dtype=torch.bool)
        inside[p.nodes] = True
        induced = torch.nonzero(inside[ei[0]] & inside[ei[1]]).squeeze(1)
        assert torch.equal(p.edges, induced)
        assert torch.equal(p.nodes[p.edge_index], ei[:, p.edges])


def test_empty_and_within_budget_graphs_are_one_partition():
    ei = torch.zeros((2, 0), dtype=torch.int64)
    parts = partition_graph(ei, 5, torch.zeros(5), torch.zeros(5), 2, max_edges=10)
    assert len(parts) == 1 and parts[0].num_edges == 0
    ei = _random_graph(20, 30, seed=1)
    parts = partition_graph(ei, 20, torch.randn(20), torch.randn(20), 2, max_edges=1000)
    assert len(parts) == 1 and parts[0].num_owned == ei.shape[1]


def _check_exact(model, sample, hops, n_regions):
    full_loss, full_grads = _loss_and_grads(model, sample, plan_partitions(sample, hops, None))
    parts = plan_partitions(sample, hops, None, n_regions=n_regions)
    assert len(parts) >= 4
    assert sum(p.num_owned for p in parts) == sample.num_edges
    assert all(p.num_edges < sample.num_edges for p in parts)
    loss, grads = _loss_and_grads(model, sample, parts)
    assert loss == pytest.approx(full_loss, rel=1e-12)
    for name, grad in full_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-10, atol=1e-13, msg=name)


def test_partitioned_loss_and_gradients_equal_full_graph_mu50(mu50_sample):
    torch.manual_seed(0)
    model = InteractionGNN(hidden=8, n_iterations=3, recurrent=False).double()
    _check_exact(model, mu50_sample, hops=3, n_regions=6)


@pytest.mark.parametrize("aggregation", ["mean", "max"])
def test_partitioned_gradients_exact_for_every_aggregation(mu10_sample, aggregation):
    torch.manual_seed(0)
    model = InteractionGNN(hidden=8, n_iterations=3, aggregation=aggregation).double()
    _check_exact(model, mu10_sample, hops=3, n_regions=4)


def test_a_halo_one_hop_short_is_not_exact(mu50_sample):
    """The control: the tests above have teeth because a shallower halo changes the gradients."""
    torch.manual_seed(0)
    model = InteractionGNN(hidden=8, n_iterations=3).double()
    _, full_grads = _loss_and_grads(model, mu50_sample, plan_partitions(mu50_sample, 3, None))
    _, short_grads = _loss_and_grads(model, mu50_sample, plan_partitions(mu50_sample, 2, None, n_regions=6))
    assert any(not torch.allclose(short_grads[k], g, rtol=1e-8, atol=1e-12) for k, g in full_grads.items())


def test_edge_budget_partitions_are_exact_and_within_budget(mu10_sample):
    torch.manual_seed(1)
    model = InteractionGNN(hidden=8, n_iterations=2, mlp_layers=1, output_layers=1).double()
    budget = mu10_sample.num_edges // 3
    parts = plan_partitions(mu10_sample, 2, budget)
    assert len(parts) >= 4 and max(p.num_edges for p in parts) <= budget
    full_loss, full_grads = _loss_and_grads(model, mu10_sample, plan_partitions(mu10_sample, 2, None))
    loss, grads = _loss_and_grads(model, mu10_sample, parts)
    assert loss == pytest.approx(full_loss, rel=1e-12)
    for name, grad in full_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-10, atol=1e-13, msg=name)


def test_edge_filter_needs_no_halo(mu10_sample):
    torch.manual_seed(2)
    model = EdgeFilter(hidden=16, n_layers=3).double()
    full_loss, full_grads = _loss_and_grads(model, mu10_sample, plan_partitions(mu10_sample, 0, None))
    parts = plan_partitions(mu10_sample, 0, None, n_regions=4)
    assert all(p.num_edges == p.num_owned for p in parts)
    loss, grads = _loss_and_grads(model, mu10_sample, parts)
    assert loss == pytest.approx(full_loss, rel=1e-12)
    for name, grad in full_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-10, atol=1e-13, msg=name)


def test_partitioned_scores_equal_full_graph_scores(mu10_sample):
    torch.manual_seed(3)
    model = InteractionGNN(hidden=8, n_iterations=2).double().eval()
    sample = mu10_sample
    with torch.no_grad():
        full = model(sample.x, sample.edge_index, sample.edge_attr)
        loss_full, logits_full = graph_loss(model, sample, 1.0, plan_partitions(sample, 2, None), backward=False)
        loss, logits = graph_loss(model, sample, 1.0, plan_partitions(sample, 2, None, n_regions=5), backward=False)
    torch.testing.assert_close(logits, full.float())
    torch.testing.assert_close(logits_full, full.float())
    assert loss == pytest.approx(loss_full, rel=1e-12)


def _double_model_and_logits(sample):
    """The sample in float64, a small seeded edge filter and its logits on the sample."""
    from dataclasses import replace as dc_replace

    sample = dc_replace(sample, x=sample.x.double(), edge_attr=sample.edge_attr.double())
    torch.manual_seed(4)
    model = EdgeFilter(hidden=8, n_layers=2).double()
    with torch.no_grad():
        return sample, model, model(sample.x, sample.edge_index, sample.edge_attr)


def _weighted_bce(logits, y, weight):
    """The expected loss: BCE with pos_weight 2 and per-edge ``weight``, summed, over the edge count."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, y.double(), weight=weight, pos_weight=torch.tensor(2.0, dtype=torch.float64), reduction="sum"
    )
    return loss / len(y)


def test_displaced_edges_weigh_more_in_the_loss(toy_builder, tmp_path):
    """``loss.displaced_weight``: the graphs mark the true edges of particles produced > r_min mm from the
    beam line; the loss is BCE with those edges weighted, the same over partitions as on the whole graph."""
    from tracking.training import parse_config
    from tracking.training.config import LossConfig
    from tracking.training.datasets import TrainingGraphs

    from .conftest import tiny_config

    event = simulate_event(10, 8, 0)
    pid = np.asarray(event.particle_id)
    r_vertex = np.hypot(np.asarray(event.particles.vx), np.asarray(event.particles.vy))
    displaced_ids = np.asarray(event.particles.particle_id)[r_vertex > 1.0]
    assert len(displaced_ids) > 0  # the simulation makes secondaries
    plain_config = parse_config(tiny_config(), base_dir=tmp_path)
    config = parse_config(tiny_config(loss={"displaced_weight": 5.0, "displaced_r_min": 1.0}), base_dir=tmp_path)
    assert config.graph_key() != plain_config.graph_key()  # graphs without the labels are not reused
    assert TrainingGraphs(plain_config, torch.device("cpu"))(event).displaced is None
    graphs = TrainingGraphs(config, torch.device("cpu"))
    sample = graphs(event)
    assert sample.displaced is not None and sample.displaced.dtype == torch.bool
    ei = sample.edge_index.numpy()
    same_particle = (pid[ei[0]] == pid[ei[1]]) & sample.y.numpy()
    expected = same_particle & np.isin(pid[ei[0]], displaced_ids)
    np.testing.assert_array_equal(sample.displaced.numpy(), expected)
    assert 0 < expected.sum() < sample.y.sum()
    assert GraphSample.from_dict(sample.as_dict()).displaced is not None

    sample, model, logits = _double_model_and_logits(sample)
    with torch.no_grad():
        want = _weighted_bce(logits, sample.y, torch.where(sample.displaced, 5.0, 1.0).double())
        plain, _ = graph_loss(model, sample, 2.0, plan_partitions(sample, 0, None), backward=False)
        whole, _ = graph_loss(
            model, sample, 2.0, plan_partitions(sample, 0, None), backward=False, displaced_weight=5.0
        )
        parts, _ = graph_loss(
            model, sample, 2.0, plan_partitions(sample, 0, None, n_regions=4), backward=False, displaced_weight=5.0
        )
    assert whole == pytest.approx(float(want), rel=1e-10) and parts == pytest.approx(whole, rel=1e-10)
    assert whole > plain
    with pytest.raises(ValueError, match="displaced_weight"):
        LossConfig(displaced_weight=0.0)


def test_edges_of_particles_with_few_hits_weigh_more_in_the_loss(toy_builder, tmp_path):
    """``loss.short_weight``: the graphs mark the true edges of particles that leave at most
    ``short_hits_max`` hits; their weight multiplies the displaced particles' where both apply."""
    from tracking.training import parse_config
    from tracking.training.config import LossConfig
    from tracking.training.datasets import TrainingGraphs

    from .conftest import tiny_config

    event = simulate_event(10, 8, 0)
    pid = np.asarray(event.particle_id)
    ids, counts = np.unique(pid, return_counts=True)
    few_ids = ids[counts <= 6]
    plain_config = parse_config(tiny_config(), base_dir=tmp_path)
    config = parse_config(
        tiny_config(loss={"short_weight": 3.0, "short_hits_max": 6, "displaced_weight": 5.0}), base_dir=tmp_path
    )
    assert (
        config.graph_key() != parse_config(tiny_config(loss={"displaced_weight": 5.0}), base_dir=tmp_path).graph_key()
    )
    assert TrainingGraphs(plain_config, torch.device("cpu"))(event).short is None
    sample = TrainingGraphs(config, torch.device("cpu"))(event)
    assert sample.short is not None and sample.displaced is not None
    ei = sample.edge_index.numpy()
    expected = sample.y.numpy() & (pid[ei[0]] == pid[ei[1]]) & np.isin(pid[ei[0]], few_ids)
    np.testing.assert_array_equal(sample.short.numpy(), expected)
    assert 0 < expected.sum() < sample.y.sum()
    assert GraphSample.from_dict(sample.as_dict()).short is not None

    sample, model, logits = _double_model_and_logits(sample)
    with torch.no_grad():
        weight = torch.where(sample.displaced, 5.0, 1.0).double() * torch.where(sample.short, 3.0, 1.0).double()
        want = _weighted_bce(logits, sample.y, weight)
        kwargs = {"backward": False, "displaced_weight": 5.0, "short_weight": 3.0}
        whole, _ = graph_loss(model, sample, 2.0, plan_partitions(sample, 0, None), **kwargs)
        parts, _ = graph_loss(model, sample, 2.0, plan_partitions(sample, 0, None, n_regions=4), **kwargs)
        displaced_only, _ = graph_loss(
            model, sample, 2.0, plan_partitions(sample, 0, None), backward=False, displaced_weight=5.0
        )
    assert whole == pytest.approx(float(want), rel=1e-10) and parts == pytest.approx(whole, rel=1e-10)
    assert whole > displaced_only
    with pytest.raises(ValueError, match="short_hits_max"):
        LossConfig(short_hits_max=1)
    with pytest.raises(ValueError, match="short_weight"):
        LossConfig(short_weight=-1.0)


def test_segments_of_low_pt_particles_can_be_ignored_by_the_loss(toy_builder, tmp_path):
    """``loss.non_target_weight``: segments of particles below ``target_pt_min`` are false edges; the graphs
    mark them and the loss weighs them ``non_target_weight`` (0: ignored, as ACORN's weighting does)."""
    from tracking.training import parse_config
    from tracking.training.config import LossConfig
    from tracking.training.datasets import TrainingGraphs

    from .conftest import tiny_config

    event = simulate_event(10, 8, 0)
    pid = np.asarray(event.particle_id)
    low_ids = np.asarray(event.particles.particle_id)[np.asarray(event.particles.pt) <= 0.9]
    config = parse_config(tiny_config(loss={"target_pt_min": 0.9, "non_target_weight": 0.0}), base_dir=tmp_path)
    assert config.graph_key() != parse_config(tiny_config(loss={"target_pt_min": 0.9}), base_dir=tmp_path).graph_key()
    sample = TrainingGraphs(config, torch.device("cpu"))(event)
    assert sample.non_target is not None
    ei = sample.edge_index.numpy()
    same = (pid[ei[0]] == pid[ei[1]]) & (pid[ei[0]] != 0)
    low = np.isin(pid[ei[0]], low_ids) & same
    # a marked edge joins two hits of one low-pT particle and is labelled false; every true edge is unmarked
    assert sample.non_target.sum() > 0 and not (sample.non_target & sample.y).any()
    assert low[sample.non_target.numpy()].all()
    assert GraphSample.from_dict(sample.as_dict()).non_target is not None

    sample, model, logits = _double_model_and_logits(sample)
    kept = ~sample.non_target
    with torch.no_grad():
        want = _weighted_bce(logits, sample.y, kept.double())
        got, _ = graph_loss(
            model, sample, 2.0, plan_partitions(sample, 0, None, n_regions=3), backward=False, non_target_weight=0.0
        )
        plain, _ = graph_loss(model, sample, 2.0, plan_partitions(sample, 0, None), backward=False)
    assert got == pytest.approx(float(want), rel=1e-10) and got < plain
    with pytest.raises(ValueError, match="non_target_weight"):
        LossConfig(non_target_weight=-1.0, target_pt_min=0.9)
    with pytest.raises(ValueError, match="set target_pt_min"):  # nothing to weigh without a target pT
        LossConfig(non_target_weight=0.0)
    # non_target_label: the marked segments are trained towards it instead of 0 (at full weight here)
    with torch.no_grad():
        target = torch.where(sample.non_target, 0.1, sample.y.double())
        want = _weighted_bce(logits, target, torch.ones_like(logits))
        got, _ = graph_loss(
            model, sample, 2.0, plan_partitions(sample, 0, None, n_regions=3), backward=False, non_target_label=0.1
        )
    assert got == pytest.approx(float(want), rel=1e-10) and got != pytest.approx(plain, rel=1e-6)
    labelled = parse_config(tiny_config(loss={"target_pt_min": 0.9, "non_target_label": 0.1}), base_dir=tmp_path)
    assert labelled.loss.marks_non_target and labelled.graph_key() == config.graph_key()
    with pytest.raises(ValueError, match="non_target_label"):
        LossConfig(non_target_label=1.5, target_pt_min=0.9)
    with pytest.raises(ValueError, match="set target_pt_min"):
        LossConfig(non_target_label=0.1)
