"""Fixtures of the training tests: the toy graph builder (a file imported through the configs'
``imports:`` so that spawned ranks register it too) and tiny training configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TOY_BUILDER = Path(__file__).with_name("toy_graph_builder.py")
TOY_MODEL = Path(__file__).with_name("toy_model.py")


@pytest.fixture(scope="session")
def toy_builder() -> str:
    """Registers the ``training_test_eta_phi_pairs`` graph builder; returns its file for ``imports:``."""
    from tracking.training.config import import_modules

    import_modules([str(TOY_BUILDER)])
    return str(TOY_BUILDER)


def tiny_config(cache_dir: str | None = None, **overrides) -> dict:
    """A training config that trains in about a second per epoch on this machine."""
    config = {
        "seed": 3,
        "output": "out",
        "device": "cpu",
        "imports": [str(TOY_BUILDER)],
        "data": {
            "train": {"simulate": {"n": 4, "mu": 5, "seed": 11}},
            "val": {"simulate": {"n": 2, "mu": 5, "seed": 12}},
        },
        "graph_builder": {"graph_builder": "training_test_eta_phi_pairs", "radius": 0.03},
        "model": {"name": "interaction_gnn", "hidden": 16, "n_iterations": 2},
        "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0},
        "schedule": {"epochs": 3, "kind": "constant"},
    }
    if cache_dir is not None:
        config["data"]["cache_dir"] = cache_dir
    for key, value in overrides.items():
        config[key] = value
    return config


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory) -> str:
    """One graph cache for the whole session: the tiny configs' graphs are built once."""
    return str(tmp_path_factory.mktemp("graph_cache"))


@pytest.fixture
def write_config(tmp_path, graph_cache):
    """``write_config(name="cfg.yaml", **overrides) -> path`` of a tiny config in ``tmp_path``
    (graphs in the session's shared cache)."""

    def write(name: str = "cfg.yaml", **overrides) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_config(graph_cache, **overrides)))
        return path

    return write
