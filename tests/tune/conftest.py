"""Fixtures of the tuning tests: a training config that trains in about a second per epoch (the
training tests' toy graph builder, behind a wrapper that can fail on purpose) and TUNE.yaml files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

FAILING_BUILDER = Path(__file__).with_name("failing_builder.py")


@pytest.fixture(scope="session")
def tune_graph_cache(tmp_path_factory) -> str:
    """One graph cache for every study of the session: the tiny graphs are built once."""
    return str(tmp_path_factory.mktemp("tune_graph_cache"))


@pytest.fixture
def write_study(tmp_path, tune_graph_cache):
    """``write_study(space, epochs=1, **tune_keys) -> path`` of a TUNE.yaml over a tiny training config."""

    def write(space: dict, epochs: int = 1, **keys) -> Path:
        train = {
            "seed": 3,
            "output": "unused",
            "device": "cpu",
            "imports": [str(FAILING_BUILDER)],
            "data": {
                "train": {"simulate": {"n": 2, "mu": 5, "seed": 11}},
                "val": {"simulate": {"n": 1, "mu": 5, "seed": 12}},
                "cache_dir": tune_graph_cache,
            },
            "graph_builder": {"graph_builder": "tune_test_pairs", "radius": 0.03, "fail": False},
            "model": {"name": "interaction_gnn", "hidden": 8, "n_iterations": 1},
            "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0},
            "schedule": {"epochs": epochs, "kind": "constant"},
        }
        (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
        tune = {"train": "train.yaml", "study": "tiny", "output": "study", "space": space, **keys}
        path = tmp_path / "tune.yaml"
        path.write_text(yaml.safe_dump(tune))
        return path

    return write
