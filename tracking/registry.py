"""The plugin registry: every stage (reader, graph builder, edge classifier, track builder, writer)
is a registered class, first-party or third-party alike.

A plugin is a class with a nested ``Config`` dataclass, constructed as ``cls(config)``::

    from dataclasses import dataclass
    from tracking.registry import register

    @register("track_builder", "my_builder")
    class MyBuilder:
        '''One-line description shown by `trackpipe plugins`.'''

        @dataclass
        class Config:
            min_hits: int = 3

        def __init__(self, config: Config): ...
        def __call__(self, event): ...

Packages expose their plugin modules through the entry-point group ``trackpipe.plugins``; importing
the module registers its classes. A module that fails to import is recorded (see
:func:`failed_plugins`) without taking the others down.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import inspect
import pathlib
import threading
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import ConfigError, PluginError

KINDS: tuple[str, ...] = ("reader", "graph_builder", "edge_classifier", "track_builder", "writer")
ENTRY_POINT_GROUP = "trackpipe.plugins"

T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    cls: type
    origin: str  # distribution (package) that provides it, or the top-level module
    doc: str

    @property
    def config_class(self) -> type:
        return self.cls.Config


@dataclass(frozen=True)
class PluginFailure:
    entry_point: str  # "name = module" as declared
    origin: str
    error: str


_plugins: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KINDS}
_failures: list[PluginFailure] = []
_loaded = False
_lock = threading.RLock()
_loading_origin: str | None = None


def normalize_name(name: str) -> str:
    """Case-insensitive, with '-' and '_' equivalent: 'Module-Map' == 'module_map'."""
    return name.strip().lower().replace("-", "_")


def _closest(name: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _check_kind(kind: str) -> str:
    k = normalize_name(kind)
    if k not in _plugins:
        raise PluginError(f"unknown plugin kind {kind!r}; kinds are {', '.join(KINDS)}{_closest(k, list(KINDS))}")
    return k


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator that registers a plugin of ``kind`` under ``name``."""
    k = _check_kind(kind)
    n = normalize_name(name)
    if not n or not n.replace("_", "").isalnum():
        raise PluginError(f"invalid plugin name {name!r}: use letters, digits, '_' or '-'")

    def decorator(cls: T) -> T:
        config = getattr(cls, "Config", None)
        if config is None or not dataclasses.is_dataclass(config):
            raise PluginError(f"{kind} plugin {name!r} ({cls.__qualname__}) needs a nested `Config` dataclass")
        if not callable(cls):
            raise PluginError(f"{kind} plugin {name!r} is not callable")
        origin = _loading_origin or cls.__module__.split(".")[0]
        doc = inspect.getdoc(cls) or ""
        info = PluginInfo(k, n, cls, origin, doc.splitlines()[0] if doc else "")
        with _lock:
            existing = _plugins[k].get(n)
            if existing is not None and existing.cls is not cls:
                raise PluginError(
                    f"{kind} plugin {n!r} is registered twice: by {existing.cls.__module__}."
                    f"{existing.cls.__qualname__} ({existing.origin}) and by {cls.__module__}.{cls.__qualname__} ({origin})"
                )
            _plugins[k][n] = info
        cls.plugin_kind, cls.plugin_name = k, n  # type: ignore[attr-defined]
        return cls

    return decorator


def unregister(kind: str, name: str) -> None:
    """Remove a plugin (for tests and interactive redefinition)."""
    with _lock:
        _plugins[_check_kind(kind)].pop(normalize_name(name), None)


def load_plugins(*, reload: bool = False) -> None:
    """Import every module named in the ``trackpipe.plugins`` entry-point group (once)."""
    global _loaded, _loading_origin
    with _lock:
        if _loaded and not reload:
            return
        _loaded = True
        if reload:
            _failures.clear()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            origin = ep.dist.name if ep.dist is not None else ep.value.split(".")[0]
            _loading_origin = origin
            try:
                ep.load()
            except Exception as err:  # noqa: BLE001 - a broken plugin must not take the others down
                _failures.append(PluginFailure(f"{ep.name} = {ep.value}", origin, f"{type(err).__name__}: {err}"))
            finally:
                _loading_origin = None


def failed_plugins() -> list[PluginFailure]:
    load_plugins()
    return list(_failures)


def available(kind: str | None = None) -> list[PluginInfo]:
    """Registered plugins, sorted by kind then name."""
    load_plugins()
    kinds = KINDS if kind is None else (_check_kind(kind),)
    return [_plugins[k][n] for k in kinds for n in sorted(_plugins[k])]


def get(kind: str, name: str) -> PluginInfo:
    """The plugin ``name`` of ``kind``; an unknown name lists the known ones and the closest match."""
    load_plugins()
    k = _check_kind(kind)
    n = normalize_name(name)
    try:
        return _plugins[k][n]
    except KeyError:
        known = sorted(_plugins[k])
        hint = _closest(n, known)
        broken = [f.entry_point for f in _failures]
        extra = f" (plugin modules that failed to import: {', '.join(broken)})" if broken else ""
        raise PluginError(
            f"unknown {k} {name!r}; known: {', '.join(known) if known else '(none)'}{hint}{extra}"
        ) from None


def create(kind: str, name: str, config: Mapping[str, Any] | None = None, *, where: str | None = None) -> Any:
    """Instantiate plugin ``name`` with a config built from the mapping ``config``."""
    info = get(kind, name)
    label = where or f"{info.kind} {info.name!r}"
    cfg = build_config(info.config_class, dict(config or {}), where=label)
    return info.cls(cfg)


# -- config dataclasses from plain mappings (YAML) ---------------------------------------------------


def build_config(config_cls: type, values: Mapping[str, Any], *, where: str) -> Any:
    """``config_cls(**values)`` with unknown keys and wrong types reported as :class:`ConfigError`."""
    hints = typing.get_type_hints(config_cls)
    fieldmap = {f.name: f for f in dataclasses.fields(config_cls) if f.init}
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fieldmap:
            raise ConfigError(
                f"{where}: unknown config key {key!r}; valid keys: {', '.join(fieldmap) or '(none)'}"
                f"{_closest(str(key), list(fieldmap))}"
            )
        converted[key] = _coerce(value, hints.get(key, Any), f"{where}: key {key!r}")
    missing = [
        n for n, f in fieldmap.items()
        if n not in converted and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required config key(s): {', '.join(missing)}")
    try:
        return config_cls(**converted)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; allow the lossless YAML conversions."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(err)
        raise ConfigError(f"{where} expects {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where} expects one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} expects a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where} expects {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, where) for v, a in zip(value, args))
        item = args[0] if args else Any
        return origin(_coerce(v, item, where) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} expects a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} expects true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
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
        if isinstance(value, (str, pathlib.Path)):
            return pathlib.Path(value)
        raise ConfigError(f"{where} expects a path, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where} expects {_type_name(tp)}, got {value!r}")
    return value
