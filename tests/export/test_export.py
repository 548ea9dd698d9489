"""``trackpipe export``: ONNX (dynamo) and TorchScript round trips equal eager PyTorch, the Triton
repository is consistent, the module map CSV reads back, the onnxruntime backend scores like torch.

ONNX export costs tens of seconds per graph, so one session fixture exports once (a one-classifier
pipeline in Triton layout, which holds both ONNX graphs) and every test reuses its files."""

from __future__ import annotations

import json
import py_compile
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tracking.cli import main
from tracking.export import EdgeClassifierWithFeatures, example_graph, read_module_map_csv
from tracking.nn import InteractionGNN
from tracking.nn.checkpoint import save_model
from tracking.pipeline import Pipeline
from tracking.simulation import simulate_event

# three graphs of different sizes; few targets, so destinations repeat (the sums of index_add matter)
GRAPHS = [(40, 90, 1), (300, 1500, 2), (1200, 6000, 3)]


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export_pipeline")
    torch.manual_seed(0)
    save_model(InteractionGNN(hidden=16, n_iterations=2), root / "gnn.pt")
    (root / "pipeline.yaml").write_text(
        "device: cpu\nstages:\n"
        "  - graph_builder: module_map\n    map: builtin:module_map_default.npz\n"
        "  - edge_classifier: interaction_gnn\n    checkpoint: gnn.pt\n    score_cut: 0.5\n"
        "  - track_builder: walkthrough\n    score_cut: 0.5\n    min_hits: 3\n"
    )
    return root


@pytest.fixture(scope="session")
def triton_repo(tiny_pipeline, tmp_path_factory) -> Path:
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("triton")
    result = CliRunner().invoke(main, ["export", str(tiny_pipeline), "-o", str(out), "--format", "triton"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def eager(tiny_pipeline):
    stage = Pipeline.from_yaml(tiny_pipeline, device="cpu").stages[1]
    return EdgeClassifierWithFeatures(stage.model, stage.detector).eval()


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # deterministic summation order
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_onnx_round_trip_equals_eager(triton_repo, eager):
    full = _session(triton_repo / "1_interaction_gnn" / "1" / "model.onnx")
    alone = _session(triton_repo / "1_interaction_gnn_model" / "1" / "model.onnx")
    assert [i.name for i in full.get_inputs()] == ["hits", "edge_index"]
    assert [i.name for i in alone.get_inputs()] == ["x", "edge_index", "edge_attr"]
    for n, e, seed in GRAPHS:
        hits, edge_index = example_graph(n, e, seed)
        assert len(torch.unique(edge_index[1])) < e // 2  # repeated destinations
        with torch.no_grad():
            want = eager(hits, edge_index).numpy()
            x, attr = eager.features(hits, edge_index)
        (got,) = full.run(["logits"], {"hits": hits.numpy(), "edge_index": edge_index.numpy()})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        (got,) = alone.run(["logits"], {"x": x.numpy(), "edge_index": edge_index.numpy(), "edge_attr": attr.numpy()})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_torchscript_round_trip_equals_eager(tiny_pipeline, eager, tmp_path):
    result = CliRunner().invoke(main, ["export", str(tiny_pipeline), "-o", str(tmp_path), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    full = torch.jit.load(str(tmp_path / "1_interaction_gnn.pt"))
    alone = torch.jit.load(str(tmp_path / "1_interaction_gnn_model.pt"))
    for n, e, seed in GRAPHS:
        hits, edge_index = example_graph(n, e, seed)
        with torch.no_grad():
            want = eager(hits, edge_index)
            x, attr = eager.features(hits, edge_index)
            torch.testing.assert_close(full(hits, edge_index), want, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(alone(x, edge_index, attr), want, rtol=1e-5, atol=1e-5)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [m["file"] for m in manifest["models"]] == ["1_interaction_gnn.pt", "1_interaction_gnn_model.pt"]
    assert manifest["stages"][1]["score_cut"] == 0.5 and manifest["stages"][2]["min_hits"] == 3


def _config_tensors(text: str, block: str) -> list[tuple[str, str, list[int]]]:
    body = re.search(rf"^{block} \[(.*?)^\]", text, re.S | re.M)
    assert body, f"no {block} block"
    found = re.findall(r'name: "(\w+)"\s+data_type: (\w+)\s+dims: \[([^\]]*)\]', body.group(1))
    return [(name, dtype, [int(d) for d in dims.split(",")]) for name, dtype, dims in found]


def test_triton_repository_structure(triton_repo):
    import onnx

    onnx_types = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.INT64: "TYPE_INT64"}
    manifest = json.loads((triton_repo / "manifest.json").read_text())
    names = manifest["triton"]["models"]
    assert names == ["1_interaction_gnn", "1_interaction_gnn_model", "trackpipe_pipeline"]
    for name in names[:2]:
        config = (triton_repo / name / "config.pbtxt").read_text()
        assert f'name: "{name}"' in config and 'platform: "onnxruntime_onnx"' in config
        graph = onnx.load(str(triton_repo / name / "1" / "model.onnx")).graph
        for block, values in (("input", graph.input), ("output", graph.output)):
            declared = _config_tensors(config, block)
            actual = {
                v.name: (onnx_types[v.type.tensor_type.elem_type], len(v.type.tensor_type.shape.dim)) for v in values
            }
            assert declared and {n for n, _, _ in declared} == set(actual), (name, block)
            for tensor, dtype, dims in declared:
                assert actual[tensor] == (dtype, len(dims)), (name, tensor)
    config = (triton_repo / "trackpipe_pipeline" / "config.pbtxt").read_text()
    assert 'backend: "python"' in config
    assert [n for n, _, _ in _config_tensors(config, "input")] == ["hits", "module_ids"]
    assert [n for n, _, _ in _config_tensors(config, "output")] == ["track_labels"]
    model_py = triton_repo / "trackpipe_pipeline" / "1" / "model.py"
    py_compile.compile(str(model_py), doraise=True)
    source = model_py.read_text()
    # the BLS calls name models and tensors that exist
    assert '"logits"' in source and '"hits"' in source and '"edge_index"' in source
    for stage in manifest["stages"]:
        if "map_csv" in stage:
            assert (triton_repo / stage["map_csv"]).is_file()


def test_module_map_csv_reads_back_to_the_same_graph(triton_repo):
    from tracking.config import RESOURCES_DIR
    from tracking.modulemap import ModuleMap

    original = ModuleMap.load(RESOURCES_DIR / "module_map_default.npz")
    csv = read_module_map_csv(triton_repo / "0_module_map.csv")
    assert csv.num_entries == original.num_entries
    event = simulate_event(mu=5, seed=5)
    ours, theirs = original.build(event), csv.build(event)
    key = lambda e: np.sort(np.asarray(e[0]) * event.num_hits + np.asarray(e[1]))  # noqa: E731
    assert len(ours[0]) > 0 and np.array_equal(key(ours), key(theirs))


def test_features_inside_equal_the_stage(tiny_pipeline, eager):
    """The exported graph computes exactly what the pipeline's stage feeds its model."""
    from tracking.nn.scoring import edge_scores

    pipe = Pipeline.from_yaml(tiny_pipeline, device="cpu")
    event = pipe.stages[0](simulate_event(mu=5, seed=9).to("cpu"))
    hits = torch.stack([torch.as_tensor(getattr(event, c)) for c in ("r", "phi", "z", "x", "y")], 1).float()
    with torch.no_grad():
        got = torch.sigmoid(eager(hits, event.edge_index))
    want = edge_scores(pipe.stages[1].model, event, event.edge_index, detector=pipe.stages[1].detector)
    assert event.num_edges > 100
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_onnxruntime_backend_scores_like_torch(triton_repo, eager):
    from tracking.export.ort_backend import OnnxModel

    model = OnnxModel(
        eager.model, threads=1, path=triton_repo / "1_interaction_gnn_model" / "1" / "model.onnx", reuse=True
    )
    hits, edge_index = example_graph(500, 2500, 4)
    with torch.no_grad():
        x, attr = eager.features(hits, edge_index)
        torch.testing.assert_close(model(x, edge_index, attr), eager.model(x, edge_index, attr), rtol=1e-5, atol=1e-5)


def test_export_errors_name_the_problem(tmp_path):
    result = CliRunner().invoke(main, ["export", "-o", str(tmp_path), "--format", "tensorflow"])
    assert result.exit_code == 2 and "tensorflow" in result.output
    (tmp_path / "p.yaml").write_text("stages:\n  - track_builder: truth\n")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "o")])
    assert result.exit_code != 0 and "no edge classifier" in result.output


def test_onnxruntime_backend_stage_scores_like_torch(tiny_pipeline, tmp_path, monkeypatch):
    """``backend: onnxruntime`` in a pipeline YAML: the same edge scores (to 1e-5) and tracks as torch; the
    export is cached (a second pipeline loads the file) and a torch-only option is a named error."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    from tracking.errors import ConfigError

    monkeypatch.setenv("TRACKPIPE_CACHE_DIR", str(tmp_path / "cache"))
    text = (tiny_pipeline / "pipeline.yaml").read_text()
    assert "score_cut: 0.5\n  - track_builder" in text
    ort_yaml = tiny_pipeline / "pipeline_ort.yaml"
    gnn = "score_cut: 0.5\n  - track"
    ort_yaml.write_text(text.replace(gnn, "score_cut: 0.5\n    backend: onnxruntime\n  - track"))
    event = simulate_event(mu=5, seed=11).to("cpu")
    torch_pipe = Pipeline.from_yaml(tiny_pipeline / "pipeline.yaml", device="cpu")
    want = torch_pipe.stages[1](torch_pipe.stages[0](event))
    for _ in range(2):  # export, then from the cache
        ort_pipe = Pipeline.from_yaml(ort_yaml, device="cpu")
        assert ort_pipe.stages[1].config.backend == "onnxruntime"
        got = ort_pipe.stages[1](ort_pipe.stages[0](event))
        assert got.num_edges > 50
        torch.testing.assert_close(got.edge_scores, want.edge_scores, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(ort_pipe(event).track_labels, torch_pipe(event).track_labels)
    assert len(list((tmp_path / "cache" / "onnx").glob("InteractionGNN-*.onnx"))) == 1
    ort_yaml.write_text(text.replace(gnn, "backend: onnxruntime\n    precision: bf16\n  - track"))
    with pytest.raises(ConfigError, match="backend onnxruntime runs float32"):
        Pipeline.from_yaml(ort_yaml, device="cpu")
