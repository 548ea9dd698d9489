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
import importlib.metadata
import inspect
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .config import build as build_config
from .config import closest as config_closest
from .errors import ConfigError, PluginError

KINDS: tuple[str, ...] = ("reader", "graph_builder", "edge_classifier", "track_builder", "writer", "model")
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
    def config_class(self) -> type[Any]:
        config: type[Any] = self.cls.Config  # type: ignore[attr-defined]  # checked by register()
        return config


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
    return config_closest(name, candidates)


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
        if k == "model" and "Config" not in vars(cls):
            _check_model(cls, name)
            cls.Config = config_from_signature(cls)  # type: ignore[attr-defined]
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
                    f"{existing.cls.__qualname__} ({existing.origin}) and by "
                    f"{cls.__module__}.{cls.__qualname__} ({origin})"
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
    """Instantiate plugin ``name`` with a config built from the mapping ``config``.

    Stages are constructed as ``cls(config)``; models (kind ``model``) as ``cls(**config)``, the
    keyword arguments of their constructor.
    """
    info = get(kind, name)
    label = where or f"{info.kind} {info.name!r}"
    cfg: Any = build_config(info.config_class, dict(config or {}), where=label)
    if info.kind == "model":
        try:
            return info.cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{label}: {err}") from err
    return info.cls(cfg)


def model_name(cls: type) -> str:
    """The registry name of a model class (``InteractionGNN`` -> ``interaction_gnn``)."""
    load_plugins()
    for info in _plugins["model"].values():
        if info.cls is cls:
            return info.name
    raise PluginError(
        f"model class {cls.__module__}.{cls.__qualname__} is not registered; decorate it with "
        "@tracking.registry.register('model', NAME)"
    )


def model_by_class_name(class_name: str) -> PluginInfo | None:
    """The registered model whose class is called ``class_name`` (checkpoints of format 1 store it)."""
    load_plugins()
    for info in _plugins["model"].values():
        if info.cls.__name__ == class_name:
            return info
    return None


def _check_model(cls: type, name: str) -> None:
    import torch

    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise PluginError(
            f"model plugin {name!r} ({getattr(cls, '__qualname__', cls)}) must be a torch.nn.Module subclass"
        )
    if not isinstance(getattr(cls, "hparams", None), property):
        raise PluginError(
            f"model plugin {name!r} ({cls.__qualname__}) needs a `hparams` property returning its constructor "
            "arguments as plain types, so that a checkpoint rebuilds it without pickled code"
        )


def config_from_signature(cls: type) -> type:
    """A config dataclass whose fields are the keyword arguments of ``cls.__init__`` (types from its
    annotations, defaults from its defaults): a model's defaults are written once, in its constructor."""
    init = vars(cls).get("__init__") or next(vars(k)["__init__"] for k in cls.__mro__ if "__init__" in vars(k))
    signature = inspect.signature(init)
    hints = typing.get_type_hints(init, include_extras=True)
    fields: list[tuple[str, Any, Any]] = []
    for param in list(signature.parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        tp = hints.get(param.name, Any)
        if param.default is inspect.Parameter.empty:
            fields.append((param.name, tp, dataclasses.field()))
        else:
            fields.append((param.name, tp, dataclasses.field(default=param.default)))
    fields.sort(key=lambda f: f[2].default is not dataclasses.MISSING)  # required ones first
    return dataclasses.make_dataclass(f"{cls.__name__}Config", fields)
