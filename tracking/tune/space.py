"""The search space against the training config: sampling a trial's values, writing them into the
training YAML by dotted key, and making that YAML stand on its own in another directory."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import BUILTIN_PREFIX, load_yaml_mapping
from ..errors import ConfigError
from .config import Param, TuneConfig


def read_base(config: TuneConfig) -> dict[str, Any]:
    """The base training (or fit) YAML as a mapping, its relative paths made absolute (trials live elsewhere)."""
    raw = load_yaml_mapping(config.base, f"{config.kind}: {config.kind} config")
    return rebase(raw, config.base.resolve().parent, fit=config.kind == "fit")


def _absolute(value: Any, base_dir: Path, *, must_exist: bool = False) -> Any:
    if not isinstance(value, str) or value.startswith(BUILTIN_PREFIX) or "://" in value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return value
    if must_exist and not (base_dir / path).exists():
        return value  # a stage value that merely looks like a name, not a file beside the config
    return str((base_dir / path).resolve())


def rebase(raw: Mapping[str, Any], base_dir: Path, *, fit: bool = False) -> dict[str, Any]:
    """A copy of a training (``fit``: a fit) YAML mapping whose relative paths (the keys that
    :mod:`tracking.training.config` and :mod:`tracking.fit.config` resolve against the file's
    directory) are absolute."""
    out = copy.deepcopy(dict(raw))
    for key in ("output", "detector"):
        if isinstance(out.get(key), str):
            out[key] = _absolute(out[key], base_dir)
    data = out if fit else out.get("data")  # a fit config has its sources at the top level
    if isinstance(data, dict):
        if "cache_dir" in data and not fit:
            data["cache_dir"] = _absolute(data["cache_dir"], base_dir)
        for split in ("train", "val"):
            source = data.get(split)
            if isinstance(source, dict) and "path" in source:
                source["path"] = _absolute(source["path"], base_dir)
    if isinstance(out.get("imports"), list):
        out["imports"] = [_absolute(i, base_dir) if str(i).endswith(".py") else i for i in out["imports"]]
    for section in ("graph_builder", "pre_filter"):
        spec = out.get(section)
        if isinstance(spec, dict):
            out[section] = {k: _absolute(v, base_dir, must_exist=True) for k, v in spec.items()}
    return out


def get_dotted(raw: Mapping[str, Any], key: str) -> Any:
    """The value at ``a.b.c`` of a nested mapping; KeyError when a part is missing."""
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested mapping, creating the sections that are missing."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"space: {key!r}: {'.'.join(parts[: i + 1])} is {child!r}, not a section")
        node = child
    node[parts[-1]] = value


def apply(raw: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the training mapping with ``{dotted key: value}`` written in."""
    out = copy.deepcopy(dict(raw))
    for key, value in values.items():
        set_dotted(out, key, value)
    return out


def suggest(trial: Any, space: Mapping[str, Param]) -> dict[str, Any]:
    """The trial's values, sampled by its study's sampler (an ``optuna.Trial``)."""
    values: dict[str, Any] = {}
    for key, param in space.items():
        if param.choice is not None:
            values[key] = trial.suggest_categorical(key, param.choice)
        elif param.int is not None:
            step = int(param.step) if param.step is not None else 1
            values[key] = trial.suggest_int(key, param.int[0], param.int[1], step=step, log=param.log)
        else:
            assert param.float is not None
            values[key] = trial.suggest_float(key, param.float[0], param.float[1], step=param.step, log=param.log)
    return values


def baseline_point(config: TuneConfig, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The base config's own values of the searched keys when all are set and inside the space (the
    trial that shows what the search gained), else None."""
    point = {}
    for key, param in config.space.items():
        try:
            value = get_dotted(raw, key)
        except KeyError:
            return None
        if not param.contains(value):
            return None
        point[key] = value
    return point


def check_space(config: TuneConfig, raw: Mapping[str, Any]) -> None:
    """Every searched key, at its ends and choices, gives a valid training config: a misspelt key or
    an impossible value fails here, naming it, rather than as a string of failed trials."""
    for key, param in config.space.items():
        for value in param.values_for_check():
            trial_raw = apply(raw, {key: value})
            try:
                parse_base(config, trial_raw)
            except ConfigError as err:
                raise ConfigError(f"space: {key} = {value!r} gives no valid {config.kind} config: {err}") from err


def parse_base(config: TuneConfig, raw: Mapping[str, Any]) -> Any:
    """``raw`` validated as the study's kind of base config (a TrainConfig or a FitConfig)."""
    from ..config import build

    base_dir = config.base.resolve().parent
    if config.kind == "fit":
        from ..fit.config import FitConfig

        return build(FitConfig, dict(raw), where="", base_dir=base_dir)
    from ..training.config import parse_config

    return parse_config(dict(raw), base_dir=base_dir)
