from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tracking import ConfigError, Event, Pipeline, registry, resolve_device
from tracking.stages import Stage


def make_event():
    pid = np.array([0, 1, 1, 2, 2, 2], np.int64)
    n = len(pid)
    return Event(
        event_id=7,
        hit_id=np.arange(n, dtype=np.int64),
        x=np.arange(n, dtype=np.float32) + 1,
        y=np.zeros(n, np.float32),
        z=np.zeros(n, np.float32),
        particle_id=pid,
    )


@pytest.fixture
def chain_builder():
    @registry.register("graph_builder", "test_chain")
    class Chain(Stage):
        """Links hit i to i+1."""

        @dataclass
        class Config:
            step: int = 1
            table: Path | None = None

        def __call__(self, event):
            n = event.num_hits
            src = torch.arange(0, max(n - self.config.step, 0), device=event.device)
            return event.replace(edge_index=torch.stack([src, src + self.config.step]))

    yield Chain
    registry.unregister("graph_builder", "test_chain")


def test_yaml_pipeline_runs_times_and_hooks(tmp_path, chain_builder):
    (tmp_path / "p.yaml").write_text(
        "device: cpu\nstages:\n  - graph_builder: test-chain\n    step: 1\n    table: maps/x.npz\n"
        "  - track_builder: truth\n    min_hits: 2\n"
    )
    pipe = Pipeline.from_yaml(tmp_path / "p.yaml")
    assert pipe.labels == ["graph_builder:test_chain", "track_builder:truth"]
    assert pipe.stages[0].config.table == tmp_path / "maps" / "x.npz"  # relative to the YAML file
    seen = []
    pipe.add_hook(lambda label, ev, sec: seen.append((label, ev.num_edges, sec >= 0)))
    out = pipe(make_event())
    assert out.num_edges == 5
    assert out.track_labels.tolist() == [-1, 0, 0, 1, 1, 1]
    assert seen == [("graph_builder:test_chain", 5, True), ("track_builder:truth", 5, True)]
    assert set(pipe.mean_timings()) == set(pipe.labels)


def test_pipeline_from_python_objects(chain_builder):
    stage = registry.create("graph_builder", "test_chain", {"step": 2})
    pipe = Pipeline([stage, stage], device="cpu")
    assert pipe.labels == ["graph_builder:test_chain", "graph_builder:test_chain#2"]
    assert pipe(make_event()).num_edges == 4


def test_config_errors_name_stage_and_key(tmp_path, chain_builder):
    bad = {"stages": [{"graph_builder": "test_chain", "stpe": 1}]}
    with pytest.raises(
        ConfigError, match=r"stage 0 \(graph_builder 'test_chain'\): unknown key 'stpe'.*did you mean 'step'"
    ):
        Pipeline.from_config(bad)
    with pytest.raises(ConfigError, match="stage 1.*needs exactly one of"):
        Pipeline.from_config({"stages": [{"graph_builder": "test_chain"}, {"min_hits": 3}]})
    with pytest.raises(ConfigError, match="unknown key"):
        Pipeline.from_config({"stages": [{"graph_builder": "test_chain"}], "devise": "cpu"})
    with pytest.raises(ConfigError, match="cannot read pipeline file"):
        Pipeline.from_yaml(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("stages: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Pipeline.from_yaml(tmp_path / "bad.yaml")


def test_stage_errors_carry_stage_and_event(chain_builder):
    pipe = Pipeline([registry.create("track_builder", "truth")], device="cpu")
    ev = make_event().replace(particle_id=None)
    with pytest.raises(ValueError) as err:
        pipe(ev)
    assert "track_builder:truth" in "".join(err.value.__notes__) and "event 7" in str(err.value)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="expected auto, cpu, cuda"):
        resolve_device("tpu")


def test_resolve_device_checks_the_cuda_devices(monkeypatch):
    from tracking import accel

    monkeypatch.setattr(accel, "cuda_device_count", lambda: 0)
    with pytest.raises(ConfigError, match="'cuda:0' requested but"):
        resolve_device("cuda:0")
    monkeypatch.setattr(accel, "cuda_device_count", lambda: 2)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


def test_stage_sequence_is_checked_when_the_pipeline_is_built(chain_builder):
    with pytest.raises(
        ConfigError, match=r"stage 0 \(track_builder:walkthrough\) needs graph \(from a graph_builder\)"
    ):
        Pipeline.from_config({"stages": [{"track_builder": "walkthrough"}]})
    with pytest.raises(ConfigError, match=r"stage 1 \(track_builder:connected_components\) needs scores"):
        Pipeline.from_config({"stages": [{"graph_builder": "test_chain"}, {"track_builder": "connected_components"}]})
    with pytest.raises(ConfigError, match=r"stage 0 \(edge_classifier:interaction_gnn\) needs graph"):
        Pipeline.from_config(
            {"stages": [{"edge_classifier": "interaction_gnn", "checkpoint": "builtin:gnn_default.pt"}]}
        )
    # a new graph drops the scores of the previous one
    with pytest.raises(ConfigError, match=r"stage 3 .* needs scores"):
        Pipeline.from_config(
            {
                "stages": [
                    {"graph_builder": "test_chain"},
                    {"edge_classifier": "interaction_gnn", "checkpoint": "builtin:gnn_default.pt"},
                    {"graph_builder": "test_chain"},
                    {"track_builder": "walkthrough"},
                ]
            }
        )
    Pipeline.from_config({"stages": [{"track_builder": "truth"}]})  # truth tracks need no graph


def test_the_pipeline_files_device_is_used_unless_overridden(tmp_path, chain_builder, monkeypatch):
    from tracking import accel

    monkeypatch.setattr(accel, "cuda_device_count", lambda: 0)
    path = tmp_path / "p.yaml"
    path.write_text("device: cuda:3\nstages:\n  - graph_builder: test_chain\n")
    with pytest.raises(ConfigError, match=r"p.yaml: device 'cuda:3' requested but"):
        Pipeline.from_yaml(path)
    assert Pipeline.from_yaml(path, device="cpu").device == torch.device("cpu")
    path.write_text("device: tpu\nstages:\n  - graph_builder: test_chain\n")
    with pytest.raises(ConfigError, match=r"device 'tpu': expected auto, cpu, cuda or cuda:N"):
        Pipeline.from_yaml(path)
