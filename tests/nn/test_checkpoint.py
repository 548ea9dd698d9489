"""save_model / load_model: round trip for every registered model, weights_only loading, checkpoints of
format 1 (class names), clear errors."""

from __future__ import annotations

import pytest
import torch

from tracking import registry
from tracking.config import RESOURCES_DIR
from tracking.errors import DataError
from tracking.nn import EdgeFilter, InteractionGNN, MetricEmbedding, load_model, read_checkpoint, save_model

MODELS = [
    lambda: InteractionGNN(hidden=8, n_iterations=2, recurrent=False, aggregation="mean"),
    lambda: EdgeFilter(hidden=8, n_layers=2, edge_features=0),
    lambda: MetricEmbedding(embedding_dim=3, hidden=8, n_layers=2),
]


@pytest.mark.parametrize("make", MODELS)
def test_round_trip(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    path = save_model(model, tmp_path / "sub" / "m.pt", extra={"epoch": 3, "metrics": {"eff": 0.9}, "t": torch.ones(2)})
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.hparams == model.hparams and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.checkpoint_extra["metrics"] == {"eff": 0.9}
    # the raw file is a plain dict readable by torch.load(weights_only=True)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == 2 and raw["model"] == registry.model_name(type(model))
    assert not list(tmp_path.glob("sub/.*"))  # no temporary left behind


def test_load_to_device(tmp_path, device):
    model = MODELS[0]()
    loaded = load_model(save_model(model, tmp_path / "m.pt"), map_location=device)
    assert next(loaded.parameters()).device.type == device


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(tmp_path / "nope.pt")


def test_corrupt_file_names_it(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(DataError, match="bad.pt"):
        load_model(path)


def test_pickled_objects_are_refused(tmp_path):
    """weights_only=True: a checkpoint with an arbitrary pickled object does not load."""
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": "EdgeFilter", "hparams": {}, "state_dict": {}, "extra": {"x": object()}}, path)
    with pytest.raises(DataError, match="evil.pt"):
        load_model(path)


class _RunsCode:
    def __reduce__(self):
        return (print, ("this ran at load time",))


def test_code_carrying_checkpoint_gets_trackpipes_own_refusal(tmp_path, capsys):
    """Not torch's advice that weights_only=False "will likely succeed": why it is refused and the safe way out."""
    path = tmp_path / "code.pt"
    torch.save(
        {"format": 2, "model": "edge_filter", "hparams": {}, "state_dict": {}, "extra": {"x": _RunsCode()}}, path
    )
    with pytest.raises(DataError) as err:
        load_model(path)
    message = str(err.value)
    assert "likely succeed" not in message and "In PyTorch" not in message
    assert "could execute arbitrary code" in message and "print" in message
    assert "weights_only=False" in message and "tracking.nn.save_model" in message
    assert err.value.file == str(path)
    assert "this ran" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "payload, match",
    [
        (
            {"format": 1, "model": "Transformer", "hparams": {}, "state_dict": {}, "extra": {}},
            "unknown model class 'Transformer'",
        ),
        (
            {"format": 2, "model": "transformer", "hparams": {}, "state_dict": {}, "extra": {}},
            "unknown model class 'transformer'",
        ),
        ({"format": 3, "model": "edge_filter", "hparams": {}, "state_dict": {}, "extra": {}}, "format 3"),
        ({"model": "EdgeFilter"}, "not a trackpipe checkpoint"),
        (
            {"format": 1, "model": "EdgeFilter", "hparams": {"width": 3}, "state_dict": {}, "extra": {}},
            "hyperparameters",
        ),
        ({"format": 1, "model": "EdgeFilter", "hparams": {}, "state_dict": {}, "extra": {}}, "weights do not fit"),
        ({"format": 1, "model": "EdgeFilter", "hparams": {}, "state_dict": {}}, "'extra'"),
    ],
)
def test_bad_contents(tmp_path, payload, match):
    path = tmp_path / "c.pt"
    torch.save(payload, path)
    with pytest.raises(DataError, match=match) as info:
        load_model(path)
    assert "c.pt" in str(info.value)


def test_save_refuses_unregistered_models_and_non_plain_extra(tmp_path):
    with pytest.raises(TypeError, match="registered"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "l.pt")
    with pytest.raises(TypeError, match=r"extra\['opt'\]"):
        save_model(MODELS[1](), tmp_path / "e.pt", extra={"opt": object()})
    assert not list(tmp_path.iterdir())


def test_register_a_third_party_model(tmp_path):
    class TinyScorer(torch.nn.Module):
        def __init__(self, width: int = 2) -> None:
            super().__init__()
            self.width = width
            self.lin = torch.nn.Linear(width, 1)

        @property
        def hparams(self):
            return {"width": self.width}

    try:
        registry.register("model", "test_tiny_scorer")(TinyScorer)
        loaded = load_model(save_model(TinyScorer(5), tmp_path / "t.pt"))
        assert loaded.width == 5
        assert read_checkpoint(tmp_path / "t.pt")["model"] == "test_tiny_scorer"
        assert read_checkpoint(tmp_path / "t.pt")["hparams"] == {"width": 5}
    finally:
        registry.unregister("model", "test_tiny_scorer")
    with pytest.raises(DataError, match="unknown model class 'test_tiny_scorer'"):
        load_model(tmp_path / "t.pt")


@pytest.mark.parametrize("make", MODELS)
def test_format_1_checkpoints_load_by_class_name(tmp_path, make):
    """Checkpoints written before models were plugins name the class."""
    model = make()
    path = save_model(model, tmp_path / "new.pt")
    old = {**torch.load(path, weights_only=True), "format": 1, "model": type(model).__name__}
    torch.save(old, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert type(loaded) is type(model) and loaded.hparams == model.hparams


@pytest.mark.parametrize("name", ["filter_default.pt", "gnn_default.pt"])
def test_shipped_models_load(name):
    path = RESOURCES_DIR / name
    # refitted by trackpipe fit (format 2: registry name, the detector description it was trained with);
    # format-1 files keep loading (test_format_1_checkpoints_load_by_class_name)
    assert read_checkpoint(path)["format"] == 2
    assert isinstance(load_model(path), (EdgeFilter, InteractionGNN))
