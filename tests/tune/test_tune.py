"""`trackpipe tune`: config errors name the key, a failing trial is recorded and the study goes on,
pruning prunes, two workers share one journal file, and a killed study resumes its trials from their
checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tracking.cli import main
from tracking.errors import ConfigError
from tracking.training import load_config
from tracking.tune import format_table, load_tune_config, run_study, write_report
from tracking.tune.study import _process_alive, open_study

optuna = pytest.importorskip("optuna", reason='trackpipe tune needs Optuna: pip install "trackpipe[tune]"')


def test_config_errors_name_the_key(write_study):
    path = write_study({"model.hiden": {"int": [4, 8]}})
    with pytest.raises(ConfigError, match=r"space: model.hiden = 4 .*hiden"):
        run_study(load_tune_config(path))
    with pytest.raises(ConfigError, match=r"space.model.hidden: give exactly one of"):
        load_tune_config(write_study({"model.hidden": {"int": [4, 8], "choice": [4]}}))
    with pytest.raises(ConfigError, match=r"log: true needs LOW > 0"):
        load_tune_config(write_study({"optimizer.lr": {"float": [0, 1], "log": True}}))
    with pytest.raises(ConfigError, match=r"metric 'val_foo' is not one of .*direction"):
        load_tune_config(write_study({"model.hidden": {"choice": [4]}}, objective={"metric": "val_foo"}))
    with pytest.raises(ConfigError, match=r"sampler 'grid' needs choice-only spaces; optimizer.lr"):
        load_tune_config(write_study({"optimizer.lr": {"float": [0.001, 0.01]}}, sampler={"kind": "grid"}))
    with pytest.raises(ConfigError, match=r"enqueue\[0\]: model.hidden=99 is outside"):
        load_tune_config(write_study({"model.hidden": {"int": [4, 8]}}, enqueue=[{"model.hidden": 99}]))


def test_failing_trial_is_recorded_and_the_study_goes_on(write_study):
    path = write_study(
        {"graph_builder.fail": {"choice": [False, True]}, "model.hidden": {"choice": [8]}},
        sampler={"kind": "grid", "seed": 0},
        pruner={"kind": "none"},
        budget={"trials": 5},  # the grid has 2 points (the baseline is one of them): the study stops at 3
        objective={"metric": "val_efficiency_at_purity", "purity": 0.5},
    )
    config = load_tune_config(path)
    study = run_study(config, quiet=True)
    trials = study.get_trials()
    states = sorted(t.state.name for t in trials)
    assert states.count("FAIL") >= 1 and states.count("COMPLETE") >= 1 and len(trials) == 3
    failed = next(t for t in trials if t.state.name == "FAIL")
    assert failed.params["graph_builder.fail"] is True
    assert "failing on purpose" in failed.user_attrs["error"]
    assert "failing on purpose" in (Path(failed.user_attrs["dir"]) / "error.txt").read_text()
    assert trials[0].user_attrs.get("enqueued") and trials[0].params == {"graph_builder.fail": False, "model.hidden": 8}

    summary = write_report(study, config.output)
    best = study.best_trial
    assert summary["best"]["trial"] == best.number and summary["best"]["seed"] == 3
    assert 0 <= best.value <= 1
    rows = [json.loads(line) for line in (Path(best.user_attrs["dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert best.value == rows[-1]["val_efficiency_at_purity"]
    best_config = load_config(config.output / "best.yaml")  # a ready training config
    assert best_config.target_purity == 0.5 and best_config.graph_builder["fail"] is False
    assert best_config.output == config.output / "best"
    assert (config.output / "trials.csv").read_text().count("\n") == 4
    assert json.loads((config.output / "summary.json").read_text())["states"] == summary["states"]

    shown = CliRunner().invoke(main, ["tune", "--show", str(config.output)])
    assert shown.exit_code == 0, shown.output
    assert "failing on purpose" in shown.output and f"best val_efficiency_at_purity = {best.value:.5g}" in shown.output
    assert shown.output.strip() == format_table(study).strip()


def test_pruning_stops_a_worse_trial(write_study):
    # lr 0 cannot move from the initial model: after its first epoch its validation loss is above the
    # trained trial's at the same epoch, and the median pruner stops it there
    path = write_study(
        {"optimizer.lr": {"float": [0.0, 0.03]}},
        epochs=3,
        objective={"metric": "val_loss"},
        pruner={"kind": "median", "startup_trials": 1, "warmup_epochs": 0},
        baseline=False,
        enqueue=[{"optimizer.lr": 0.03}, {"optimizer.lr": 0.0}],
        budget={"trials": 2},
    )
    study = run_study(load_tune_config(path), quiet=True)
    first, second = study.get_trials()
    assert first.state.name == "COMPLETE" and first.last_step == 3
    assert second.state.name == "PRUNED" and second.last_step == 1
    assert second.intermediate_values[1] > first.intermediate_values[1]


def _rows(directory: Path) -> int:
    metrics = directory / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if metrics.is_file() else 0


@pytest.mark.slow
def test_two_workers_share_a_journal_and_a_killed_study_resumes(write_study, tmp_path):
    epochs = 4
    path = write_study(
        {"model.hidden": {"int": [4, 12]}},
        epochs=epochs,
        sampler={"kind": "random", "seed": 1},
        pruner={"kind": "none"},
        budget={"trials": 4},
        trial_seed="vary",
    )
    trials_dir = tmp_path / "study" / "trials"
    command = [sys.executable, "-m", "tracking", "tune", str(path), "--workers", "2", "--no-plots"]
    process = subprocess.Popen(
        command, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        # kill the study once both workers have started a trial and one has a checkpoint and epochs to run
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None:
            started = list(trials_dir.glob("trial-*"))
            if len(started) >= 2 and any(1 <= _rows(d) < epochs for d in started):
                break
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        done_at_kill = {str(d): _rows(d) for d in started}  # epochs checkpointed (at least) when killed
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr:
            process.stderr.close()

    config = load_tune_config(path)
    before = open_study(config).get_trials()
    assert len({t.user_attrs["worker"] for t in before}) == 2  # two processes wrote to one journal
    for worker in {t.user_attrs["worker"] for t in before}:  # SIGKILL is delivered, the exit takes a moment
        pid = int(worker.rpartition(":")[2])
        deadline = time.time() + 30
        while _process_alive(pid) and time.time() < deadline:
            time.sleep(0.05)
    killed = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert any(done_at_kill.get(t.user_attrs["dir"], 0) >= 1 for t in killed)  # one killed after a checkpoint

    study = run_study(config, quiet=True)  # resumes: killed trials failed as stale, retried in their directories
    trials = study.get_trials()
    stale = [t for t in trials if t.user_attrs.get("stale")]
    assert {t.number for t in stale} >= {t.number for t in killed}
    assert all(t.state.name == "FAIL" for t in stale)
    for trial in stale:
        retry = next(t for t in trials if t.user_attrs.get("retry_of") == trial.number)
        assert retry.state.name == "COMPLETE" and retry.params == trial.params
        assert (
            retry.user_attrs["dir"] == trial.user_attrs["dir"] and retry.user_attrs["seed"] == trial.user_attrs["seed"]
        )
        summary = json.loads((Path(retry.user_attrs["dir"]) / "summary.json").read_text())
        assert summary["resumed_from"] >= done_at_kill.get(trial.user_attrs["dir"], 0) and summary["epochs"] == epochs
        assert retry.last_step == epochs  # the resumed epochs were reported too
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(finished) == 4 and len(trials) == 4 + len(stale)
    assert len({t.user_attrs["seed"] for t in finished}) == 4  # trial_seed: vary, recorded per trial
    summary = write_report(study, config.output, plots=False)
    assert yaml.safe_load((config.output / "best.yaml").read_text())["seed"] == summary["best"]["seed"]


def test_track_efficiency_objective_calibrates_cuts_with_fit(write_study, monkeypatch):
    import tracking.fit.fitter as fitter

    calls = []
    calibrate = fitter.calibrate_tracks
    monkeypatch.setattr(fitter, "calibrate_tracks", lambda *a, **k: calls.append(a) or calibrate(*a, **k))
    cuts = {"score_cuts": [0.2, 0.5], "min_hits": [3], "track_builders": ["connected_components"]}
    path = write_study(
        {"model.hidden": {"choice": [8]}},
        epochs=2,
        objective={"metric": "track_efficiency", "max_fake": 1.0, "matching": {"pt_min": None}, "cuts": cuts},
        pruner={"kind": "none"},
        budget={"trials": 1},
    )
    config = load_tune_config(path)
    assert config.objective.prune_on == "val_auc" and config.objective.direction == "maximize"
    (trial,) = run_study(config, quiet=True).get_trials()
    assert trial.state.name == "COMPLETE", trial.user_attrs.get("error")
    assert len(calls) == 1 and calls[0][0].max_fake == 1.0  # trackpipe fit's own calibration, on our cut grid
    directory = Path(trial.user_attrs["dir"])
    chosen = json.loads((directory / "tracks.json").read_text())
    assert chosen["reached_max_fake"] and trial.value == chosen["efficiency"] and 0 < trial.value <= 1
    assert chosen["score_cut"] in (0.2, 0.5) and chosen["min_hits"] == 3
    rows = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert trial.intermediate_values == {r["epoch"]: r["val_auc"] for r in rows}  # the pruner's figure

    with pytest.raises(ConfigError, match=r"'prune_on' applies to the track objectives"):
        load_tune_config(write_study({"model.hidden": {"choice": [8]}}, objective={"prune_on": "val_loss"}))
    with pytest.raises(ConfigError, match=r"prune_on val_loss is minimized, the objective maximized"):
        load_tune_config(
            write_study(
                {"model.hidden": {"choice": [8]}}, objective={"metric": "track_efficiency", "prune_on": "val_loss"}
            )
        )


@pytest.mark.slow
def test_ddp_trials_report_every_epoch_and_a_pruned_one_stops_its_ranks(write_study):
    # as test_pruning_stops_a_worse_trial, each trial trained by 2 DDP ranks (gloo on CPU); the pruned
    # one would train 30 epochs: stopped after its first, it leaves no model
    path = write_study(
        {"optimizer.lr": {"float": [0.0, 0.03]}, "schedule.epochs": {"choice": [3, 30]}},
        objective={"metric": "val_loss"},
        pruner={"kind": "median", "startup_trials": 1, "warmup_epochs": 0},
        baseline=False,
        enqueue=[{"optimizer.lr": 0.03, "schedule.epochs": 3}, {"optimizer.lr": 0.0, "schedule.epochs": 30}],
        budget={"trials": 2},
        nproc=2,
    )
    study = run_study(load_tune_config(path), quiet=True)
    first, second = study.get_trials()
    assert first.state.name == "COMPLETE", first.user_attrs.get("error")
    assert first.last_step == 3 and first.value == first.intermediate_values[3]
    summary = json.loads((Path(first.user_attrs["dir"]) / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert second.state.name == "PRUNED" and second.intermediate_values[1] > first.intermediate_values[1]
    assert second.last_step < 30 and not (Path(second.user_attrs["dir"]) / "model.pt").exists()


# a fit that takes seconds: tests/fit/test_fit.py's TINY
TINY_FIT = {
    "train": {"simulate": {"n": 3, "mu": 5, "seed": 100}},
    "val": {"simulate": {"n": 2, "mu": 5, "seed": 200}},
    "budget_minutes": 0.05,
    "device": "cpu",
    "seed": 5,
    "map": {"granularity": "layer", "margins": [0.1], "min_segments": [1]},
    "filter": {"max_epochs": 1, "steps_per_event": 2, "model": {"name": "edge_filter", "hidden": 16, "n_layers": 2}},
    "gnn": {"enabled": "off"},
    "cuts": {"score_cuts": [0.2, 0.5], "min_hits": [3], "track_builders": ["connected_components"]},
    "max_fake": 1.0,
}


@pytest.mark.slow
def test_a_fit_config_study_is_judged_by_the_fits_own_track_calibration(tmp_path):
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump({**TINY_FIT, "output": "unused"}))
    tune = {"fit": "fit.yaml", "output": "study", "space": {"filter.lr": {"float": [1e-3, 1e-2], "log": True}}}
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump({**tune, "budget": {"trials": 1}}))
    with pytest.raises(ConfigError, match=r"a fit study is judged by the fit's validation tracks"):
        load_tune_config(tmp_path / "tune.yaml")
    (tmp_path / "tune.yaml").write_text(
        yaml.safe_dump({**tune, "budget": {"trials": 1}, "objective": {"metric": "track_efficiency"}})
    )
    config = load_tune_config(tmp_path / "tune.yaml")
    (trial,) = run_study(config, quiet=True).get_trials()
    assert trial.state.name == "COMPLETE", trial.user_attrs.get("error")
    directory = Path(trial.user_attrs["dir"])
    report = json.loads((directory / "report.json").read_text())  # a complete fit in the trial's directory
    chosen = report["steps"]["tracks"]["chosen"]
    assert trial.value == chosen["efficiency"] and report["steps"]["tracks"]["reached_max_fake"]
    assert report["fit"]["filter"]["lr"] == trial.params["filter.lr"] and report["fit"]["seed"] == 5
    assert (directory / "pipeline.yaml").is_file() and "[4/5]" in (directory / "fit.log").read_text()
    write_report(run_study(config, quiet=True), config.output, plots=False)  # budget used: no new trial
    best = config.output / "best.yaml"
    assert "trackpipe fit --config" in best.read_text()
    from tracking.fit import load_fit_config

    assert load_fit_config(best).filter.lr == trial.params["filter.lr"]
