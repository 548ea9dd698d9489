"""Map learning, files, the graph-builder plugins and `trackpipe build-map`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tracking import registry
from tracking.config import build as build_config
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.modulemap import MapLearner, ModuleMap, group_keys, learn_module_map
from tracking.ops import radius_graph
from tracking.simulation import SimulationConfig, simulate_events
from tracking.truth import edge_truth, label_edges, truth_segments


@pytest.fixture(scope="module")
def events() -> list[Event]:
    # the tiled detector: its module ids follow positions, which the positional-id tests below need
    return list(simulate_events(3, mu=5, seed=321, config=SimulationConfig.for_detector("tiled")))


@pytest.fixture(scope="module")
def maps(events, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("maps")
    paths = {}
    for granularity in ("module", "layer"):
        paths[granularity] = learn_module_map(events[:2], granularity, margin=0.1).save(out / f"{granularity}.npz")
    return paths


def segments_found(edges, event, segments=None) -> np.ndarray:
    seg = truth_segments(event) if segments is None else segments
    return edge_truth(seg, edges, event.num_hits)


@pytest.mark.parametrize("granularity", ["module", "layer"])
def test_training_segments_are_all_found(events, granularity):
    """Every window holds the float32 values the kernel computes, so no training segment is lost."""
    m = learn_module_map(events[:2], granularity, margin=0.0)
    for event in events[:2]:
        seg = truth_segments(event)
        keys = group_keys(event, granularity)
        seg = seg[:, keys[seg[0]] != keys[seg[1]]] if granularity == "module" else seg
        finite = np.isfinite(event.r[seg[1]] - event.r[seg[0]]) & (event.r[seg[1]] != event.r[seg[0]])
        assert segments_found(m.build(event), event, seg[:, finite]).all()


def test_map_groups_and_windows(events):
    m = learn_module_map(events[:1], "layer", margin=0.5)
    assert m.granularity == "layer" and m.n_events == 1
    assert np.all(np.diff(m.group_key) > 0)
    assert (m.cut_min <= m.cut_max).all() and m.n_segments.sum() > 0
    tight = learn_module_map(events[:1], "layer", margin=0.0)
    assert (m.cut_max - m.cut_min >= tight.cut_max - tight.cut_min).all()


def test_pt_min_keeps_fewer_segments(events):
    low, high = MapLearner("module", 0.0), MapLearner("module", 1.0)
    assert high.add(events[0]) < low.add(events[0])


def test_save_load_roundtrip(events, tmp_path):
    m = learn_module_map(events[:1], "module")
    loaded = ModuleMap.load(m.save(tmp_path / "m.npz"))
    for name in ("group_key", "src", "dst", "cut_min", "cut_max", "n_segments"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(m, name))
    assert (loaded.granularity, loaded.n_events, loaded.margin) == ("module", 1, m.margin)
    np.testing.assert_array_equal(loaded.build(events[2]), m.build(events[2]))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ModuleMap.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        ModuleMap.load(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, src=np.zeros(1, np.int32))
    with pytest.raises(DataError, match="lacks"):
        ModuleMap.load(partial)


def test_event_without_layer_ids_is_a_data_error(events):
    e = events[0]
    bare = Event(event_id=e.event_id, hit_id=e.hit_id, x=e.x, y=e.y, z=e.z, particle_id=e.particle_id)
    with pytest.raises(DataError, match="volume_id"):
        MapLearner("layer").add(bare)


@pytest.mark.parametrize(("name", "granularity"), [("module_map", "module"), ("layer_pairs", "layer")])
def test_map_plugins(events, maps, name, granularity, device):
    stage = registry.create("graph_builder", name, {"map": str(maps[granularity])}).to(torch.device(device))
    event = events[2].to(device)
    out = stage(event)
    assert out.edge_index.device.type == device and out.edge_index.dtype == torch.int64
    assert out.edge_truth is None  # inference does no truth work
    labelled = label_edges(out)
    assert labelled.edge_truth.dtype == torch.bool and labelled.edge_truth.device == out.edge_index.device
    assert labelled.edge_truth.any()
    want = ModuleMap.load(maps[granularity]).build(events[2])
    np.testing.assert_array_equal(out.edge_index.cpu().numpy(), want)


def test_plugin_rejects_a_map_of_the_other_granularity(maps):
    with pytest.raises(ConfigError, match="layer_pairs"):
        registry.create("graph_builder", "module_map", {"map": str(maps["layer"])})


def test_metric_learning_with_a_fixed_embedding(events, device):
    from tracking.nn.features import node_features

    event = events[2].to(device)
    stage = (
        registry.get("graph_builder", "metric_learning")
        .cls(
            build_config(
                registry.get("graph_builder", "metric_learning").config_class,
                {"radius": 0.05, "k_max": 8},
                where="test",
            ),
            embedding=lambda x: x[:, :3] * 2,
        )
        .to(torch.device(device))
    )
    out = stage(event)
    pts = (node_features(event)[:, :3] * 2).cpu().numpy()
    pairs, capped = radius_graph(pts, 0.05, k_max=8)
    r = events[2].r
    inner = np.where(
        (r[pairs[0]] < r[pairs[1]]) | ((r[pairs[0]] == r[pairs[1]]) & (pairs[0] < pairs[1])), pairs[0], pairs[1]
    )
    outer = pairs[0] + pairs[1] - inner
    want = np.unique(np.stack([inner, outer]), axis=1)
    np.testing.assert_array_equal(out.edge_index.cpu().numpy(), want)
    assert (r[want[0]] <= r[want[1]]).all()
    assert out.meta["graph_capped_hits"] == capped


def test_build_map_cli(trackml_dir, tmp_path):
    from tracking.cli import main

    out = tmp_path / "layer.npz"
    result = CliRunner().invoke(
        main,
        [
            "build-map",
            str(trackml_dir),
            "-o",
            str(out),
            "--granularity",
            "layer",
            "--reader",
            "trackml_csv",
            "--margin",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    m = ModuleMap.load(out)
    assert m.granularity == "layer" and m.n_events == 1 and m.num_entries > 10


def test_build_map_reports_its_figures_on_validation_events(tmp_path):
    """build-map --val: segment efficiency, the loss to unconnected module pairs, purity and edges per event
    on unseen events, as score_map gives them; with two small training events most of the loss is pairs no
    training event showed, and the command says so."""
    import re

    from tracking.cli import main
    from tracking.modulemap import score_map
    from tracking.truth import segments_above_pt

    runner = CliRunner()
    for name, seed, n in (("train", 1, 2), ("val", 2, 1)):
        result = runner.invoke(
            main,
            ["simulate", "-n", str(n), "--mu", "5", "--seed", str(seed), "-o", str(tmp_path / name), "--no-progress"],
        )
        assert result.exit_code == 0, result.output
    out = tmp_path / "map.npz"
    result = runner.invoke(main, ["build-map", str(tmp_path / "train"), "-o", str(out), "--val", str(tmp_path / "val")])
    assert result.exit_code == 0, result.output
    found = re.search(
        r"efficiency ([\d.]+) \(lost to unconnected module pairs: ([\d.]+)\), purity ([\d.]+), "
        r"(\d+) edges/event",
        result.output,
    )
    assert found, result.output
    event = next(iter(registry.create("reader", "acts_root")(tmp_path / "val"))).numpy()
    expected = score_map(ModuleMap.load(out), [event], [segments_above_pt(event, truth_segments(event), 1.0)])
    assert float(found[1]) == pytest.approx(expected["efficiency"], abs=1e-4)
    assert float(found[2]) == pytest.approx(expected["unconnected"], abs=1e-4)
    assert int(found[4]) == round(expected["edges_per_event"])
    assert 0.01 < expected["unconnected"] <= 1 - expected["efficiency"]
    assert "no training event connected" in result.output


def test_layer_windows_and_neighbour_dilation(events):
    learner = MapLearner("module", 0.0, window_pt_min=0.0)
    for event in events[:2]:
        learner.add(event)
    plain = learner.finish(0.0)
    dilated = learner.finish(0.0, neighbours=3, windows="layer")
    assert dilated.num_entries > plain.num_entries
    pairs = {(a, b) for a, b in zip(plain.group_key[plain.src], plain.group_key[plain.dst])}
    assert pairs <= set(zip(dilated.group_key[dilated.src], dilated.group_key[dilated.dst]))
    # every entry carries its layer pair's window: one window per layer pair
    layer_pair = (dilated.group_key[dilated.src] >> 20) * (1 << 40) + (dilated.group_key[dilated.dst] >> 20)
    for lp in np.unique(layer_pair)[:20]:
        rows = dilated.cut_min[layer_pair == lp]
        assert (rows == rows[0]).all()
    # a superset of the plain map's edges, which already hold every training segment
    for event in events[:2]:
        plain_edges = set(map(tuple, plain.build(event).T))
        assert plain_edges <= set(map(tuple, dilated.build(event).T))
    with pytest.raises(ValueError, match="windows"):
        learner.finish(windows="module")


def test_connects_tells_connectivity_losses_from_window_losses(events):
    """ModuleMap.connects: a training segment's pair of modules is always an entry (either way round); a
    segment of an unseen event is unconnected exactly when no entry joins its modules, and every segment
    the map builds is connected."""
    learner = MapLearner("module", 0.0)
    learner.add(events[0])
    one = learner.finish(0.0)
    seen = truth_segments(events[0])
    assert one.connects(events[0], seen).all()
    assert one.connects(events[0], seen[::-1]).all()  # either way round
    other = events[2]
    seg = truth_segments(other)
    connected = one.connects(other, seg)
    assert 0 < connected.sum() < len(connected)  # one event's map misses pairs of another
    built = segments_found(one.build(other), other, seg)
    assert not np.any(built & ~connected)
    keys = group_keys(other, "module")
    pairs = set(zip(one.group_key[one.src].tolist(), one.group_key[one.dst].tolist()))
    expected = [(a, b) in pairs or (b, a) in pairs for a, b in zip(keys[seg[0]].tolist(), keys[seg[1]].tolist())]
    assert np.array_equal(connected, expected)
    # more events connect more
    learner.add(events[1])
    assert learner.finish(0.0).connects(other, seg).sum() > connected.sum()


def test_layer_windows_from_primaries_keep_the_displaced_segments_seen():
    """window_vertex_r_max: the layer windows come from primaries and are narrower; displaced particles
    widen only the entries they crossed, so every displaced training segment still becomes an edge."""
    from tracking.simulation import simulate_event

    event = simulate_event(mu=30, seed=3, event_id=0)  # the trackml detector: with displaced particles
    everyone = MapLearner("module", 0.0, window_pt_min=0.9)
    primaries = MapLearner("module", 0.0, window_pt_min=0.9, window_vertex_r_max=1.0)
    everyone.add(event)
    primaries.add(event)
    wide, narrow = everyone.finish(0.0, windows="layer"), primaries.finish(0.0, windows="layer")
    assert np.array_equal(wide.group_key, narrow.group_key) and np.array_equal(wide.src, narrow.src)
    # inside the wide windows, except entries of layer pairs no primary crossed (their own windows then)
    inside = np.all((narrow.cut_min >= wide.cut_min) & (narrow.cut_max <= wide.cut_max), axis=1)
    assert inside.mean() > 0.95
    assert np.any(np.any((narrow.cut_min > wide.cut_min) | (narrow.cut_max < wide.cut_max), axis=1) & inside)
    assert narrow.build(event).shape[1] < wide.build(event).shape[1]
    # the displaced segments of pT >= 0.9 GeV: all in the graph of the narrower map
    seg = truth_segments(event)
    rows, _ = event.particles.lookup(event.particle_id[seg[0]])
    p = event.particles
    displaced = (np.hypot(p.vx, p.vy)[rows] > 1.0) & (p.pt[rows] >= 0.9)
    assert displaced.sum() > 20
    assert edge_truth(narrow.build(event), seg[:, displaced], event.num_hits).sum() == displaced.sum()


def test_nominal_module_ids_of_simulated_hits(events):
    """Nearly every particle crossing of a layer holds a hit on the module nominal at its position
    (the simulation adds a second hit where two modules overlap; hit inefficiency can drop the nominal
    one); unknown layers give -1."""
    from tracking.simulation import trackml_detector

    det = trackml_detector()
    for event in events:
        ids = det.nominal_module_ids(event.volume_id, event.layer_id, event.x, event.y, event.z)
        pid = np.asarray(event.particle_id)
        hit = pid != 0
        agree = ids == np.asarray(event.module_id)
        assert 0.5 < agree[hit].mean() < 1.0
        keys = np.stack([pid, np.asarray(event.volume_id), np.asarray(event.layer_id)], 1)[hit]
        _, group = np.unique(keys, axis=0, return_inverse=True)
        assert (np.bincount(group.ravel(), weights=agree[hit]) >= 1).mean() > 0.97
    assert det.nominal_module_ids([99, 8], [2, 2], [50.0, 32.0], [0.0, 0.0], [0.0, 0.0])[0] == -1
    assert det.nominal_module_ids([], [], [], [], []).shape == (0,)


def test_module_ids_auto_switches_to_positions_for_foreign_numbering(events, maps):
    """A file numbered otherwise (here: the module ids shuffled) gets the graph its positions give;
    an event in the simulation's numbering keeps its own ids under ``auto``."""
    event = events[2]
    rng = np.random.default_rng(0)
    foreign = event.replace(module_id=rng.permutation(np.asarray(event.module_id)))
    stage = {
        m: registry.create("graph_builder", "module_map", {"map": str(maps["module"]), "module_ids": m})
        for m in ("auto", "file", "geometric")
    }
    np.testing.assert_array_equal(
        np.asarray(stage["auto"](event).edge_index), np.asarray(stage["file"](event).edge_index)
    )
    np.testing.assert_array_equal(
        np.asarray(stage["auto"](foreign).edge_index), np.asarray(stage["geometric"](event).edge_index)
    )
    assert stage["auto"](foreign).meta["module_ids"] == "geometric"
    with pytest.raises(ValueError, match="module_ids"):
        registry.create("graph_builder", "module_map", {"map": str(maps["module"]), "module_ids": "bogus"})


def test_batched_merges_learn_the_same_map_as_a_merge_per_event(events):
    """The learner buffers each event's pairs and merges them into its table in batches (learning stays
    linear in the events); the map must equal the one of a merge after every event, windows, counts,
    layer and displaced tables included, whether the buffer is merged every event, by size or once."""

    def learn(batch_rows):
        learner = MapLearner("module", 0.0, window_pt_min=0.0, window_vertex_r_max=1.0)
        tables = (learner._entries, learner._layers, learner._displaced)
        for table in tables:
            table.min_batch_rows = batch_rows or 0
        pending = []
        for event in events:
            learner.add(event)
            if batch_rows is None:  # the former learner: a merge after every event
                for table in tables:
                    table._flush()
            pending.append(len(learner._entries._pending))
        return learner, pending

    (per_event, every), (by_size, sized), (at_end, never) = learn(None), learn(2000), learn(10**9)
    # merged after every event; by size: some events wait, and the buffer is merged once it holds as many
    # rows as the table; at the end only
    assert every == [0] * len(events) and never == list(range(1, len(events) + 1))
    assert 0 in sized and max(sized) >= 1
    for windows in ("entry", "layer"):
        expected = per_event.finish(0.05, windows=windows, neighbours=2)
        for learner in (by_size, at_end):
            got = learner.finish(0.05, windows=windows, neighbours=2)
            for name in ("group_key", "src", "dst", "cut_min", "cut_max", "n_segments"):
                np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
