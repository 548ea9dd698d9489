"""The training configuration of ``trackpipe train CONFIG``: a YAML file, validated into dataclasses.

Every key, with its default (``configs/README.md`` has worked examples)::

    seed: 0                       # model init, event order; same seed + same config -> same model (CPU)
    output: runs/gnn              # checkpoint.pt, model.pt, metrics.jsonl, summary.json, cache/
    device: auto                  # auto | cpu | cuda[:N]; under DDP each rank takes cuda:LOCAL_RANK
    imports: []                   # extra plugin modules (dotted names or .py paths) to import first

    data:
      train: {simulate: {n: 64, mu: 200, seed: 1}}         # a simulation spec ...
      val:   {path: data/acts, first: 80, n: 10}           # ... or a reader input (ACTS dir/file, TrackML CSV dir)
      cache: disk                 # disk: CACHE_DIR/*.pt, built once (sharded over ranks), reused by
                                  # reruns; memory: every rank builds and keeps all graphs in RAM
      cache_dir: null             # default OUTPUT/cache; runs sharing it share graphs (keyed by content)

    graph_builder:                # a pipeline stage spec: the graphs the model is trained on
      graph_builder: module_map
      map: builtin:default_map.npz
    pre_filter: null              # optional edge_classifier stage spec applied after the builder

    model:
      name: interaction_gnn       # interaction_gnn | edge_filter; other keys are constructor arguments
      hidden: 64
      n_iterations: 8

    optimizer: {name: adamw, lr: 1.0e-3, weight_decay: 1.0e-4}
    schedule:  {epochs: 20, kind: cosine, warmup_epochs: 1, step_size: 10, gamma: 0.5, min_lr_factor: 0.01,
                steps_per_event: 1}   # > 1: the graph is cut into that many eta-phi partitions (exact
                                      # k-hop halos) and each gets its own optimiser step: more, cheaper
                                      # updates per event (what a CPU needs), same loss function
    loss:      {pos_weight: auto} # auto (n_false / n_true of the training graphs), a number, or 1
               # target_pt_min: 0.9 -> only segments of particles above this pT (GeV) are true edges
               # (ACORN's target tracks): the model learns to cut low-pT particles, whose fragments
               # would otherwise become fake tracks
    score_cut: 0.5                # validation edge efficiency / purity at this score
    memory:
      max_edges: null             # split a training graph whose partitions would exceed this many edges
      max_bytes: null             # or a byte budget, converted with an activation-size estimate
      checkpoint_iterations: false  # recompute each message-passing iteration in backward
      bf16: false                 # torch.autocast(bfloat16) for forward passes
    debug: {crash_after_epoch: null}   # raise after saving that epoch (tests of restart/resume)

Relative paths (``output``, ``data.*.path``, stage config paths, ``imports``) are relative to the
YAML file's directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from ..errors import ConfigError

MODEL_NAMES = ("interaction_gnn", "edge_filter")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
CACHE_MODES = ("disk", "memory")


@dataclass
class SourceConfig:
    """Where one split's events come from: a simulation, or a reader input path."""

    simulate: dict[str, Any] | None = None  # {n, mu, seed, first_event}
    path: Path | None = None
    first: int = 0  # skip this many events of ``path`` (lets train and val share one file)
    n: int | None = None  # take at most this many events of ``path``

    def describe(self) -> dict[str, Any]:
        """Plain-data identity of the source, part of the graph cache key."""
        if self.simulate is not None:
            return {"simulate": dict(sorted(self.simulate.items()))}
        return {"path": str(self.path), "first": self.first, "n": self.n}


@dataclass
class DataConfig:
    train: SourceConfig
    val: SourceConfig | None = None
    cache: Literal["disk", "memory"] = "disk"
    cache_dir: Path | None = None


@dataclass
class ModelConfig:
    name: str = "interaction_gnn"
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4


@dataclass
class ScheduleConfig:
    epochs: int = 20
    kind: str = "cosine"
    warmup_epochs: float = 0.0  # linear warm-up from lr / 100, counted in (fractional) epochs
    step_size: int = 10  # step: multiply by gamma every step_size epochs
    gamma: float = 0.5
    min_lr_factor: float = 0.01  # cosine: floor as a fraction of lr
    steps_per_event: int = 1  # > 1: one optimiser step per eta-phi partition (halos keep it exact)


@dataclass
class MemoryConfig:
    max_edges: int | None = None
    max_bytes: int | None = None
    checkpoint_iterations: bool = False
    bf16: bool = False


@dataclass
class TrainConfig:
    """A validated training configuration (see the module docstring for the YAML keys)."""

    data: DataConfig
    graph_builder: dict[str, Any]
    output: Path
    seed: int = 0
    device: str = "auto"
    imports: list[str] = field(default_factory=list)
    pre_filter: dict[str, Any] | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    pos_weight: float | Literal["auto"] = "auto"
    target_pt_min: float | None = None
    score_cut: float = 0.5
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    crash_after_epoch: int | None = None
    base_dir: Path | None = None

    def graph_key(self) -> str:
        """Hash of everything that determines the cached graphs (not the model or optimiser).

        A stage value naming an existing file (a module map, a filter checkpoint) enters as its
        resolved path, size and modification time, so replacing the file builds new graphs.
        """
        from ..nn.features import FEATURES_VERSION
        from ..pipeline import resolve_path

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
            "target_pt_min": self.target_pt_min,
            "features": FEATURES_VERSION,
            "version": 1,
        }
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_plain(self) -> dict[str, Any]:
        """The config as plain types (stored in checkpoints and summary.json)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


_TOP_KEYS = {
    "seed", "output", "device", "imports", "data", "graph_builder", "pre_filter", "model", "optimizer",
    "schedule", "loss", "score_cut", "memory", "debug",
}


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def _only(values: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(sorted(allowed))}")


def _number(values: Mapping[str, Any], key: str, default: Any, where: str, kind: type = float, minimum: float | None = None):
    value = values.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ConfigError(f"{where}: key {key!r} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    value = kind(value)
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: key {key!r} must be >= {minimum}, got {value!r}")
    return value


def _bool(values: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = values.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: key {key!r} must be true or false, got {value!r}")
    return value


def _resolve(path: Any, base_dir: Path | None, where: str) -> Path:
    from ..pipeline import resolve_path

    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{where}: expected a path, got {path!r}")
    return resolve_path(path, base_dir)


def _source(value: Any, where: str, base_dir: Path | None) -> SourceConfig:
    values = _mapping(value, where)
    _only(values, {"simulate", "path", "first", "n"}, where)
    if ("simulate" in values) == ("path" in values):
        raise ConfigError(f"{where}: give exactly one of 'simulate: {{n, mu, seed}}' or 'path: DIR'")
    if "simulate" in values:
        sim = _mapping(values["simulate"], f"{where}.simulate")
        _only(sim, {"n", "mu", "seed", "first_event"}, f"{where}.simulate")
        if "n" not in sim:
            raise ConfigError(f"{where}.simulate: key 'n' (number of events) is required")
        spec = {
            "n": _number(sim, "n", None, f"{where}.simulate", int, 1),
            "mu": _number(sim, "mu", 200, f"{where}.simulate", float, 0),
            "seed": _number(sim, "seed", 0, f"{where}.simulate", int, 0),
            "first_event": _number(sim, "first_event", 0, f"{where}.simulate", int, 0),
        }
        if "first" in values or "n" in values:
            raise ConfigError(f"{where}: 'first' and 'n' apply to 'path'; use simulate.n / simulate.first_event")
        return SourceConfig(simulate=spec)
    return SourceConfig(
        path=_resolve(values["path"], base_dir, f"{where}.path"),
        first=_number(values, "first", 0, where, int, 0),
        n=_number(values, "n", None, where, int, 1),
    )


def _stage_spec(value: Any, where: str, kind: str) -> dict[str, Any]:
    spec = _mapping(value, where)
    if kind not in spec:
        raise ConfigError(f"{where}: expected a stage spec like '{{{kind}: NAME, ...}}', got keys {list(spec)}")
    return spec


def parse_config(raw: Any, *, base_dir: Path | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from the parsed YAML mapping; :class:`ConfigError` names the bad key."""
    top = _mapping(raw, "training config")
    _only(top, _TOP_KEYS, "training config")
    for key in ("data", "graph_builder", "output"):
        if key not in top:
            raise ConfigError(f"training config: key {key!r} is required")

    data = _mapping(top["data"], "data")
    _only(data, {"train", "val", "cache", "cache_dir"}, "data")
    if "train" not in data:
        raise ConfigError("data: key 'train' is required")
    cache = data.get("cache", "disk")
    if cache not in CACHE_MODES:
        raise ConfigError(f"data: key 'cache' must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    data_config = DataConfig(
        train=_source(data["train"], "data.train", base_dir),
        val=_source(data["val"], "data.val", base_dir) if data.get("val") is not None else None,
        cache=cache,
        cache_dir=_resolve(data["cache_dir"], base_dir, "data.cache_dir") if data.get("cache_dir") else None,
    )

    model = _mapping(top.get("model"), "model")
    name = str(model.pop("name", "interaction_gnn")).lower().replace("-", "_")
    if name not in MODEL_NAMES:
        raise ConfigError(f"model: key 'name' must be one of {', '.join(MODEL_NAMES)}, got {name!r}")

    opt = _mapping(top.get("optimizer"), "optimizer")
    _only(opt, {"name", "lr", "weight_decay"}, "optimizer")
    opt_name = str(opt.get("name", "adamw")).lower()
    if opt_name not in OPTIMIZERS:
        raise ConfigError(f"optimizer: key 'name' must be one of {', '.join(OPTIMIZERS)}, got {opt_name!r}")

    sched = _mapping(top.get("schedule"), "schedule")
    _only(sched, {"epochs", "kind", "warmup_epochs", "step_size", "gamma", "min_lr_factor", "steps_per_event"}, "schedule")
    kind = str(sched.get("kind", "cosine")).lower()
    if kind not in SCHEDULES:
        raise ConfigError(f"schedule: key 'kind' must be one of {', '.join(SCHEDULES)}, got {kind!r}")

    loss = _mapping(top.get("loss"), "loss")
    _only(loss, {"pos_weight", "target_pt_min"}, "loss")
    target_pt_min = loss.get("target_pt_min")
    if target_pt_min is not None:
        target_pt_min = _number(loss, "target_pt_min", None, "loss", float, 0)
    pos_weight = loss.get("pos_weight", "auto")
    if pos_weight != "auto":
        pos_weight = _number(loss, "pos_weight", None, "loss", float, 0)
        if pos_weight is None or pos_weight <= 0:
            raise ConfigError(f"loss: key 'pos_weight' must be 'auto' or a number > 0, got {loss['pos_weight']!r}")

    memory = _mapping(top.get("memory"), "memory")
    _only(memory, {"max_edges", "max_bytes", "checkpoint_iterations", "bf16"}, "memory")
    debug = _mapping(top.get("debug"), "debug")
    _only(debug, {"crash_after_epoch"}, "debug")

    score_cut = _number(top, "score_cut", 0.5, "training config", float, 0)
    if score_cut > 1:
        raise ConfigError(f"training config: key 'score_cut' must be in [0, 1], got {score_cut}")
    imports = top.get("imports") or []
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ConfigError(f"training config: key 'imports' must be a list of module names or .py paths, got {imports!r}")
    imports = [str(_resolve(i, base_dir, "imports")) if i.endswith(".py") else i for i in imports]
    device = top.get("device", "auto")
    if not isinstance(device, str):
        raise ConfigError(f"training config: key 'device' must be a string (auto, cpu, cuda[:N]), got {device!r}")

    return TrainConfig(
        data=data_config,
        graph_builder=_stage_spec(top["graph_builder"], "graph_builder", "graph_builder"),
        output=_resolve(top["output"], base_dir, "output"),
        seed=_number(top, "seed", 0, "training config", int, 0),
        device=device,
        imports=imports,
        pre_filter=_stage_spec(top["pre_filter"], "pre_filter", "edge_classifier") if top.get("pre_filter") else None,
        model=ModelConfig(name=name, hparams=model),
        optimizer=OptimizerConfig(
            name=opt_name,
            lr=_number(opt, "lr", 1e-3, "optimizer", float, 0),
            weight_decay=_number(opt, "weight_decay", 1e-4, "optimizer", float, 0),
        ),
        schedule=ScheduleConfig(
            epochs=_number(sched, "epochs", 20, "schedule", int, 1),
            kind=kind,
            warmup_epochs=_number(sched, "warmup_epochs", 0.0, "schedule", float, 0),
            step_size=_number(sched, "step_size", 10, "schedule", int, 1),
            gamma=_number(sched, "gamma", 0.5, "schedule", float, 0),
            min_lr_factor=_number(sched, "min_lr_factor", 0.01, "schedule", float, 0),
            steps_per_event=_number(sched, "steps_per_event", 1, "schedule", int, 1),
        ),
        pos_weight=pos_weight,
        target_pt_min=target_pt_min,
        score_cut=score_cut,
        memory=MemoryConfig(
            max_edges=_number(memory, "max_edges", None, "memory", int, 1),
            max_bytes=_number(memory, "max_bytes", None, "memory", int, 1),
            checkpoint_iterations=_bool(memory, "checkpoint_iterations", False, "memory"),
            bf16=_bool(memory, "bf16", False, "memory"),
        ),
        crash_after_epoch=_number(debug, "crash_after_epoch", None, "debug", int, 0),
        base_dir=base_dir,
    )


def load_config(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training YAML; ``overrides`` (e.g. ``{"device": "cpu"}``) replace top-level
    keys, ``{"epochs": N}`` replaces ``schedule.epochs``. Errors name the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"cannot read training config {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"training config {path} is not valid YAML: {err}") from err
    raw = _mapping(raw, f"training config {path}")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "epochs":
            raw["schedule"] = {**_mapping(raw.get("schedule"), "schedule"), "epochs": value}
        else:
            raw[key] = value
    try:
        return parse_config(raw, base_dir=path.resolve().parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
