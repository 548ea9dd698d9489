"""A pipeline: processing stages applied in order to each event, on one device, timed, with hooks.

Built from Python objects (``Pipeline([stage, ...])``) or from YAML (:meth:`Pipeline.from_yaml`)::

    device: auto            # auto | cpu | cuda[:N]
    stages:
      - graph_builder: module_map
        map: maps/default.npz
      - edge_classifier: interaction_gnn
        checkpoint: models/gnn.pt
        score_cut: 0.5
      - track_builder: connected_components
        min_hits: 3

Relative paths in stage configs are relative to the YAML file; ``builtin:NAME`` names a file shipped
inside the package (``tracking/resources/NAME``).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from . import registry
from .config import build, closest, resolve_path
from .errors import ConfigError
from .event import Event

PIPELINE_KINDS = ("graph_builder", "edge_classifier", "track_builder")

Hook = Callable[[str, Event, float], None]

# What a stage of each kind needs from the stages before it and what it leaves for those after it
# (a graph builder makes a new graph, so earlier scores are gone). A plugin that differs says so with
# class attributes ``needs`` / ``adds`` (the truth track builder needs no graph); inputs read from
# files (hits, truth) are the readers' business and not checked here.
STAGE_CONTRACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # kind: (needs, adds, clears)
    "graph_builder": ((), ("graph",), ("scores", "tracks")),
    "edge_classifier": (("graph",), ("scores",), ("tracks",)),
    "track_builder": (("graph", "scores"), ("tracks",), ()),
}
_PROVIDER = {"graph": "a graph_builder", "scores": "an edge_classifier", "tracks": "a track_builder"}


def check_stage_sequence(stages: Sequence[Any], labels: Sequence[str], inputs: Iterable[str] = ()) -> None:
    """ConfigError naming the first stage whose needs neither ``inputs`` (what the events carry) nor an
    earlier stage provides.

    ``stages`` are stage objects or their plugin classes. Stages that are not registered plugins
    (plain callables) are not checked, and may provide anything.
    """
    have: set[str] = set(inputs)
    for index, (stage, label) in enumerate(zip(stages, labels)):
        kind = getattr(stage, "plugin_kind", None)
        if kind not in STAGE_CONTRACTS:
            have = {"graph", "scores", "tracks"}  # unknown: assume it may provide anything
            continue
        needs, adds, clears = STAGE_CONTRACTS[kind]
        needs = tuple(getattr(stage, "needs", needs))
        adds = tuple(getattr(stage, "adds", adds))
        missing = [n for n in needs if n not in have]
        if missing:
            what = " and ".join(f"{n} (from {_PROVIDER.get(n, 'an earlier stage')})" for n in missing)
            raise ConfigError(f"stage {index} ({label}) needs {what} before it, and no earlier stage provides it")
        have = (have - set(clears)) | set(adds)


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> the first GPU if trackpipe and torch both have CUDA, else CPU; ``cuda[:N]`` checked."""
    from . import accel

    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if accel.cuda_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        index = 0
        if spec != "cuda":
            try:
                index = int(spec.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N") from None
        n = accel.cuda_device_count()
        if n == 0:
            why = (
                "trackpipe was built without CUDA" if not accel.CUDA_COMPILED else "no CUDA device is visible to torch"
            )
            raise ConfigError(f"device {spec!r} requested but {why}; use --device cpu or auto")
        if index >= n:
            raise ConfigError(f"device {spec!r} requested but only {n} CUDA device(s) are visible")
        return torch.device("cuda", index)
    raise ConfigError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N")


@dataclass
class PipelineConfig:
    """A pipeline file: ``device`` and the list of ``stages`` (each ``{<kind>: <plugin>, **config}``)."""

    stages: list[dict[str, Any]]
    device: str = "auto"  # auto | cpu | cuda[:N]
    # what the input events already carry besides hits: [graph] for events whose graph was built
    # elsewhere, so that a pipeline may start with an edge classifier
    inputs: list[Literal["graph", "scores"]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("'stages' must be a non-empty list")


def build_stage(spec: Mapping[str, Any], *, index: int | str, base_dir: Path | None = None) -> tuple[str, Any]:
    """One stage from its YAML mapping: exactly one ``<kind>: <name>`` key plus config keys.

    ``index`` labels the stage in errors (its position, or a section name such as ``pre_filter``).
    """
    where = f"stage {index}" if isinstance(index, int) else str(index)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping like '- graph_builder: module_map', got {spec!r}")
    kinds = [k for k in spec if registry.normalize_name(str(k)) in PIPELINE_KINDS]
    if len(kinds) != 1:
        hints = "".join(closest(registry.normalize_name(str(k)), PIPELINE_KINDS) for k in spec)
        raise ConfigError(
            f"{where}: needs exactly one of {', '.join(PIPELINE_KINDS)} naming the plugin, got keys {list(spec)}"
            f"{hints.split('?')[0] + '?' if hints else ''}"
        )
    kind_key = kinds[0]
    kind, name = registry.normalize_name(kind_key), spec[kind_key]
    if not isinstance(name, str):
        raise ConfigError(f"{where}: {kind} must name a plugin, got {name!r}")
    info = registry.get(kind, name)
    label = f"{where} ({kind} {info.name!r})"
    values = {k: v for k, v in spec.items() if k != kind_key}
    config: Any = build(info.config_class, values, where=label, base_dir=base_dir)
    return f"{kind}:{info.name}", info.cls(config)


def _stage_class(spec: Any) -> type | None:
    """The plugin class a stage mapping names, None when the mapping is malformed or names no plugin."""
    if not isinstance(spec, Mapping):
        return None
    kinds = [k for k in spec if registry.normalize_name(str(k)) in PIPELINE_KINDS]
    if len(kinds) != 1 or not isinstance(spec[kinds[0]], str):
        return None
    try:
        return registry.get(registry.normalize_name(kinds[0]), spec[kinds[0]]).cls
    except Exception:  # noqa: BLE001 - build_stage reports it with the stage's position
        return None


class Pipeline:
    """Processing stages applied in order; per-stage wall time; hooks called after every stage."""

    def __init__(
        self,
        stages: Sequence[Any],
        device: str | torch.device = "auto",
        *,
        labels: Sequence[str] | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        self.device = resolve_device(device)
        self.stages = [s.to(self.device) if hasattr(s, "to") else s for s in stages]
        if labels is None:
            labels = [
                f"{getattr(s, 'plugin_kind', 'stage')}:{getattr(s, 'plugin_name', type(s).__name__)}" for s in stages
            ]
        if len(labels) != len(self.stages):
            raise ValueError("labels must have one entry per stage")
        # Unique labels even when a plugin appears twice.
        seen: dict[str, int] = defaultdict(int)
        self.labels = []
        for label in labels:
            seen[label] += 1
            self.labels.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
        self.hooks: list[Hook] = list(hooks)
        self.timings: dict[str, list[float]] = {label: [] for label in self.labels}

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, base_dir: Path | None = None, device: str | None = None
    ) -> Pipeline:
        parsed = build(PipelineConfig, config, where="pipeline")
        classes = [_stage_class(spec) for spec in parsed.stages]
        if all(c is not None for c in classes):  # else build_stage reports the malformed stage
            # before any stage is built: building one may load a model for nothing
            labels = [f"{c.plugin_kind}:{c.plugin_name}" for c in classes]  # type: ignore[union-attr]
            check_stage_sequence(classes, labels, parsed.inputs)
        built = [build_stage(spec, index=i, base_dir=base_dir) for i, spec in enumerate(parsed.stages)]
        return cls(
            [stage for _, stage in built],
            device=device or parsed.device,
            labels=[label for label, _ in built],
        )

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, *, device: str | None = None) -> Pipeline:
        """The pipeline of a YAML file, or of a pipeline directory (``trackpipe fit`` output: its
        ``pipeline.yaml``)."""
        path = resolve_path(path, None)
        if path.is_dir():
            path = path / "pipeline.yaml"
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ConfigError(f"cannot read pipeline file {path}: {err.strerror or err}") from err
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"pipeline file {path} is not valid YAML: {err}") from err
        try:
            return cls.from_config(config, base_dir=Path(path).parent, device=device)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err

    def to(self, device: str | torch.device) -> Pipeline:
        """Move every stage to ``device`` (checked like the constructor's); returns self."""
        self.device = resolve_device(device)
        self.stages = [s.to(self.device) if hasattr(s, "to") else s for s in self.stages]
        return self

    # -- running -----------------------------------------------------------------------------------
    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def run_stage(self, position: int, event: Event) -> tuple[Event, float]:
        """Stage ``position`` on ``event``: ``(event, wall seconds)``, the device synchronised; an error
        carries a note naming the stage and the event. Not recorded in :attr:`timings`."""
        label, stage = self.labels[position], self.stages[position]
        start = time.perf_counter()
        try:
            event = stage(event)
        except Exception as err:
            err.add_note(f"in pipeline stage {label}, event {event.event_id}")
            raise
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return event, time.perf_counter() - start

    def __call__(self, event: Event) -> Event:
        event = event.to(self.device)
        for position, label in enumerate(self.labels):
            event, seconds = self.run_stage(position, event)
            self.timings[label].append(seconds)
            for hook in self.hooks:
                hook(label, event, seconds)
        return event

    def mean_timings(self) -> dict[str, float]:
        """Mean wall time per event of each stage, in seconds (stages not yet run are omitted)."""
        return {label: sum(t) / len(t) for label, t in self.timings.items() if t}

    def __repr__(self) -> str:
        return f"Pipeline(device={self.device}, stages=[{', '.join(self.labels)}])"
