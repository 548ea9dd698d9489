"""The configuration of ``trackpipe tune TUNE.yaml``: a YAML file built into the dataclass tree below by
:func:`tracking.config.build`::

    train: configs/default_gnn.yaml          # the base training config (relative to this file)
    study: gnn                               # the study's name in the storage
    output: ../runs/tune-gnn                 # journal.log, trials/, best.yaml, summary.json, plots/
    space:                                   # dotted keys of the training config
      model.hidden: {int: [32, 128], log: true}
      optimizer.lr: {float: [1.0e-4, 1.0e-2], log: true}
      model.n_iterations: {choice: [4, 6, 8]}
    objective: {metric: val_auc}             # a per-epoch validation figure of the training
    budget: {trials: 20, timeout_min: 120}

Every key with its default is a field below; errors name the key (``space.model.hidden: give exactly
one of int, float, choice``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from ..config import Range, Score, build, load_yaml_mapping
from ..errors import ConfigError
from ..fit.config import CutSearch, MatchingConfig

Integer: TypeAlias = int
Number: TypeAlias = float
PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
Positive = Annotated[float, Range(gt=0)]

#: Figures of the training's per-epoch validation (:func:`tracking.training.loop.validate`) and whether
#: larger is better. Any other numeric key of the epoch rows may be named with an explicit direction.
METRICS: dict[str, Literal["maximize", "minimize"]] = {
    "val_auc": "maximize",
    "val_efficiency_at_purity": "maximize",
    "val_efficiency": "maximize",
    "val_purity": "maximize",
    "val_loss": "minimize",
    "track_efficiency": "maximize",
}
#: Objectives judged once, after training, by building tracks on the validation events (not per epoch):
#: the pruner sees ``objective.prune_on`` meanwhile.
TRACK_METRICS = ("track_efficiency",)


@dataclass
class Param:
    """One search dimension: ``{int: [LOW, HIGH]}``, ``{float: [LOW, HIGH]}`` (bounds included; ``log:
    true`` samples on a log scale, ``step`` makes a grid) or ``{choice: [A, B, ...]}``."""

    # the field names shadow the builtins inside the class body: annotate with the aliases
    int: tuple[Integer, Integer] | None = None
    float: tuple[Number, Number] | None = None
    choice: list[Any] | None = None
    log: bool = False
    step: Positive | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("int", "float", "choice") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of int: [LOW, HIGH], float: [LOW, HIGH], choice: [...]; got {given}")
        if self.choice is not None:
            if not self.choice:
                raise ValueError("choice: needs at least one value")
            if self.log or self.step is not None:
                raise ValueError("'log' and 'step' apply to int and float ranges, not to choice")
            return
        low, high = self.bounds
        if not low <= high:
            raise ValueError(f"range [{low}, {high}]: LOW must not exceed HIGH")
        if self.log and low <= 0:
            raise ValueError(f"log: true needs LOW > 0, got {low}")
        if self.log and self.step is not None:
            raise ValueError("'log' and 'step' cannot be combined")
        if self.int is not None and self.step is not None and not float(self.step).is_integer():
            raise ValueError(f"an int range needs an integer step, got {self.step}")

    @property
    def bounds(self) -> tuple[Number, Number]:
        pair = self.int if self.int is not None else self.float
        assert pair is not None
        return pair[0], pair[1]

    def values_for_check(self) -> list[Any]:
        """The values a validation of the space tries against the training config: ends and choices."""
        if self.choice is not None:
            return list(self.choice)
        low, high = self.bounds
        return [low, high] if self.int is None else [int(low), int(high)]

    def contains(self, value: Any) -> bool:
        if self.choice is not None:
            return value in self.choice
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        low, high = self.bounds
        return low <= value <= high and (self.int is None or float(value).is_integer())


@dataclass
class ObjectiveConfig:
    """``objective:`` what a trial's training is judged by."""

    metric: str = "val_auc"  # a per-epoch validation figure (METRICS) or another numeric key of the epoch rows
    direction: Literal["auto", "maximize", "minimize"] = "auto"  # auto: from METRICS
    purity: Score | None = None  # val_efficiency_at_purity: the purity (sets target_purity of every trial)
    epoch: Literal["last", "best"] = "last"  # the trial's value: its last epoch, or its best one
    # track_efficiency: the highest validation track efficiency at a fake rate <= max_fake over the cut
    # grid ``cuts`` (track builder, score cut, min_hits), matched by ``matching``: trackpipe fit's keys
    max_fake: Score = 0.03
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    cuts: CutSearch = field(default_factory=CutSearch)
    # the per-epoch figure the pruner sees; default: the metric itself, val_auc for track_efficiency
    prune_on: str | None = None

    def __post_init__(self) -> None:
        if self.prune_on is None:
            self.prune_on = "val_auc" if self.metric in TRACK_METRICS else self.metric
        elif self.metric not in TRACK_METRICS and self.prune_on != self.metric:
            raise ValueError(f"'prune_on' applies to the track objectives ({', '.join(TRACK_METRICS)})")
        if self.direction == "auto":
            if self.metric not in METRICS:
                raise ValueError(
                    f"metric {self.metric!r} is not one of {', '.join(METRICS)}; name a direction "
                    "(maximize or minimize) for another figure of the training's epoch rows"
                )
            self.direction = METRICS[self.metric]
        if self.purity is not None and self.metric != "val_efficiency_at_purity":
            raise ValueError("'purity' applies to metric: val_efficiency_at_purity")
        if self.metric in TRACK_METRICS and self.prune_on in METRICS and METRICS[self.prune_on] != self.direction:
            raise ValueError(f"prune_on {self.prune_on} is {METRICS[self.prune_on]}d, the objective {self.direction}d")

    @property
    def per_epoch(self) -> bool:
        """Whether the trial's value is one of its epoch rows' figures (else it is judged after training)."""
        return self.metric not in TRACK_METRICS


@dataclass
class SamplerConfig:
    """``sampler:`` how the next trial's parameters are chosen (Optuna samplers)."""

    kind: Literal["tpe", "random", "grid"] = "tpe"  # grid: every combination of choice-only spaces
    seed: NonNegativeInt | None = None  # the sampler's own seed (each worker adds its index)
    startup_trials: NonNegativeInt = 10  # tpe: random trials before the model of good/bad regions takes over


@dataclass
class PrunerConfig:
    """``pruner:`` stopping unpromising trials early from their per-epoch objective values."""

    kind: Literal["median", "hyperband", "none"] = "median"
    startup_trials: NonNegativeInt = 3  # median: no pruning before this many trials have finished
    warmup_epochs: NonNegativeInt = 1  # median: no pruning of a trial before this many of its epochs
    min_epochs: PositiveInt = 1  # hyperband: the smallest budget (epochs) of a bracket


@dataclass
class BudgetConfig:
    """``budget:`` when the study stops (whichever comes first; both count every worker together)."""

    trials: PositiveInt = 20  # finished trials (complete, pruned or failed) wanted in the study
    timeout_min: Positive | None = None  # no new trial starts after this many minutes (running ones finish)


@dataclass
class RayConfig:
    """``ray:`` the Ray Tune backend (``backend: ray`` or ``--backend ray``; the ``ray`` extra)."""

    address: str | None = None  # a Ray cluster to join (auto, ray://host:10001); None starts a local one
    cpus_per_trial: Positive = 1.0  # also the trial's torch threads (at least 1)
    gpus_per_trial: Annotated[float, Range(ge=0)] = 0.0  # fractions share a GPU between trials
    reduction_factor: Annotated[int, Range(ge=2)] = 3  # ASHA: a rung keeps the best 1/reduction_factor


@dataclass
class TuneConfig:
    """A validated tuning configuration: the top level of TUNE.yaml."""

    output: Path  # the study directory
    space: dict[str, Param]  # dotted key of the base config -> its search dimension
    train: Path | None = None  # the base training config (YAML of `trackpipe train`) ...
    fit: Path | None = None  # ... or the base fit config (FIT.yaml of `trackpipe fit`): exactly one of the two
    study: str = "study"
    storage: str | None = None  # default OUTPUT/journal.log; a journal file path or a database URL
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    workers: PositiveInt = 1  # processes on this machine (ray: trials at once) working on the study together
    nproc: PositiveInt = 1  # DDP processes per trial (optuna backend; as `trackpipe train --nproc`)
    backend: Literal["optuna", "ray"] = "optuna"  # ray: Ray Tune trials (OptunaSearch + ASHA) on a Ray cluster
    ray: RayConfig = field(default_factory=RayConfig)
    device: str | None = None  # overrides the training config's device in every trial
    baseline: bool = True  # the first trial runs the base config's own values (when inside the space)
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # further points to try before sampling
    trial_seed: Literal["base", "vary"] = "base"  # vary: trial N trains with seed base + N
    stale_after_min: Positive = 10.0  # a running trial silent this long (no heartbeat) is taken as killed
    base_dir: Path | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if (self.train is None) == (self.fit is None):
            raise ValueError("name the base config: exactly one of train: (a training config) or fit: (a fit config)")
        if self.fit is not None and self.objective.metric not in TRACK_METRICS:
            raise ValueError(
                f"a fit study is judged by the fit's validation tracks: objective.metric must be one of "
                f"{', '.join(TRACK_METRICS)}, not {self.objective.metric}"
            )
        if not self.space:
            raise ValueError("space: name at least one key of the training config to search")
        for key in self.space:
            if not key or any(not part for part in key.split(".")):
                raise ValueError(f"space: key {key!r} is not a dotted key like 'model.hidden'")
        for i, point in enumerate(self.enqueue):
            for key, value in point.items():
                if key not in self.space:
                    raise ValueError(f"enqueue[{i}]: {key!r} is not a key of space ({', '.join(self.space)})")
                if not self.space[key].contains(value):
                    raise ValueError(f"enqueue[{i}]: {key}={value!r} is outside its space")
        if self.nproc > 1 and self.backend == "ray":
            raise ValueError("nproc > 1 (DDP inside a trial) needs backend: optuna; a Ray trial trains in one actor")
        if self.sampler.kind == "grid":
            ranges = [key for key, param in self.space.items() if param.choice is None]
            if ranges:
                raise ValueError(f"sampler 'grid' needs choice-only spaces; {', '.join(ranges)} are ranges")

    @property
    def base(self) -> Path:
        """The base config's path (training or fit)."""
        base = self.train if self.train is not None else self.fit
        assert base is not None
        return base

    @property
    def kind(self) -> Literal["train", "fit"]:
        return "train" if self.train is not None else "fit"

    def storage_url(self) -> str:
        """The storage as given, or the journal file in the study directory."""
        return self.storage if self.storage is not None else str(self.output / "journal.log")


def load_tune_config(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> TuneConfig:
    """Read and validate TUNE.yaml. ``overrides`` replace keys (``trials`` and ``timeout_min`` go to
    ``budget``; None values are ignored). Errors name the file and the key."""
    path = Path(path)
    raw = load_yaml_mapping(path, "tuning config")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("trials", "timeout_min"):
            budget = raw.get("budget")
            raw["budget"] = {**(budget if isinstance(budget, dict) else {}), key: value}
        else:
            raw[key] = value
    base_dir = path.resolve().parent
    try:
        config = build(TuneConfig, raw, base_dir=base_dir)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
    config.base_dir = base_dir
    config.output = config.output.resolve()
    if config.train is not None:
        config.train = config.train.resolve()
    if config.fit is not None:
        config.fit = config.fit.resolve()
    if config.storage is not None and "://" not in config.storage:
        config.storage = str((base_dir / Path(config.storage).expanduser()).resolve())
    return config
