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

import dataclasses
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from . import registry
from .errors import ConfigError
from .event import Event

PIPELINE_KINDS = ("graph_builder", "edge_classifier", "track_builder")
BUILTIN_PREFIX = "builtin:"
RESOURCES_DIR = Path(__file__).parent / "resources"

Hook = Callable[[str, Event, float], None]


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
            why = "trackpipe was built without CUDA" if not accel.CUDA_COMPILED else "no CUDA device is visible to torch"
            raise ConfigError(f"device {spec!r} requested but {why}; use --device cpu or auto")
        if index >= n:
            raise ConfigError(f"device {spec!r} requested but only {n} CUDA device(s) are visible")
        return torch.device("cuda", index)
    raise ConfigError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N")


def resolve_path(value: str | os.PathLike, base_dir: Path | None) -> Path:
    """``builtin:NAME`` -> packaged file; a relative path -> relative to ``base_dir`` when given."""
    text = os.fspath(value)
    if text.startswith(BUILTIN_PREFIX):
        return RESOURCES_DIR / text[len(BUILTIN_PREFIX):]
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def _resolve_config_paths(config: Any, base_dir: Path | None) -> Any:
    """Path-typed config values (str -> Path already done by build_config) resolved against the YAML."""
    changes = {
        f.name: resolve_path(value, base_dir)
        for f in dataclasses.fields(config)
        if isinstance(value := getattr(config, f.name), Path)
    }
    return dataclasses.replace(config, **changes) if changes else config


def build_stage(spec: Mapping[str, Any], *, index: int, base_dir: Path | None = None) -> tuple[str, Any]:
    """One stage from its YAML mapping: exactly one ``<kind>: <name>`` key plus config keys."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"stage {index}: expected a mapping like '- graph_builder: module_map', got {spec!r}")
    kinds = [k for k in spec if registry.normalize_name(str(k)) in PIPELINE_KINDS]
    if len(kinds) != 1:
        raise ConfigError(
            f"stage {index}: needs exactly one of {', '.join(PIPELINE_KINDS)} naming the plugin, got keys {list(spec)}"
        )
    kind_key = kinds[0]
    kind, name = registry.normalize_name(kind_key), spec[kind_key]
    if not isinstance(name, str):
        raise ConfigError(f"stage {index}: {kind} must name a plugin, got {name!r}")
    info = registry.get(kind, name)
    label = f"stage {index} ({kind} {info.name!r})"
    values = {k: v for k, v in spec.items() if k != kind_key}
    config = registry.build_config(info.config_class, values, where=label)
    config = _resolve_config_paths(config, base_dir)
    return f"{kind}:{info.name}", info.cls(config)


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
        if not isinstance(config, Mapping):
            raise ConfigError(f"pipeline config must be a mapping with 'stages', got {type(config).__name__}")
        unknown = set(config) - {"device", "stages"}
        if unknown:
            raise ConfigError(f"pipeline: unknown key(s) {sorted(unknown)}; valid keys: device, stages")
        stages_spec = config.get("stages")
        if not isinstance(stages_spec, list) or not stages_spec:
            raise ConfigError("pipeline: 'stages' must be a non-empty list")
        built = [build_stage(spec, index=i, base_dir=base_dir) for i, spec in enumerate(stages_spec)]
        return cls(
            [stage for _, stage in built],
            device=device or config.get("device", "auto"),
            labels=[label for label, _ in built],
        )

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, *, device: str | None = None) -> Pipeline:
        path = resolve_path(path, None)
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

    # -- running -----------------------------------------------------------------------------------
    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def __call__(self, event: Event) -> Event:
        event = event.to(self.device)
        sync = self.device.type == "cuda"
        for label, stage in zip(self.labels, self.stages):
            start = time.perf_counter()
            try:
                event = stage(event)
            except Exception as err:
                err.add_note(f"in pipeline stage {label}, event {event.event_id}")
                raise
            if sync:
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - start
            self.timings[label].append(seconds)
            for hook in self.hooks:
                hook(label, event, seconds)
        return event

    def mean_timings(self) -> dict[str, float]:
        """Mean wall time per event of each stage, in seconds (stages not yet run are omitted)."""
        return {label: sum(t) / len(t) for label, t in self.timings.items() if t}

    def __repr__(self) -> str:
        return f"Pipeline(device={self.device}, stages=[{', '.join(self.labels)}])"
