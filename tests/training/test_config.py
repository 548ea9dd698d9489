"""Training configuration: parsing, defaults, overrides and errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from tracking.errors import ConfigError
from tracking.training import load_config, parse_config
from tracking.training.config import SimulateConfig
from tracking.training.loop import lr_factor

from .conftest import tiny_config


def test_defaults_and_paths(tmp_path):
    config = parse_config(tiny_config(), base_dir=tmp_path)
    assert config.output == tmp_path / "out"
    assert config.loss.pos_weight == "auto" and config.score_cut == 0.5
    assert config.model.name == "interaction_gnn" and config.model.hparams == {"hidden": 16, "n_iterations": 2}
    assert config.data.train.simulate == SimulateConfig(n=4, mu=5.0, seed=11, first_event=0)
    assert config.data.train.path is None and config.data.train.first is None
    assert config.memory.max_edges is None and not config.memory.bf16


def test_path_source_and_overrides(tmp_path):
    raw = tiny_config(data={"train": {"path": "events", "first": 2, "n": 5}}, loss={"pos_weight": 3})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path, {"epochs": 7, "device": "cpu", "seed": None})
    assert config.schedule.epochs == 7 and config.seed == 3
    assert config.data.train.path == tmp_path / "events" and config.data.train.first == 2
    assert config.loss.pos_weight == 3.0 and config.data.val is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimiser": {}}, "unknown key 'optimiser'"),
        ({"model": {"name": "transformer"}}, "model: key 'name': unknown model 'transformer'"),
        (
            {"model": {"name": "metric_embedding"}},
            "model: key 'name': model 'metric_embedding' (MetricEmbedding) is not an edge classifier",
        ),
        ({"model": {"name": "interaction_gnn", "hidden": "wide"}}, "model: key 'hidden' expects an integer"),
        ({"model": {"name": "interaction_gnn", "node_features": 3}}, "model: key 'node_features' is set by"),
        ({"model": {"name": "edge_filter", "edge_features": 5}}, "model: key 'edge_features' must be one of 0, 7, 10"),
        ({"optimizer": {"name": "sgd"}}, "optimizer: key 'name' must be one of 'adam', 'adamw', got 'sgd'"),
        ({"schedule": {"epochs": 0}}, "schedule: key 'epochs' must be >= 1"),
        ({"schedule": {"kind": "linear"}}, "schedule: key 'kind' must be one of"),
        ({"data": {"train": {"simulate": {"n": 2}, "path": "x"}}}, "data.train: give exactly one of"),
        (
            {"data": {"train": {"simulate": {"n": 2}, "first": 1}}},
            "data.train: 'first', 'n' and 'reader' apply to 'path'",
        ),
        ({"data": {"train": {"simulate": {"mu": 5}}}}, "data.train.simulate: missing required key(s): n"),
        ({"data": {"train": {"simulate": {"n": 0}}}}, "data.train.simulate: key 'n' must be >= 1"),
        ({"data": {"val": {"simulate": {"n": 2}}}}, "data.train: give exactly one of"),
        ({"data": {"train": {"path": "x"}, "cache": "ram"}}, "data: key 'cache' must be one of 'disk', 'memory'"),
        ({"loss": {"pos_weight": -1}}, "loss: key 'pos_weight' must be 'auto' or a number > 0"),
        ({"loss": {"pos_weight": "automatic"}}, "loss: key 'pos_weight'"),
        ({"memory": {"bf16": "yes"}}, "memory: key 'bf16' expects true or false"),
        ({"memory": {"max_edges": 0}}, "memory: key 'max_edges' must be >= 1"),
        ({"score_cut": 1.5}, "key 'score_cut' must be <= 1"),
        ({"device": "gpu"}, "key 'device' must be auto, cpu, cuda or cuda:N"),
        ({"graph_builder": {"edge_classifier": "x"}}, "graph_builder: expected a stage spec"),
        (
            {"pre_filter": {"graph_builder": "x"}},
            "pre_filter: expected a stage spec like '{edge_classifier: NAME, ...}'",
        ),
        ({"debug": {"crash_after_epoch": 1}}, "unknown key 'debug'"),
    ],
)
def test_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as info:
        parse_config(tiny_config(**change), base_dir=tmp_path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimiser": {}}, "unknown key 'optimiser'; valid keys: data, graph_builder, output"),
        ({"optimiser": {}}, "did you mean 'optimizer'?"),
        ({"schedule": {"epoch": 3}}, "schedule: unknown key 'epoch'; valid keys: epochs"),
        ({"schedule": {"epoch": 3}}, "did you mean 'epochs'?"),
        ({"data": {"train": {"simulate": {"n": 1, "muu": 3}}}}, "data.train.simulate: unknown key 'muu'"),
        ({"data": {"train": {"simulate": {"n": 1, "muu": 3}}}}, "did you mean 'mu'?"),
        (
            {"data": {"train": {"simulate": {"n": 1}}, "cach": "disk"}},
            "data: unknown key 'cach'; valid keys: train, val, cache, cache_dir; did you mean 'cache'?",
        ),
        ({"memory": {"bf_16": True}}, "did you mean 'bf16'?"),
        ({"model": {"name": "interaction_gnn", "n_iteration": 2}}, "model: unknown key 'n_iteration'"),
        ({"model": {"name": "interaction_gnn", "n_iteration": 2}}, "did you mean 'n_iterations'?"),
        ({"model": {"name": "interaction_gn"}}, "did you mean 'interaction_gnn'?"),
        ({"graph_builder": {"graph_bulder": "module_map"}}, "did you mean 'graph_builder'?"),
    ],
)
def test_misspelled_keys_get_a_did_you_mean_at_every_level(tmp_path, change, message):
    with pytest.raises(ConfigError) as info:
        parse_config(tiny_config(**change), base_dir=tmp_path)
    assert message in str(info.value)


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "named.yaml"
    path.write_text(yaml.safe_dump(tiny_config(schedule={"epochs": 0})))
    with pytest.raises(ConfigError, match=r"named\.yaml: schedule: key 'epochs' must be >= 1"):
        load_config(path)


def test_graph_key_is_stable():
    """The keys of the graph cache: an unchanged config keeps its cached graphs across versions
    (values computed by the hand-validated config this one replaced)."""
    config = parse_config(tiny_config(), base_dir=None)
    assert config.graph_key() == "e74912f849464978"
    # the simulated detector is part of the events' identity (trackpipe 0.1 simulated only the tiled one),
    # and so is the simulation's version (2: displaced particles), so that cached graphs of older events go
    assert config.data.train.describe() == {
        "simulate": {"detector": "trackml", "first_event": 0, "mu": 5.0, "n": 4, "seed": 11},
        "simulation_version": 2,
    }
    path = parse_config(tiny_config(data={"train": {"path": "events", "n": 3}}), base_dir=None).data.train
    assert path.describe() == {"path": "events", "first": 0, "n": 3}
    # hadronic interactions, when set, are part of the events' identity and reach the simulation
    stopping = {"simulate": {"n": 4, "mu": 5, "seed": 11, "interaction_probability": 0.01}}
    source = parse_config(tiny_config(data={"train": stopping}), base_dir=None).data.train
    assert source.describe()["simulate"]["interaction_probability"] == 0.01
    assert source.simulate is not None and source.simulate.simulation_config().interaction_probability == 0.01
    with pytest.raises(ConfigError, match="interaction_probability"):
        parse_config(tiny_config(data={"train": {"simulate": {"n": 1, "interaction_probability": 1.0}}}), base_dir=None)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read training config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_learning_rate_schedules(tmp_path):
    cosine = parse_config(
        tiny_config(schedule={"epochs": 10, "kind": "cosine", "warmup_epochs": 2, "min_lr_factor": 0.1}),
        base_dir=tmp_path,
    )
    assert lr_factor(cosine, 0) == pytest.approx(0.01)
    assert lr_factor(cosine, 1) == pytest.approx(0.505)
    assert lr_factor(cosine, 2) == pytest.approx(1.0)
    assert lr_factor(cosine, 6) == pytest.approx(0.55)
    assert lr_factor(cosine, 10) == pytest.approx(0.1)
    step = parse_config(
        tiny_config(schedule={"epochs": 10, "kind": "step", "step_size": 3, "gamma": 0.5}), base_dir=tmp_path
    )
    assert [lr_factor(step, e) for e in (0, 2.9, 3, 6, 9)] == [1, 1, 0.5, 0.25, 0.125]


def test_repository_configs_parse():
    from pathlib import Path

    from tracking.tune.config import load_tune_config

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        if path.name.startswith("tune_") and "base" not in path.name:  # a search over a training config
            assert load_tune_config(path).budget.trials >= 1
            continue
        if path.name.startswith("fit_"):  # trackpipe fit recipes (data and output may come from the command line)
            import yaml

            from tracking.fit import load_fit_config

            given = yaml.safe_load(path.read_text())
            cli = {"train": {"path": "train"}, "val": {"path": "val"}, "output": "out"}
            assert load_fit_config(path, {k: v for k, v in cli.items() if k not in given}).budget_minutes > 0
            continue
        if path.name.startswith("detector_"):  # detector descriptions
            from tracking.detector import load_description

            assert load_description(path).field_tesla >= 0
            continue
        config = load_config(path)
        assert config.schedule.epochs >= 1 and config.graph_builder


def test_target_pt_min_parsed_and_part_of_the_graph_cache_key(tmp_path):
    plain = parse_config(tiny_config(), base_dir=tmp_path)
    target = parse_config(tiny_config(loss={"pos_weight": "auto", "target_pt_min": 0.9}), base_dir=tmp_path)
    assert plain.loss.target_pt_min is None and target.loss.target_pt_min == 0.9
    assert plain.graph_key() != target.graph_key()
    with pytest.raises(ConfigError, match="target_pt_min"):
        parse_config(tiny_config(loss={"target_pt_min": "high"}), base_dir=tmp_path)


def test_simulated_source_can_ask_for_more_displaced_particles():
    """``simulate.secondary_fraction`` overrides the detector's realistic fraction of displaced particles;
    unset, the source's identity (the graph cache key) is what it was before the key existed."""
    import numpy as np

    from tracking.arrays import as_numpy
    from tracking.training.config import SourceConfig
    from tracking.training.datasets import iter_source

    plain = SourceConfig(simulate=SimulateConfig(n=1, mu=10, seed=3))
    assert "secondary_fraction" not in plain.describe()["simulate"]
    assert plain.simulate.simulation_config().secondary_fraction == 0.095
    counts = []
    for fraction in (0.0, 1.0):
        source = SourceConfig(simulate=SimulateConfig(n=1, mu=10, seed=3, secondary_fraction=fraction))
        assert source.describe()["simulate"]["secondary_fraction"] == fraction
        ((_, event),) = iter_source(source)
        p = event.particles
        counts.append(int((np.hypot(as_numpy(p.vx), as_numpy(p.vy)) > 1.0).sum()))
    assert counts[0] == 0 and counts[1] > 20
