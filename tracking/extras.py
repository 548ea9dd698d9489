"""Optional dependencies that belong to a pip extra, imported only by the code that needs them.

The base install stays light: ``import tracking``, ``trackpipe run`` and ``trackpipe --help`` never import
them. A missing one raises :class:`ImportError` with the command that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import TrackpipeError


class MissingExtraError(TrackpipeError, ImportError):
    """An optional dependency is not installed; the message gives the command that installs it."""


# import name -> (pip extra, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "numba": ("sim", "the event simulation (trackpipe simulate, demo, training on simulated events)"),
    "matplotlib": ("plots", "efficiency and benchmark plots"),
    "pyarrow": ("parquet", "Parquet input and output (columnar reader, write_events, tracks.parquet)"),
    "ray": ("serve", "serving a pipeline over HTTP (trackpipe serve, trackpipe bench --only serve)"),
    "ray.serve": ("serve", "serving a pipeline over HTTP (trackpipe serve, trackpipe bench --only serve)"),
    "optuna": ("tune", "hyper-parameter search (trackpipe tune)"),
    # the serve extra brings Ray with Tune (ray[serve,tune]); Ray Tune trials search with Optuna too
    "ray.tune": ("serve,tune", "Ray Tune trials (trackpipe tune --backend ray)"),
    "onnx": ("export", "ONNX export and checks (trackpipe export --format onnx|triton)"),
    "onnxscript": ("export", "ONNX export with the dynamo exporter (trackpipe export --format onnx|triton)"),
    "onnxruntime": ("export", "the onnxruntime backend of the edge classifiers (backend: onnxruntime)"),
    "acts": ("acts", "ACTS simulation (trackpipe simulate --engine acts; the pyacts package)"),
    "acts.examples": ("acts", "ACTS simulation (trackpipe simulate --engine acts; the pyacts package)"),
    "acts.examples.hepmc3": ("acts", "ACTS simulation (trackpipe simulate --engine acts; the pyacts package)"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRAS`) or raise ImportError saying which extra installs it."""
    extra, purpose = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"{module} is needed for {purpose} but is not installed; install it with "
            f'`pip install "trackpipe[{extra}]"` (or `pip install ".[{extra}]"` from a source tree).',
            name=module,
        ) from err


__all__ = ["EXTRAS", "MissingExtraError", "require"]
