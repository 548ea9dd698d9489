"""``trackpipe tune --backend ray``: the same study as Ray Tune trials, for studies that outgrow one machine.

Ray Tune schedules the trials on a Ray cluster (a local one by default, or ``ray.address``): each trial
is the same training run in ``OUTPUT/trials/trial-NNNN`` as with the Optuna backend (:class:`.Objective`),
in a Ray actor with ``ray.cpus_per_trial`` CPUs and ``ray.gpus_per_trial`` GPUs. The search is Ray's
``OptunaSearch`` over the study itself (same storage, name, sampler and space), so the table, the best
config and ``--show`` are those of the Optuna backend; the scheduler is ASHA (asynchronous successive
halving), which stops trials at rungs of epochs from the pruner's per-epoch figure (``pruner.kind: none``:
no early stopping). A trial stopped by ASHA is recorded ``pruned``, a failing one ``fail`` with its error.

Every report of a trial carries ``prune`` (the per-epoch figure ASHA ranks) and ``objective`` (the
study's value; the trial's own value only in its last report, marked ``final``).
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
from pathlib import Path
from typing import Any

from ..extras import require
from .config import TuneConfig
from .space import read_base, suggest
from .study import Objective, budget_used, make_sampler, open_storage

NUMBER = "trackpipe_trial"  # the Optuna trial number, passed to the trainable with the sampled values
RESUME = "trackpipe_resume"  # whether the trial resumes a killed one's training from its checkpoint
OBJECTIVE, PRUNE, FINAL = "objective", "prune", "final"
MAX_EPOCHS = 10_000  # ASHA's max_t: trials end by their own epoch count, long before


def _trainable(values: dict[str, Any], config: TuneConfig, base: dict[str, Any]) -> None:
    """One Ray Tune trial (in a Ray actor): the Optuna backend's training run, reporting every epoch."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(config.ray.cpus_per_trial)))
    values = dict(values)
    number, resume = int(values.pop(NUMBER)), bool(values.pop(RESUME))
    objective = Objective(config, base)
    last: dict[str, float] = {}

    def report(epoch: int, figure: float) -> None:
        last[PRUNE] = figure

    def after_epoch(done: int, total: int) -> None:
        if done < total and PRUNE in last:  # the last epoch is reported with the trial's value below
            tune.report({PRUNE: last[PRUNE], OBJECTIVE: last[PRUNE], "epoch": done, FINAL: False})

    directory, seed = objective.directory(number), objective.seed(number)
    value = objective.run(values, directory, seed, resume=resume, report=report, after_epoch=after_epoch)
    tune.report({PRUNE: last.get(PRUNE, value), OBJECTIVE: value, FINAL: True})


def _search(config: TuneConfig, objective: Objective) -> Any:
    """Ray's OptunaSearch over the study's own storage, recording each trial's directory, seed and fate."""
    from ray.tune.search.optuna import OptunaSearch

    class StudySearch(OptunaSearch):
        def suggest(self, trial_id: str) -> Any:
            suggested = super().suggest(trial_id)
            if not isinstance(suggested, dict):  # None (wait) or FINISHED
                return suggested
            trial = self._ot_trials[trial_id]
            retry = "retry_of" in trial.user_attrs  # a trial killed with an earlier driver, queued again
            number = int(trial.user_attrs.get("retry_of", trial.number))
            trial.set_user_attr("dir", str(objective.directory(number)))
            trial.set_user_attr("seed", objective.seed(number))
            # the driver: its death ends the trials (and marks them stale for the next run of the study)
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            trial.set_user_attr("ray_trial", trial_id)
            return {**suggested, NUMBER: number, RESUME: retry}

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            if not result.get(FINAL) and trial_id in self._ot_trials:
                self._ot_trials[trial_id].report(float(result[PRUNE]), int(result["epoch"]))

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            trial = self._ot_trials.get(trial_id)
            if error and trial is not None:
                trial.set_user_attr("error", _error_line(Path(objective.directory(trial.number))))
            if result is not None and not error and not result.get(FINAL):
                result = None  # stopped by ASHA before its last epoch: told as pruned
            super().on_trial_complete(trial_id, result, error)

        def save(self, checkpoint_path: str) -> None:
            # Ray checkpoints its searcher for Tuner.restore; here the study's storage is the record (the
            # same command resumes the study), and the searcher's space and storage do not pickle
            with open(checkpoint_path, "wb") as f:
                pickle.dump({"study": config.study, "storage": config.storage_url()}, f)

        def restore(self, checkpoint_path: str) -> None:
            raise NotImplementedError("resume the study by running the same trackpipe tune command again")

    mode = "max" if config.objective.direction == "maximize" else "min"
    return StudySearch(
        space=lambda trial: suggest(trial, config.space) and None,  # define-by-run: the same space
        metric=OBJECTIVE,
        mode=mode,
        sampler=make_sampler(config, 0),
        study_name=config.study,
        storage=open_storage(config.storage_url()),
    )


def _error_line(directory: Path) -> str:
    try:
        lines = (directory / "error.txt").read_text().strip().splitlines()
    except OSError:
        return "failed (no error.txt)"
    return (lines[-1] if lines else "failed")[:2000]


def _scheduler(config: TuneConfig) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    pruner = config.pruner
    if pruner.kind == "none":
        return None
    grace = pruner.min_epochs if pruner.kind == "hyperband" else max(1, pruner.warmup_epochs)
    mode = "max" if config.objective.direction == "maximize" else "min"
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=PRUNE,
        mode=mode,
        max_t=MAX_EPOCHS,
        grace_period=grace,
        reduction_factor=config.ray.reduction_factor,
    )


def run_ray(config: TuneConfig, study: Any, *, quiet: bool = False) -> None:
    """Run the rest of the study's budget as Ray Tune trials (``workers`` at a time) on a local Ray
    instance or the cluster at ``ray.address``; the trials land in ``study``'s storage."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no TensorBoard/CSV files per trial
    tune = require("ray.tune")
    import ray

    left = config.budget.trials - budget_used(study)
    if left <= 0:
        return
    base = read_base(config)
    objective = Objective(config, base)
    started = not ray.is_initialized()
    if started:
        if config.ray.address is None:
            ray.init(include_dashboard=False, log_to_driver=not quiet, namespace="trackpipe-tune")
        else:
            ray.init(address=config.ray.address, log_to_driver=not quiet, namespace="trackpipe-tune")
    try:
        resources = {"cpu": config.ray.cpus_per_trial, "gpu": config.ray.gpus_per_trial}
        trainable = tune.with_resources(tune.with_parameters(_trainable, config=config, base=base), resources)
        timeout = config.budget.timeout_min * 60 if config.budget.timeout_min is not None else None
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=_search(config, objective),
                scheduler=_scheduler(config),
                num_samples=left,
                max_concurrent_trials=config.workers,
                time_budget_s=timeout,
            ),
            run_config=tune.RunConfig(
                name=f"ray-{config.study}",
                storage_path=str(config.output / "ray"),
                verbose=0 if quiet else 1,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            ),
        )
        tuner.fit()  # trial errors are recorded in the study, not raised
    finally:
        if started:
            ray.shutdown()
    sys.stderr.flush()


__all__ = ["run_ray"]
