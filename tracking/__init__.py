"""trackpipe: GNN track reconstruction for high-energy physics.

Hits -> graph (C++/CUDA graph building) -> edge scores (PyTorch GNN) -> tracks (C++/CUDA
track building). Every stage is a plugin; see :mod:`tracking.registry` and :mod:`tracking.pipeline`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._native import core as _core  # noqa: F401 - a failed native build fails at import, with its fix
from ._version import __version__
from .errors import ConfigError, DataError, PluginError, TrackpipeError

if TYPE_CHECKING:
    from .event import Event, Particles
    from .pipeline import Pipeline, resolve_device
    from .registry import register

# Exports that import torch are loaded on first use (PEP 562), so that `trackpipe --help` and
# `trackpipe info` start in a fraction of a second: name -> module that defines it.
_LAZY = {
    "Event": "event",
    "Particles": "event",
    "Pipeline": "pipeline",
    "resolve_device": "pipeline",
    "register": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ConfigError",
    "DataError",
    "Event",
    "Particles",
    "Pipeline",
    "PluginError",
    "TrackpipeError",
    "__version__",
    "register",
    "resolve_device",
]
