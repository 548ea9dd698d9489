"""The one config mechanism: a tree of dataclasses, built from plain mappings (YAML) and validated.

Every configuration of trackpipe (pipeline files and their stages, plugins, models, training, and the
commands built on them) is a dataclass; :func:`build` turns a parsed YAML mapping into one. The
dataclass is the single source of truth: its field types say what is accepted, its defaults are the
defaults, and its docstring/comments the documentation. Supported annotations:

- ``int``, ``float`` (an int is accepted), ``bool``, ``str``, ``pathlib.Path``, ``Any``;
- ``Literal["a", "b"]``: one of the choices (matched case-insensitively, ``-`` = ``_``), with a
  did-you-mean for near misses;
- ``X | None``, ``float | Literal["auto"]`` and other unions: the first member that accepts the value;
- ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]``;
- a nested dataclass: a mapping validated recursively (``null`` or a missing key gives its default);
- ``Annotated[X, Range(ge=..., gt=..., le=..., lt=...)]``: bounds.

Errors are :class:`~tracking.errors.ConfigError` naming the path of the key (``schedule.epochs``,
``stage 1 (edge_classifier 'edge_filter')``), what was expected and what was given; an unknown key at
any level lists the valid ones and the closest match. Cross-field checks go in ``__post_init__``
(raise ``ValueError``; the message is prefixed with the section's path).

``Path`` fields are resolved by :func:`build` when a ``base_dir`` is given: relative paths against it
(the YAML file's directory) and ``builtin:NAME`` to a file shipped in ``tracking/resources``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import pathlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from .errors import ConfigError

__all__ = ["BUILTIN_PREFIX", "RESOURCES_DIR", "Range", "Score", "build", "closest", "resolve_path", "to_plain"]

BUILTIN_PREFIX = "builtin:"
RESOURCES_DIR = pathlib.Path(__file__).parent / "resources"

C = TypeVar("C")


@dataclass(frozen=True)
class Range:
    """Bounds of a number field: ``Annotated[int, Range(ge=1)]``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, value: float, where: str) -> None:
        for bound, ok, word in (
            (self.ge, lambda b: value >= b, ">="),
            (self.gt, lambda b: value > b, ">"),
            (self.le, lambda b: value <= b, "<="),
            (self.lt, lambda b: value < b, "<"),
        ):
            if bound is not None and not ok(bound):
                raise ConfigError(f"{where} must be {word} {bound:g}, got {value!r}")


#: A score or a cut on scores: a number in [0, 1].
Score = Annotated[float, Range(ge=0, le=1)]


def closest(name: str, candidates: typing.Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    match = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def resolve_path(value: str | os.PathLike[str], base_dir: pathlib.Path | None) -> pathlib.Path:
    """``builtin:NAME`` -> the packaged file; a relative path -> relative to ``base_dir`` when given."""
    text = os.fspath(value)
    if text.startswith(BUILTIN_PREFIX):
        return RESOURCES_DIR / text[len(BUILTIN_PREFIX) :]
    path = pathlib.Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def _key_where(where: str, key: str) -> str:
    return f"{where}: key {key!r}" if where else f"key {key!r}"


def _child(where: str, key: str) -> str:
    """Path of a nested section: ``data`` + ``train`` -> ``data.train``."""
    if not where or where.endswith(")") or " " in where:
        return f"{where}: {key}" if where else key
    return f"{where}.{key}"


def build(
    config_cls: type[C], values: Mapping[str, Any] | None, *, where: str = "", base_dir: pathlib.Path | None = None
) -> C:
    """``config_cls`` built from the mapping ``values`` (``None`` = all defaults), validated.

    ``where`` names the section in error messages; ``base_dir`` resolves ``Path`` fields.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or config_cls.__name__}: expected a mapping, got {type(values).__name__} {values!r}")
    hints = typing.get_type_hints(config_cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(config_cls) if f.init}  # type: ignore[arg-type]
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"{where + ': ' if where else ''}unknown key {key!r}; valid keys: {', '.join(fields) or '(none)'}"
                f"{closest(str(key), fields)}"
            )
        converted[key] = _coerce(value, hints.get(key, Any), _key_where(where, key), _child(where, key), base_dir)
    missing = [
        name
        for name, f in fields.items()
        if name not in converted and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for name in missing:
        if dataclasses.is_dataclass(_strip(hints.get(name))):
            converted[name] = _coerce({}, hints[name], _key_where(where, name), _child(where, name), base_dir)
    missing = [name for name in missing if name not in converted]
    if missing:
        raise ConfigError(f"{where + ': ' if where else ''}missing required key(s): {', '.join(missing)}")
    try:
        return config_cls(**converted)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where + ': ' if where else ''}{err}") from err


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _type_name(tp: Any) -> str:
    tp = _strip(tp)
    if typing.get_origin(tp) is typing.Literal:
        return " or ".join(map(repr, typing.get_args(tp)))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _norm(value: str) -> str:
    return value.strip().lower().replace("-", "_")


def _coerce(value: Any, tp: Any, where: str, section: str, base_dir: pathlib.Path | None) -> Any:
    """Check ``value`` against ``tp``, allowing the lossless YAML conversions; ``where`` names the key,
    ``section`` is the path used when ``tp`` is a nested dataclass."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        result = _coerce(value, args[0], where, section, base_dir)
        for meta in args[1:]:
            if isinstance(meta, Range) and isinstance(result, (int, float)) and not isinstance(result, bool):
                meta.check(result, where)
        return result
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        # a value that one member takes exactly wins (a string against float | Literal['auto'])
        errors: list[ConfigError] = []
        for arg in members:
            try:
                return _coerce(value, arg, where, section, base_dir)
            except ConfigError as err:
                errors.append(err)
        if len(members) == 1 or (dataclasses.is_dataclass(_strip(members[0])) and isinstance(value, Mapping)):
            raise errors[0]
        # a bound or a choice violated by a value of the right kind is the more useful message
        specific = [e for e in errors if " must be " in str(e) or "did you mean" in str(e)]
        if specific:
            raise specific[0]
        raise ConfigError(f"{where} expects {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if value is None:
            value = {}
        return build(tp, value, where=section, base_dir=base_dir)
    if origin is typing.Literal:
        if value in args:
            return value
        if isinstance(value, str):
            for choice in args:
                if isinstance(choice, str) and _norm(choice) == _norm(value):
                    return choice
        hint = closest(str(value), [str(a) for a in args]) if isinstance(value, str) else ""
        raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}{hint}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} expects a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where} expects {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]", section, base_dir) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return origin(_coerce(v, item, f"{where}[{i}]", f"{section}[{i}]", base_dir) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} expects a mapping, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, item, f"{where}[{k!r}]", _child(section, str(k)), base_dir) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} expects true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} expects an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} expects a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} expects a string, got {value!r}")
    if tp is pathlib.Path:
        if isinstance(value, (str, os.PathLike)):
            return resolve_path(value, base_dir) if base_dir is not None else pathlib.Path(value)
        raise ConfigError(f"{where} expects a path, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where} expects null, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where} expects {_type_name(tp)}, got {value!r}")
    return value


def load_yaml_mapping(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The mapping at the top of the YAML file ``path``; :class:`ConfigError` naming ``what`` ("training
    config", ...) and the file when it cannot be read, is not YAML or is not a mapping."""
    import yaml

    try:
        raw = yaml.safe_load(pathlib.Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {path} is not valid YAML: {err}") from err
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{what} {path}: expected a mapping, got {type(raw).__name__} {raw!r}")
    return dict(raw)


def to_plain(config: Any) -> Any:
    """A config dataclass (tree) as plain YAML/JSON types: paths become strings."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_plain(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_plain(v) for v in config]
    if isinstance(config, os.PathLike):
        return os.fspath(config)
    return config
