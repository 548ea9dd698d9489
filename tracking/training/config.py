"""The training configuration of ``trackpipe train CONFIG``: a YAML file built into the dataclass tree
below by :func:`tracking.config.build`.

The dataclasses mirror the YAML section by section and are the one place that lists every key with
its default (``configs/README.md`` has worked examples)::

    seed: 0
    output: runs/gnn
    data:
      train: {simulate: {n: 64, mu: 200, seed: 1}}   # a simulation ...
      val:   {path: data/acts, first: 80, n: 10}     # ... or a reader input (ACTS dir/file, TrackML CSV dir)
    graph_builder: {graph_builder: module_map, map: builtin:module_map_default.npz}
    model: {name: interaction_gnn, hidden: 64, n_iterations: 8}
    schedule: {epochs: 20, kind: cosine}

Relative paths (``output``, ``data.*.path``, ``data.cache_dir``, stage config paths, ``.py`` entries of
``imports``) are relative to the YAML file's directory. Errors name the section and key
(``schedule: key 'epochs' must be >= 1``) with a did-you-mean for misspelled keys at every level.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from ..config import Range, Score, build, closest, load_yaml_mapping, resolve_path, to_plain
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..simulation import SimulationConfig

NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveInt = Annotated[int, Range(ge=1)]
NonNegative = Annotated[float, Range(ge=0)]


@dataclass
class SimulateConfig:
    """``simulate:`` events made on the fly by :func:`tracking.simulation.simulate_event`."""

    n: PositiveInt  # number of events (required)
    mu: NonNegative = 200.0  # pile-up
    seed: NonNegativeInt = 0
    first_event: NonNegativeInt = 0  # event numbers first_event, first_event + 1, ...
    detector: Literal["trackml", "tiled"] = "trackml"  # see `trackpipe simulate --help`
    # displaced particles per primary above 0.5 GeV (null: the detector's realistic fraction, 0.095 for
    # trackml); a larger one gives a learned stage more of these rare examples (`trackpipe simulate --secondaries`)
    secondary_fraction: NonNegative | None = None
    # hadronic interactions: the probability that a particle stops in a layer it crosses (0.01 gives real
    # TrackML's share of pT > 1 GeV particles with few hits; null: off; `trackpipe simulate --hadronic`)
    interaction_probability: Annotated[float, Range(ge=0, lt=1)] | None = None

    def simulation_config(self) -> SimulationConfig:
        """The :class:`tracking.simulation.SimulationConfig` these events are made with."""
        from ..simulation import SimulationConfig

        return SimulationConfig.for_detector(
            self.detector,
            secondary_fraction=self.secondary_fraction,
            interaction_probability=self.interaction_probability,
        )


@dataclass
class SourceConfig:
    """Where one split's events come from: ``simulate: {...}``, or ``path:`` a reader input (ACTS ROOT
    directory or file, TrackML CSV directory) with ``first`` / ``n`` selecting a range of its events."""

    simulate: SimulateConfig | None = None
    path: Path | None = None
    # skip this many events of ``path`` (default 0: lets train and val share a file)
    first: NonNegativeInt | None = None
    n: PositiveInt | None = None  # take at most this many events of ``path`` (default all)
    # the reader plugin for ``path`` (default: recognised from the files); one of `trackpipe plugins`,
    # such as a reader of your own format loaded through ``imports:``
    reader: str | None = None

    def __post_init__(self) -> None:
        if (self.simulate is None) == (self.path is None):
            raise ValueError("give exactly one of 'simulate: {n, mu, seed}' or 'path: DIR'")
        if self.simulate is not None and (self.first is not None or self.n is not None or self.reader is not None):
            raise ValueError("'first', 'n' and 'reader' apply to 'path'; use simulate.n / simulate.first_event")
        if self.path is not None and self.first is None:
            self.first = 0

    def describe(self) -> dict[str, Any]:
        """Plain-data identity of the source, part of the graph cache key."""
        if self.simulate is not None:
            from ..simulation.generator import SIMULATION_VERSION

            simulated = dict(sorted(dataclasses.asdict(self.simulate).items()))
            for optional in ("secondary_fraction", "interaction_probability"):
                if simulated[optional] is None:  # keyed only when set: existing caches stay valid
                    del simulated[optional]
            return {"simulate": simulated, "simulation_version": SIMULATION_VERSION}
        identity: dict[str, Any] = {"path": str(self.path), "first": self.first, "n": self.n}
        if self.reader is not None:  # keyed only when set, so that existing caches stay valid
            identity["reader"] = self.reader
        return identity


@dataclass
class DataConfig:
    """``data:`` the training and (optional) validation events and where their graphs are cached."""

    train: SourceConfig  # required; built from {} when missing, which names the key in its error
    val: SourceConfig | None = None
    # disk: CACHE_DIR/<split>-<key>/*.pt, built once (sharded over ranks) and reused by reruns;
    # memory: every rank builds and keeps all graphs in RAM
    cache: Literal["disk", "memory"] = "disk"
    cache_dir: Path | None = None  # default OUTPUT/cache; runs sharing it share graphs (keyed by content)


@dataclass
class ModelConfig:
    """``model:`` ``name``, a registered model plugin (``trackpipe plugins``), and the keyword arguments of
    its constructor as further keys (``hidden: 64``), checked against the constructor by the registry.
    The contract a trainable model follows is in :mod:`tracking.training.models`."""

    name: str = "interaction_gnn"
    hparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name.strip().lower().replace("-", "_")


@dataclass
class OptimizerConfig:
    name: Literal["adam", "adamw"] = "adamw"
    lr: NonNegative = 1e-3
    weight_decay: NonNegative = 1e-4


@dataclass
class ScheduleConfig:
    """``schedule:`` epochs and the learning-rate curve (:func:`tracking.training.loop.lr_factor`)."""

    epochs: PositiveInt = 20
    kind: Literal["constant", "step", "cosine"] = "cosine"
    warmup_epochs: NonNegative = 0.0  # linear warm-up from lr / 100, counted in (fractional) epochs
    step_size: PositiveInt = 10  # step: multiply by gamma every step_size epochs
    gamma: NonNegative = 0.5
    min_lr_factor: NonNegative = 0.01  # cosine: floor as a fraction of lr
    # > 1: the graph is cut into that many eta-phi partitions (exact k-hop halos) and each gets its own
    # optimiser step: more, cheaper updates per event (what a CPU needs), same loss function
    steps_per_event: PositiveInt = 1


@dataclass
class LossConfig:
    """``loss:`` class-weighted binary cross-entropy over the edges."""

    pos_weight: float | Literal["auto"] = "auto"  # auto: n_false / n_true of the training graphs
    # only segments of particles above this pT (GeV) are true edges (ACORN's target tracks): the model
    # learns to cut low-pT particles, whose fragments would otherwise become fake tracks
    target_pt_min: NonNegative | None = None
    # true edges of displaced particles (produced more than displaced_r_min mm from the beam line:
    # conversions, decays in flight) weigh displaced_weight in the loss. They are a few % of the true
    # edges, and a model that weighs all edges alike learns that tracks point to the beam line.
    displaced_weight: float = 1.0
    displaced_r_min: float = 1.0
    # true edges of particles that leave at most short_hits_max hits (stopped by a hadronic interaction,
    # leaving through the ends, produced in the outer layers) weigh short_weight (times displaced_weight
    # when both apply): a model that sees mostly long tracks learns that a track which ends is a fake
    short_weight: float = 1.0
    short_hits_max: int = 5
    # loss weight of the true segments of particles below target_pt_min (labelled false): 1 teaches the
    # model to cut low-pT particles; 0 ignores them, as ACORN's GNN weighting does (the model is then free to
    # keep a low-pT particle whole, which makes a real track instead of a fragment)
    non_target_weight: float = 1.0
    # the target those segments are trained towards (0: negatives). A small label (0.1: with pos_weight 2 the
    # loss is lowest at a score of 0.18) teaches the model that a soft particle's segments are no fakes while
    # keeping most of them under a walk's cut (round 11 of the shipped GNN: median 0.18, 11 % above 0.3)
    non_target_label: float = 0.0

    @property
    def marks_non_target(self) -> bool:
        """Whether the graphs must say which false edges are segments of particles below target_pt_min."""
        return self.non_target_weight != 1.0 or self.non_target_label != 0.0

    def __post_init__(self) -> None:
        if not self.displaced_weight > 0 or not self.displaced_r_min >= 0:
            raise ValueError(
                f"keys 'displaced_weight' (> 0) and 'displaced_r_min' (>= 0): got {self.displaced_weight!r}, "
                f"{self.displaced_r_min!r}"
            )
        if not self.non_target_weight >= 0:
            raise ValueError(f"key 'non_target_weight' must be >= 0, got {self.non_target_weight!r}")
        if not 0.0 <= self.non_target_label <= 1.0:
            raise ValueError(f"key 'non_target_label' must be in [0, 1], got {self.non_target_label!r}")
        if (self.non_target_weight != 1.0 or self.non_target_label != 0.0) and self.target_pt_min is None:
            raise ValueError(
                "keys 'non_target_weight' and 'non_target_label' treat the segments below target_pt_min: "
                "set target_pt_min"
            )
        if not self.short_weight > 0 or not (isinstance(self.short_hits_max, int) and self.short_hits_max >= 2):
            raise ValueError(
                f"keys 'short_weight' (> 0) and 'short_hits_max' (an integer >= 2): got {self.short_weight!r}, "
                f"{self.short_hits_max!r}"
            )
        if self.pos_weight != "auto" and not self.pos_weight > 0:
            raise ValueError(f"key 'pos_weight' must be 'auto' or a number > 0, got {self.pos_weight!r}")


@dataclass
class MemoryConfig:
    """``memory:`` budgets for graphs too large to train on whole (exact partitions with k-hop halos)."""

    max_edges: PositiveInt | None = None  # split a graph whose partitions would exceed this many edges
    max_bytes: PositiveInt | None = None  # or a byte budget, converted with an activation-size estimate
    checkpoint_iterations: bool = False  # recompute each message-passing iteration in backward
    bf16: bool = False  # torch.autocast(bfloat16) for forward passes


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass
class TrainConfig:
    """A validated training configuration: the top level of the YAML."""

    data: DataConfig
    graph_builder: dict[str, Any]  # a pipeline stage spec {graph_builder: NAME, ...}: the graphs trained on
    output: Path  # checkpoint.pt, model.pt, metrics.jsonl, summary.json, cache/
    seed: NonNegativeInt = 0  # model init, event order; same seed + same config -> same model (CPU)
    device: str = "auto"  # auto | cpu | cuda[:N]; under DDP each rank takes cuda:LOCAL_RANK
    imports: list[str] = field(default_factory=list)  # extra plugin modules (dotted names or .py paths)
    pre_filter: dict[str, Any] | None = None  # optional {edge_classifier: NAME, ...} applied after the builder
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    score_cut: Score = 0.5  # validation edge efficiency / purity at this score
    target_purity: Score = 0.9  # validation also reports the edge efficiency reachable at this purity
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    # a detector description YAML (tracking.detector) scaling the features; None = the built-in detector.
    # The trained model records it, and the edge-classifier stage reads it from there.
    detector: Path | None = None
    # start from these weights (a model.pt of the same model and size): fine-tuning a trained model on new
    # data, e.g. the shipped models on your detector's events
    init_from: Path | None = None
    # the YAML file's directory (not a key): stage specs resolve their paths against it
    base_dir: Path | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not _DEVICE.fullmatch(self.device.strip().lower()):
            raise ValueError(f"key 'device' must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        _check_stage_spec(self.graph_builder, "graph_builder", "graph_builder")
        if self.pre_filter is not None:
            _check_stage_spec(self.pre_filter, "pre_filter", "edge_classifier")

    def description(self):
        """The :class:`~tracking.detector.DetectorDescription` of key ``detector``."""
        from ..detector import description_from_config

        return description_from_config(self.detector, where="key 'detector'")

    def graph_key(self) -> str:
        """Hash of everything that determines the cached graphs (not the model or optimiser).

        A stage value naming an existing file (a module map, a filter checkpoint) enters as its
        resolved path, size and modification time, so replacing the file builds new graphs.
        """
        from ..nn.features import FEATURES_VERSION

        def identify(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    path = resolve_path(value, self.base_dir)
                    if path.is_file():
                        stat = path.stat()
                        return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
                except (OSError, ValueError):
                    pass
            return value

        identity = {
            "graph_builder": {k: identify(v) for k, v in self.graph_builder.items()},
            "pre_filter": {k: identify(v) for k, v in (self.pre_filter or {}).items()},
            "target_pt_min": self.loss.target_pt_min,
            "features": FEATURES_VERSION,
            "version": 1,
        }
        if self.detector is not None:  # keyed only when set, so that existing caches stay valid
            identity["detector"] = self.description().key()
        if self.loss.displaced_weight != 1.0:  # the graphs then carry which true edges are displaced
            identity["displaced_r_min"] = self.loss.displaced_r_min
        if self.loss.short_weight != 1.0:  # and which true edges belong to particles with few hits
            identity["short_hits_max"] = self.loss.short_hits_max
        if self.loss.marks_non_target:  # and which false edges are segments of low-pT particles
            identity["non_target"] = True
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_plain(self) -> dict[str, Any]:
        """The config as plain types (stored in checkpoints and summary.json)."""
        return to_plain(self)


def _check_stage_spec(spec: Mapping[str, Any], section: str, kind: str) -> None:
    """A stage spec names its plugin under ``kind``; the rest is checked when the stage is built."""
    if kind not in spec:
        hint = "".join(closest(str(key), [kind]) for key in spec)
        raise ValueError(f"{section}: expected a stage spec like '{{{kind}: NAME, ...}}', got keys {list(spec)}{hint}")


def import_modules(names: list[str]) -> None:
    """Import plugin modules named by dotted name or ``.py`` path (each once per process)."""
    for name in names:
        if not name.endswith(".py"):
            importlib.import_module(name)
            continue
        path = Path(name).resolve()
        module_name = "trackpipe_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if module_name in sys.modules:
            continue
        if not path.is_file():
            raise ConfigError(f"imports: file {path} not found")
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"imports: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[module_name]
            raise


def parse_config(raw: Any, *, base_dir: Path | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from the parsed YAML mapping; :class:`ConfigError` names the bad key.

    Imports the config's ``imports`` (plugin modules) so that the model section is checked against the
    registered model's constructor.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"training config: expected a mapping, got {type(raw).__name__} {raw!r}")
    values = dict(raw)
    model = values.get("model")
    if isinstance(model, Mapping):  # YAML: name + constructor arguments side by side
        hparams = {k: v for k, v in model.items() if k != "name"}
        values["model"] = {**({"name": model["name"]} if "name" in model else {}), "hparams": hparams}
    config = build(TrainConfig, values, base_dir=base_dir)
    config.base_dir = base_dir
    config.imports = [str(resolve_path(i, base_dir)) if i.endswith(".py") else i for i in config.imports]
    import_modules(config.imports)

    from .models import model_arguments

    model_arguments(config)  # the model exists, can be trained, and takes these arguments
    return config


def load_config(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training YAML; ``overrides`` (e.g. ``{"device": "cpu"}``) replace top-level
    keys, ``{"epochs": N}`` replaces ``schedule.epochs``. Errors name the file and the key."""
    path = Path(path)
    raw = load_yaml_mapping(path, "training config")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "epochs":
            schedule = raw.get("schedule")
            raw["schedule"] = {**(schedule if isinstance(schedule, Mapping) else {}), "epochs": value}
        else:
            raw[key] = value
    try:
        return parse_config(raw, base_dir=path.resolve().parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
