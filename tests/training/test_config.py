"""Training configuration: parsing, defaults, overrides and errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from tracking.errors import ConfigError
from tracking.training import load_config, parse_config
from tracking.training.trainer import lr_factor

from .conftest import tiny_config


def test_defaults_and_paths(tmp_path):
    config = parse_config(tiny_config(), base_dir=tmp_path)
    assert config.output == tmp_path / "out"
    assert config.pos_weight == "auto" and config.score_cut == 0.5
    assert config.model.name == "interaction_gnn" and config.model.hparams == {"hidden": 16, "n_iterations": 2}
    assert config.data.train.simulate == {"n": 4, "mu": 5.0, "seed": 11, "first_event": 0}
    assert config.memory.max_edges is None and not config.memory.bf16


def test_path_source_and_overrides(tmp_path):
    raw = tiny_config(data={"train": {"path": "events", "first": 2, "n": 5}}, loss={"pos_weight": 3})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path, {"epochs": 7, "device": "cpu", "seed": None})
    assert config.schedule.epochs == 7 and config.seed == 3
    assert config.data.train.path == tmp_path / "events" and config.data.train.first == 2
    assert config.pos_weight == 3.0 and config.data.val is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimiser": {}}, "unknown key(s) ['optimiser']"),
        ({"model": {"name": "transformer"}}, "model: key 'name'"),
        ({"optimizer": {"name": "sgd"}}, "optimizer: key 'name'"),
        ({"schedule": {"epochs": 0}}, "schedule: key 'epochs' must be >= 1"),
        ({"schedule": {"kind": "linear"}}, "schedule: key 'kind'"),
        ({"data": {"train": {"simulate": {"n": 2}, "path": "x"}}}, "data.train: give exactly one of"),
        ({"data": {"train": {"simulate": {"mu": 5}}}}, "data.train.simulate: key 'n'"),
        ({"data": {"val": {"simulate": {"n": 2}}}}, "data: key 'train' is required"),
        ({"loss": {"pos_weight": -1}}, "loss: key 'pos_weight'"),
        ({"memory": {"bf16": "yes"}}, "memory: key 'bf16' must be true or false"),
        ({"score_cut": 1.5}, "score_cut"),
        ({"graph_builder": {"edge_classifier": "x"}}, "graph_builder: expected a stage spec"),
    ],
)
def test_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as info:
        parse_config(tiny_config(**change), base_dir=tmp_path)
    assert message in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read training config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_learning_rate_schedules(tmp_path):
    cosine = parse_config(tiny_config(schedule={"epochs": 10, "kind": "cosine", "warmup_epochs": 2, "min_lr_factor": 0.1}), base_dir=tmp_path)
    assert lr_factor(cosine, 0) == pytest.approx(0.01)
    assert lr_factor(cosine, 1) == pytest.approx(0.505)
    assert lr_factor(cosine, 2) == pytest.approx(1.0)
    assert lr_factor(cosine, 6) == pytest.approx(0.55)
    assert lr_factor(cosine, 10) == pytest.approx(0.1)
    step = parse_config(tiny_config(schedule={"epochs": 10, "kind": "step", "step_size": 3, "gamma": 0.5}), base_dir=tmp_path)
    assert [lr_factor(step, e) for e in (0, 2.9, 3, 6, 9)] == [1, 1, 0.5, 0.25, 0.125]


def test_repository_configs_parse():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        config = load_config(path)
        assert config.schedule.epochs >= 1 and config.graph_builder


def test_target_pt_min_parsed_and_part_of_the_graph_cache_key(tmp_path):
    plain = parse_config(tiny_config(), base_dir=tmp_path)
    target = parse_config(tiny_config(loss={"pos_weight": "auto", "target_pt_min": 0.9}), base_dir=tmp_path)
    assert plain.target_pt_min is None and target.target_pt_min == 0.9
    assert plain.graph_key() != target.graph_key()
    with pytest.raises(ConfigError, match="target_pt_min"):
        parse_config(tiny_config(loss={"target_pt_min": "high"}), base_dir=tmp_path)
