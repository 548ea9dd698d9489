"""Single-process training: loss falls, same seed -> same model, resume continues exactly, the final
model loads as an edge-classifier plugin, partitioned / checkpointed / bf16 steps train."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from tracking import registry
from tracking.errors import ConfigError
from tracking.nn import load_model
from tracking.simulation import simulate_event
from tracking.training import build_model, load_config, param_digest, train

from .conftest import TOY_MODEL


class Crash(RuntimeError):
    """Stands for a job killed after an epoch's checkpoint is written."""


def crash_after(epochs: int):
    def on_epoch_end(done: int) -> None:
        if done == epochs:
            raise Crash(f"stopping after epoch {done}")

    return on_epoch_end


def _history(output):
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def test_loss_falls_and_model_is_a_plugin_checkpoint(write_config, toy_builder):
    config = load_config(write_config(schedule={"epochs": 4, "kind": "constant"}))
    result = train(config, progress=False)
    history = _history(config.output)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert 0 <= history[-1]["val_efficiency"] <= 1 and 0 <= history[-1]["val_purity"] <= 1
    assert history[-1]["val_auc"] > 0.5 and 0 <= history[-1]["val_efficiency_at_purity"] <= 1
    assert history[0]["pos_weight"] > 1  # more false than true edges: weighted up
    assert result.resumed_from == 0 and result.epochs_run == [0, 1, 2, 3]

    model = load_model(config.output / "model.pt")
    assert model.hparams["hidden"] == 16
    classifier = registry.create(
        "edge_classifier", "interaction_gnn", {"checkpoint": str(config.output / "model.pt"), "score_cut": 0.5}
    )
    event = registry.create("graph_builder", "training_test_eta_phi_pairs")(simulate_event(5, 99, 0)).to("cpu")
    scored = classifier(event)
    assert scored.edge_scores is not None and 0 < scored.num_edges < event.num_edges
    summary = json.loads((config.output / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["params_in_sync"]


def test_same_seed_same_model(write_config, toy_builder):
    digests = [
        train(
            load_config(write_config(f"{name}.yaml", output=name, seed=5, schedule={"epochs": 2})), progress=False
        ).param_digest
        for name in ("a", "b")
    ]
    assert digests[0] == digests[1]
    config = load_config(write_config("c.yaml"))
    inits = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        inits.append(param_digest(build_model(config)))
    assert inits[0] == inits[1] != inits[2]


def test_resume_after_a_crash_continues_exactly(write_config, toy_builder):
    straight = load_config(
        write_config("straight.yaml", output="straight", schedule={"epochs": 3, "kind": "cosine", "warmup_epochs": 1})
    )
    reference = train(straight, progress=False)

    crashing = load_config(
        write_config("crash.yaml", output="crash", schedule={"epochs": 3, "kind": "cosine", "warmup_epochs": 1})
    )
    with pytest.raises(Crash):
        train(crashing, progress=False, on_epoch_end=crash_after(2))
    assert [row["epoch"] for row in _history(crashing.output)] == [1, 2]
    assert not (crashing.output / "model.pt").exists()

    rerun = load_config(
        write_config("crash.yaml", output="crash", schedule={"epochs": 3, "kind": "cosine", "warmup_epochs": 1})
    )
    resumed = train(rerun, progress=False)
    assert resumed.resumed_from == 2 and resumed.epochs_run == [2]
    assert resumed.param_digest == reference.param_digest
    assert _history(rerun.output) == [
        {**row, **{k: pytest.approx(row[k], abs=1e9) for k in ("seconds", "train_seconds")}}
        for row in _history(straight.output)
    ]

    # A longer schedule on rerun continues; --no-resume starts over.
    assert train(load_config(rerun.output.parent / "crash.yaml", {"epochs": 4}), progress=False).epochs_run == [3]
    assert train(
        load_config(rerun.output.parent / "crash.yaml", {"epochs": 1}), resume=False, progress=False
    ).epochs_run == [0]

    other = load_config(
        write_config("crash.yaml", output="crash", model={"name": "interaction_gnn", "hidden": 8, "n_iterations": 2})
    )
    with pytest.raises(ConfigError, match="use --no-resume"):
        train(other, progress=False)


def test_partitioned_checkpointed_training_matches_full_graph_training(write_config, toy_builder):
    full = train(load_config(write_config("full.yaml", output="full", schedule={"epochs": 1})), progress=False)
    partitioned_config = load_config(
        write_config(
            "part.yaml",
            output="part",
            schedule={"epochs": 1},
            memory={"max_edges": 1500, "checkpoint_iterations": True},
        )
    )
    train(partitioned_config, progress=False)
    history = _history(partitioned_config.output)
    assert history[0]["partitions_per_event"] >= 2 and history[0]["max_partition_edges"] <= 1500
    a = load_model(full.output / "model.pt").state_dict()
    b = load_model(partitioned_config.output / "model.pt").state_dict()
    for name in a:  # float32 sums in another order: equal to rounding, not bitwise
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)


def test_bf16_and_edge_filter_train(write_config, toy_builder):
    bf16 = load_config(write_config("bf16.yaml", output="bf16", schedule={"epochs": 2}, memory={"bf16": True}))
    train(bf16, progress=False)
    assert all(torch.isfinite(torch.tensor(row["train_loss"])) for row in _history(bf16.output))
    filt = load_config(
        write_config(
            "filter.yaml",
            output="filter",
            model={"name": "edge_filter", "hidden": 16, "n_layers": 2},
            schedule={"epochs": 3},
            memory={"max_bytes": 200_000},
        )
    )
    train(filt, progress=False)
    history = _history(filt.output)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[0]["partitions_per_event"] > 1
    assert type(load_model(filt.output / "model.pt")).__name__ == "EdgeFilter"


def test_cli_train_and_its_errors(write_config, toy_builder, tmp_path):
    from click.testing import CliRunner

    from tracking.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["train", str(write_config(schedule={"epochs": 1})), "--quiet", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert len(_history(tmp_path / "out")) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"output": "x", "data": {"train": {"simulate": {"n": 1}}}}))
    result = runner.invoke(main, ["train", str(bad)])
    assert result.exit_code != 0 and "missing required key(s): graph_builder" in result.output


def test_steps_per_event_takes_one_optimiser_step_per_partition(write_config, toy_builder):
    from tracking.nn import read_checkpoint

    config = load_config(
        write_config("spe.yaml", output="spe", schedule={"epochs": 3, "kind": "constant", "steps_per_event": 4})
    )
    result = train(config, progress=False)
    history = _history(config.output)
    assert all(row["partitions_per_event"] > 1 for row in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # Adam counts its steps: one per partition, so more than one per event
    state = read_checkpoint(config.output / "checkpoint.pt", map_location="cpu")["extra"]["optimizer"]["state"]
    steps = int(next(iter(state.values()))["step"])
    assert steps == round(sum(row["partitions_per_event"] * 4 for row in history))  # 4 training events
    again = train(
        load_config(
            write_config("spe2.yaml", output="spe2", schedule={"epochs": 3, "kind": "constant", "steps_per_event": 4})
        ),
        progress=False,
    )
    assert again.param_digest == result.param_digest
    with pytest.raises(ConfigError, match="steps_per_event"):
        load_config(write_config("bad.yaml", schedule={"epochs": 1, "steps_per_event": 0}))


def test_a_third_party_model_trains_and_its_checkpoint_reloads(write_config, toy_builder, tmp_path):
    """Any registered model trains: the toy model lives in a test module that the config imports."""
    from click.testing import CliRunner

    from tracking.cli import main

    imports = [toy_builder, str(TOY_MODEL)]
    path = write_config(
        imports=imports,
        model={"name": "training_test_toy_scorer", "width": 6},
        schedule={"epochs": 1},
        data={"train": {"simulate": {"n": 1, "mu": 5, "seed": 11}}},
    )
    result = CliRunner().invoke(main, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert [row["epoch"] for row in _history(config.output)] == [1]
    model = load_model(config.output / "model.pt")
    assert type(model).__name__ == "ToyScorer" and model.hparams == {"edge_features": 7, "width": 6}
    raw = torch.load(config.output / "model.pt", weights_only=True)
    assert raw["model"] == "training_test_toy_scorer"
    # a rerun resumes from its checkpoint: the registry resolves the saved model name
    assert train(load_config(path, {"epochs": 2}), progress=False).epochs_run == [1]


def test_init_from_starts_from_a_trained_model_and_names_a_misfit(write_config, toy_builder, tmp_path):
    from tracking.errors import DataError
    from tracking.training.trainer import init_weights

    first = load_config(write_config(schedule={"epochs": 1, "kind": "constant"}))
    train(first, progress=False)
    trained = load_model(first.output / "model.pt")
    fresh = build_model(first)
    assert any(not torch.equal(a, b) for a, b in zip(fresh.parameters(), trained.parameters(), strict=True))
    init_weights(fresh, first.output / "model.pt")
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), trained.parameters(), strict=True))

    # fine-tuning: the first epoch of a run with init_from starts where the trained model ended
    tuned = load_config(
        write_config(output=str(tmp_path / "tuned"), init_from=str(first.output / "model.pt"), schedule={"epochs": 1})
    )
    assert tuned.init_from == first.output / "model.pt"
    history = train(tuned, progress=False).history
    baseline = _history(first.output)
    assert history[0]["train_loss"] < baseline[0]["train_loss"]

    bigger = load_config(write_config(model={"name": "interaction_gnn", "hidden": 32, "n_iterations": 2}))
    with pytest.raises(DataError, match="init_from.*do not fit"):
        init_weights(build_model(bigger), first.output / "model.pt")
