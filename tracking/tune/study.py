"""A study: Optuna storage, sampler and pruner, the trial objective (a normal training run in its own
directory), the workers that share the study, and recovery of trials whose process was killed.

Several processes work on one study through its storage, a journal file by default (appends under a
file lock: safe on one machine and on a shared file system, as on HPC) or a database URL. A process
that is killed leaves its trial RUNNING; the next ``trackpipe tune`` of the study marks it failed
(``stale``) and queues its parameters again with its directory, so that the retry resumes its training
from the last epoch checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..atomic import atomic_output
from ..errors import ConfigError
from ..extras import require
from .config import TuneConfig
from .space import apply, baseline_point, check_space, read_base, suggest

if TYPE_CHECKING:
    import optuna

TRIALS_DIR = "trials"
TRIAL_CONFIG = "config.yaml"
HEARTBEAT = "heartbeat"


def optuna_module() -> Any:
    """Optuna (the ``tune`` extra), quiet: trackpipe prints its own line per trial."""
    optuna = require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(url: str) -> Any:
    """A journal file (a path) or a database (``sqlite:///...``, ``postgresql://...``)."""
    optuna = optuna_module()
    if "://" in url:
        return url
    path = Path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def make_sampler(config: TuneConfig, worker: int) -> Any:
    optuna = optuna_module()
    seed = None if config.sampler.seed is None else config.sampler.seed + worker
    if config.sampler.kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if config.sampler.kind == "grid":
        grid = {key: list(param.choice or ()) for key, param in config.space.items()}
        return optuna.samplers.GridSampler(grid, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=config.sampler.startup_trials)


def make_pruner(config: TuneConfig) -> Any:
    optuna = optuna_module()
    pruner = config.pruner
    if pruner.kind == "none":
        return optuna.pruners.NopPruner()
    if pruner.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=pruner.min_epochs)
    return optuna.pruners.MedianPruner(n_startup_trials=pruner.startup_trials, n_warmup_steps=pruner.warmup_epochs)


def open_study(config: TuneConfig, worker: int = 0) -> optuna.Study:
    optuna = optuna_module()
    study = optuna.create_study(
        storage=open_storage(config.storage_url()),
        study_name=config.study,
        direction=config.objective.direction,
        sampler=make_sampler(config, worker),
        pruner=make_pruner(config),
        load_if_exists=True,
    )
    expected = optuna.study.StudyDirection.MAXIMIZE if config.objective.direction == "maximize" else None
    expected = expected or optuna.study.StudyDirection.MINIMIZE
    if study.direction != expected:
        raise ConfigError(
            f"study {config.study!r} in {config.storage_url()} was created to {study.direction.name.lower()}, "
            f"this config asks to {config.objective.direction}: use another study name"
        )
    metric = study.user_attrs.get("metric")
    if metric is not None and metric != config.objective.metric:
        raise ConfigError(
            f"study {config.study!r} in {config.storage_url()} optimises {metric}, this config "
            f"{config.objective.metric}: use another study name"
        )
    if metric is None:
        study.set_user_attr("metric", config.objective.metric)
        study.set_user_attr("base_config", str(config.base))
        study.set_user_attr("kind", config.kind)
    return study


def _counts_against_budget(trial: Any) -> bool:
    from optuna.trial import TrialState

    if trial.state == TrialState.FAIL:
        return not trial.user_attrs.get("stale", False)  # a killed trial's retry takes its place
    return True


def budget_used(study: optuna.Study) -> int:
    """Trials finished or running; killed ones are not counted, their retries are (queued trials are
    taken first by the next trial that starts)."""
    from optuna.trial import TrialState

    return sum(_counts_against_budget(t) for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed worker whose parent died too can linger as a zombie where nothing reaps orphans
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_stale(trial: Any, stale_after_s: float, now: float) -> bool:
    """A running trial whose process is gone: dead by pid on this host, or silent past the limit."""
    host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid)):
        return True
    directory = trial.user_attrs.get("dir")
    beat = Path(directory) / HEARTBEAT if directory else None
    try:
        last = beat.stat().st_mtime if beat is not None else trial.datetime_start.timestamp()
    except OSError:
        last = trial.datetime_start.timestamp() if trial.datetime_start else now
    return now - last > stale_after_s


def recover_stale(study: optuna.Study, config: TuneConfig) -> list[int]:
    """Mark killed trials failed (``stale``) and queue the parameters of every stale trial not yet
    retried again, in the same directory; returns their numbers. Interrupted trials (Ctrl-C) are
    stale too."""
    optuna = optuna_module()
    from optuna.trial import TrialState

    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _is_stale(trial, config.stale_after_min * 60, now):
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "stale", True)
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):  # it finished after all
            continue
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    recovered = []
    for trial in trials:
        if trial.state == TrialState.FAIL and trial.user_attrs.get("stale") and trial.number not in retried:
            original = trial.user_attrs.get("retry_of", trial.number)
            retry = {"dir": trial.user_attrs.get("dir"), "retry_of": original}
            study.enqueue_trial(trial.params, user_attrs={k: v for k, v in retry.items() if v is not None})
            recovered.append(trial.number)
    return recovered


class Heartbeat:
    """Touches ``DIR/heartbeat`` every ``period`` seconds while a trial runs (the stale-trial check of
    processes on other hosts)."""

    def __init__(self, path: Path, period: float) -> None:
        self.path, self.period = path, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trackpipe-tune-heartbeat", daemon=True)

    def _run(self) -> None:
        while True:
            self.path.touch()
            if self._stop.wait(self.period):
                return

    def __enter__(self) -> Heartbeat:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _metric_value(row: dict[str, Any], metric: str, where: str) -> float:
    if metric not in row:
        figures = ", ".join(k for k, v in row.items() if isinstance(v, (int, float)))
        raise ConfigError(f"objective: metric {metric!r} is not among the figures of {where}: {figures}")
    return float(row[metric])


def _read_rows(directory: Path) -> list[dict[str, Any]]:
    path = directory / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Objective:
    """One trial: the base training config with the trial's values, trained in the trial's directory,
    judged by the objective (its per-epoch figure, or track efficiency after training), with the
    pruner's figure reported after every epoch. Both backends run trials through :meth:`run`."""

    def __init__(self, config: TuneConfig, base: dict[str, Any]) -> None:
        self.config = config
        self.base = base
        self.trials_dir = config.output / TRIALS_DIR

    def trial_config(self, values: dict[str, Any], directory: Path, seed: int) -> dict[str, Any]:
        raw = apply(self.base, values)
        raw["output"] = str(directory)
        raw["seed"] = seed
        if self.config.kind == "fit":
            if self.config.device is not None:
                raw["device"] = self.config.device
            return raw  # the fit keeps its graphs in DIR/work
        if self.config.objective.purity is not None:
            raw["target_purity"] = self.config.objective.purity
        if self.config.device is not None:
            raw["device"] = self.config.device
        data = raw.setdefault("data", {})
        if isinstance(data, dict) and "cache_dir" not in data:
            data["cache_dir"] = str(self.config.output / "cache")  # trials share graphs (keyed by content)
        return raw

    def seed(self, number: int) -> int:
        base_seed = int(self.base.get("seed", 0) or 0)
        return base_seed + number if self.config.trial_seed == "vary" else base_seed

    def directory(self, number: int) -> Path:
        return self.trials_dir / f"trial-{number:04d}"

    def run(
        self,
        values: dict[str, Any],
        directory: Path,
        seed: int,
        *,
        resume: bool,
        report: Callable[[int, float], None],
        after_epoch: Callable[[int, int], None] = lambda done, total: None,
    ) -> float:
        """Write the trial's config, train it (``resume``: from its checkpoint, replaying the epochs done
        through ``report``), and return its value. ``report(epoch, figure)`` gets the pruner's figure of
        every epoch, then ``after_epoch(done, total)`` may stop the run by raising. An error is written
        to ``DIR/error.txt`` and raised."""
        from ..training import load_config, train

        directory.mkdir(parents=True, exist_ok=True)
        if not resume:
            (directory / "error.txt").unlink(missing_ok=True)
        with atomic_output(directory / TRIAL_CONFIG) as tmp:
            tmp.write_text(yaml.safe_dump(self.trial_config(values, directory, seed), sort_keys=False))
        prune_on = str(self.config.objective.prune_on)

        def report_row(row: dict[str, Any]) -> None:
            value = _metric_value(row, prune_on, f"epoch {row.get('epoch')} of {directory}")
            if math.isfinite(value):
                report(int(row["epoch"]), value)

        heartbeat_period = min(30.0, self.config.stale_after_min * 60 / 4)
        with Heartbeat(directory / HEARTBEAT, heartbeat_period):
            try:
                if self.config.kind == "fit":
                    return fit_value(directory, self.config.nproc)
                for row in _read_rows(directory) if resume else []:  # the epochs done before count
                    report_row(row)
                train_config = load_config(directory / TRIAL_CONFIG)

                def epoch_done(row: dict[str, Any]) -> None:
                    report_row(row)
                    after_epoch(int(row["epoch"]), train_config.schedule.epochs)

                if self.config.nproc > 1:
                    history = train_ddp(directory, self.config.nproc, resume, epoch_done)
                else:

                    def on_epoch_end(done: int) -> None:
                        rows = _read_rows(directory)
                        if rows:
                            epoch_done(rows[-1])

                    history = train(train_config, resume=resume, progress=False, on_epoch_end=on_epoch_end).history
                if not self.config.objective.per_epoch:
                    return track_value(self.config, train_config, directory)
                return self.value(history, directory)
            except Exception as err:
                if not _is_stop(err):
                    with atomic_output(directory / "error.txt") as tmp:
                        tmp.write_text(traceback.format_exc())
                raise

    def __call__(self, trial: Any) -> float:
        optuna = optuna_module()
        attrs = trial.user_attrs
        retry = "retry_of" in attrs  # resumes the killed trial's training; a new trial starts clean
        number = int(attrs.get("retry_of", trial.number))
        directory = Path(attrs["dir"]) if "dir" in attrs else self.directory(number)
        values = suggest(trial, self.config.space)
        seed = self.seed(number)
        trial.set_user_attr("dir", str(directory))
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")

        def after_epoch(done: int, total: int) -> None:
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {done}")

        try:
            return self.run(
                values,
                directory,
                seed,
                resume=retry,
                report=lambda epoch, figure: trial.report(figure, epoch),
                after_epoch=after_epoch,
            )
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("stale", True)  # the next run of the study resumes it
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            raise

    def value(self, history: list[dict[str, Any]], directory: Path) -> float:
        metric = self.config.objective.metric
        values = [_metric_value(row, metric, f"epoch {row.get('epoch')} of {directory}") for row in history]
        values = [v for v in values if math.isfinite(v)]
        if not values:
            raise ValueError(f"objective {metric} is not finite in any epoch of {directory} (no validation edges?)")
        if self.config.objective.epoch == "last":
            if not math.isfinite(float(history[-1][metric])):
                raise ValueError(f"objective {metric} is not finite in the last epoch of {directory}")
            return float(history[-1][metric])
        return max(values) if self.config.objective.direction == "maximize" else min(values)


def train_ddp(
    directory: Path, nproc: int, resume: bool, epoch_done: Callable[[dict[str, Any]], None], poll_s: float = 0.5
) -> list[dict[str, Any]]:
    """Train ``DIR/config.yaml`` as ``nproc`` local DDP ranks (``trackpipe train --nproc``'s launcher),
    passing each epoch row to ``epoch_done`` as rank 0 writes it. When ``epoch_done`` raises (the pruner
    stops the trial), the ranks are stopped with SIGTERM (the launcher forwards it; the last epoch's
    checkpoint stays) and the error is raised. Needs the main thread (signal handlers)."""
    from ..distributed import launch_local

    seen, stopped, terminated = 0, [], []
    stop_watching = threading.Event()

    def take_new_rows() -> None:
        nonlocal seen
        rows = _read_rows(directory)
        for row in rows[seen:]:
            seen += 1
            epoch_done(row)

    def watch() -> None:
        while not stop_watching.wait(poll_s):
            try:
                take_new_rows()
            except BaseException as err:  # noqa: BLE001 - raised again in the calling thread
                stopped.append(err)
                os.kill(os.getpid(), signal.SIGTERM)  # to the launcher, which stops the ranks
                return

    seen = len(_read_rows(directory)) if resume else 0  # replayed by the caller already
    args = [str(directory / TRIAL_CONFIG), "--resume" if resume else "--no-resume", "--quiet"]
    # the launcher forwards SIGTERM to the ranks and restores this handler afterwards: a late signal is harmless
    previous = signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    watcher = threading.Thread(target=watch, name="trackpipe-tune-ddp-watch", daemon=True)
    watcher.start()
    try:
        status = launch_local("tracking.training", args, nproc)
    finally:
        stop_watching.set()
        watcher.join()
        signal.signal(signal.SIGTERM, previous)
    if stopped:
        raise stopped[0]
    if len(terminated) > len(stopped):  # a SIGTERM from outside: end as it would have ended this process
        os.kill(os.getpid(), signal.SIGTERM)
    if status != 0:
        raise RuntimeError(f"training with {nproc} DDP processes failed (exit status {status}); see above")
    take_new_rows()  # the epochs written since the last look
    return _read_rows(directory)


def _is_stop(err: BaseException) -> bool:
    """A trial stopped on purpose (pruned), not failed."""
    return type(err).__name__ in ("TrialPruned", "StopTrial")


TRACKS_FILE = "tracks.json"
EDGE_CLASSIFIER_MODELS = ("edge_filter", "interaction_gnn")  # the models an edge-classifier stage loads


def track_value(config: TuneConfig, train_config: Any, directory: Path) -> float:
    """Track efficiency at a fake rate <= ``objective.max_fake`` on the validation events, with the
    trained model in the training's graph stages and the track cuts calibrated by ``trackpipe fit``'s
    own :func:`~tracking.fit.fitter.calibrate_tracks`; the chosen setting goes to ``DIR/tracks.json``.
    A trial that reaches the ceiling with no setting is worth its efficiency minus 1 (below any that does)."""
    from ..fit.config import FitConfig
    from ..fit.fitter import calibrate_tracks
    from ..training.datasets import iter_source

    objective = config.objective
    model = str(train_config.model.name)
    if model not in EDGE_CLASSIFIER_MODELS:
        raise ConfigError(f"objective {objective.metric}: tracks are built with {EDGE_CLASSIFIER_MODELS}, not {model}")
    data = train_config.data
    fit_config = FitConfig(
        train=data.train,
        val=data.val,
        output=directory,
        max_fake=objective.max_fake,
        matching=objective.matching,
        cuts=objective.cuts,
    )
    stages = [dict(train_config.graph_builder)]
    if train_config.pre_filter is not None:
        stages.append(dict(train_config.pre_filter))
    stages.append({"edge_classifier": model, "checkpoint": str(directory / "model.pt"), "prune": False})
    events = [event.numpy() for _, event in iter_source(data.val)]
    detector = str(train_config.detector) if train_config.detector is not None else None
    return _tracks_outcome(directory, calibrate_tracks(fit_config, {"model": stages}, events, False, detector))


def fit_value(directory: Path, nproc: int) -> float:
    """A fit study's trial: ``trackpipe fit`` of ``DIR/config.yaml`` into ``DIR`` (its log in
    ``DIR/fit.log``; a retry resumes its trainings), judged as :func:`track_value` by the fit's own
    calibration on its validation events (its ``max_fake``, ``matching`` and ``cuts``)."""
    from ..fit import load_fit_config
    from ..fit.fitter import fit

    config = load_fit_config(directory / TRIAL_CONFIG)
    with open(directory / "fit.log", "a") as log:
        result = fit(config, progress=False, log=lambda line: print(line, file=log, flush=True), nproc=nproc)
    return _tracks_outcome(directory, result.report["steps"]["tracks"])


def _tracks_outcome(directory: Path, calibrated: dict[str, Any]) -> float:
    """The value of a calibration of track cuts (its chosen setting written to ``DIR/tracks.json``): the
    efficiency at the fake-rate ceiling, or the efficiency minus 1 when no setting reached it."""
    chosen = {k: v for k, v in calibrated["chosen"].items() if k != "metrics"}
    with atomic_output(directory / TRACKS_FILE) as tmp:
        tmp.write_text(json.dumps({**chosen, "reached_max_fake": calibrated["reached_max_fake"]}, indent=2))
    efficiency = float(chosen["efficiency"]) if math.isfinite(float(chosen["efficiency"])) else 0.0
    return efficiency if calibrated["reached_max_fake"] else efficiency - 1.0


def _announce(study: Any, trial: Any) -> None:
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    value = f" {study.user_attrs.get('metric', 'value')}={trial.value:.5g}" if trial.value is not None else ""
    error = f" ({trial.user_attrs['error']})" if "error" in trial.user_attrs else ""
    seconds = f" {trial.duration.total_seconds():.1f} s" if trial.duration else ""
    print(f"trial {trial.number} {trial.state.name.lower()}{value}{seconds}: {shown}{error}", file=sys.stderr)


def work(config: TuneConfig, worker: int = 0, *, deadline: float | None = None, quiet: bool = False) -> None:
    """One worker: run trials of the study until the budget (counted over every worker) is used up,
    the deadline passes, or a grid is exhausted. A failing trial is recorded and the next one starts."""
    optuna = optuna_module()
    study = open_study(config, worker)
    objective = Objective(config, read_base(config))
    callbacks: list[Callable[..., None]] = [] if quiet else [_announce]
    while budget_used(study) < config.budget.trials and (deadline is None or time.time() < deadline):
        grid = study.sampler if isinstance(study.sampler, optuna.samplers.GridSampler) else None
        if grid is not None and grid.is_exhausted(study) and not _waiting(study):
            break
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks)


def _waiting(study: optuna.Study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _worker_main(config: TuneConfig, worker: int, deadline: float | None, quiet: bool, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    work(config, worker, deadline=deadline, quiet=quiet)


def _start_method() -> str:
    """fork where it is safe: the workers inherit this process's imports (torch, plugins: seconds each)
    and nothing here has started CUDA or a thread pool yet; spawn elsewhere."""
    import torch

    if sys.platform.startswith("linux") and not torch.cuda.is_initialized() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def run_study(config: TuneConfig, *, quiet: bool = False) -> optuna.Study:
    """``trackpipe tune``: check the space, open (or resume) the study, recover killed trials, queue the
    baseline and the given points on a new study, run the workers, and return the study."""
    base = read_base(config)
    check_space(config, base)
    metric = config.objective.metric
    if config.kind == "train" and (metric.startswith("val_") or not config.objective.per_epoch):
        data = base.get("data")
        if not (isinstance(data, dict) and data.get("val")):
            raise ConfigError(f"objective {metric} needs validation events: set data.val in {config.train}")
    if config.kind == "train" and not config.objective.per_epoch:
        model = base.get("model")
        name = model.get("name") if isinstance(model, dict) else None
        if name not in EDGE_CLASSIFIER_MODELS:
            raise ConfigError(
                f"objective {metric}: tracks are built with the models {', '.join(EDGE_CLASSIFIER_MODELS)}; "
                f"{config.train} trains {name!r}"
            )
    config.output.mkdir(parents=True, exist_ok=True)
    study = open_study(config)
    recovered = recover_stale(study, config)
    if recovered and not quiet:
        print(f"trials {recovered} were killed; queued again to resume from their checkpoints", file=sys.stderr)
    if not study.get_trials(deepcopy=False):
        point = baseline_point(config, base) if config.baseline else None
        for values in ([point] if point else []) + list(config.enqueue):
            study.enqueue_trial(values, user_attrs={"enqueued": True})
    deadline = time.time() + config.budget.timeout_min * 60 if config.budget.timeout_min is not None else None
    if config.backend == "ray":
        from .ray_backend import run_ray

        run_ray(config, study, quiet=quiet)
        return study
    if config.workers == 1:
        work(config, 0, deadline=deadline, quiet=quiet)
        return study
    import multiprocessing

    context: Any = multiprocessing.get_context(_start_method())  # fork or spawn: both have Process
    threads = max(1, (os.cpu_count() or 1) // config.workers)
    processes = [
        context.Process(target=_worker_main, args=(config, i, deadline, quiet, threads), name=f"tune-worker-{i}")
        for i in range(config.workers)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"tuning workers {', '.join(failed)} exited with an error (see above)")
    return study
