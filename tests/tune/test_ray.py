"""`trackpipe tune --backend ray`: the study's trials as Ray Tune trials (OptunaSearch + ASHA) on a local
Ray instance, recorded in the study's own storage. Needs the serve and tune extras; skips with the
install command without them."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tracking.extras import require

try:
    with warnings.catch_warnings():  # Ray's pydantic models warn on import; not ours to fix
        warnings.simplefilter("ignore")
        require("ray.tune")
        require("optuna")
except ImportError as err:
    pytest.skip(str(err), allow_module_level=True)

from tracking.tune import load_tune_config
from tracking.tune.study import open_study

pytestmark = pytest.mark.slow


def test_two_trials_on_a_local_ray_instance(write_study, tmp_path):
    epochs = 2
    path = write_study(
        {"model.hidden": {"int": [4, 12]}, "optimizer.lr": {"float": [0.001, 0.01], "log": True}},
        epochs=epochs,
        sampler={"kind": "random", "seed": 1},
        pruner={"kind": "median", "warmup_epochs": 1},  # ASHA, first rung after epoch 1
        budget={"trials": 2},
        trial_seed="vary",
    )
    # in a subprocess away from the source tree: Ray puts the driver's working directory on its workers' path
    command = [sys.executable, "-m", "tracking", "tune", str(path), "--backend", "ray", "--no-plots", "--quiet"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert "best config:" in result.stdout

    config = load_tune_config(path)
    trials = open_study(config).get_trials()
    assert len(trials) == 2, [t.state for t in trials]
    assert trials[0].params == {"model.hidden": 8, "optimizer.lr": 0.003}  # the baseline, queued first
    assert trials[0].state.name == "COMPLETE"  # the first trial at a rung is never stopped by ASHA
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    for trial in trials:
        directory = Path(trial.user_attrs["dir"])
        assert directory == config.output / "trials" / f"trial-{trial.number:04d}"
        assert trial.user_attrs["ray_trial"] and trial.user_attrs["seed"] == 3 + trial.number
        rows = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
        assert trial.intermediate_values == {r["epoch"]: r["val_auc"] for r in rows if r["epoch"] < epochs}
        if trial.state.name == "COMPLETE":
            assert len(rows) == epochs and trial.value == rows[-1]["val_auc"]
    summary = json.loads((config.output / "summary.json").read_text())
    assert summary["best"]["trial"] in {t.number for t in trials if t.state.name == "COMPLETE"}
    assert (config.output / "best.yaml").is_file()
