"""trackpipe: GNN track reconstruction for high-energy physics.

Hits -> graph (C++/CUDA graph building) -> edge scores (PyTorch GNN) -> tracks (C++/CUDA
track building). Every stage is a plugin; see :mod:`tracking.registry` and :mod:`tracking.pipeline`.
"""

from __future__ import annotations

from ._native import core as _core  # noqa: F401 - a failed native build fails at import, with its fix
from ._version import __version__
from .errors import ConfigError, DataError, PluginError, TrackpipeError
from .event import Event, Particles
from .pipeline import Pipeline, resolve_device
from .registry import register

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
