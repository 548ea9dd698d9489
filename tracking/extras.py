"""Optional dependencies that belong to a pip extra, imported only by the code that needs them.

The base install stays light: ``import tracking``, ``trackpipe run`` and ``trackpipe --help`` never import
them. A missing one raises :class:`ImportError` with the command that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# import name -> (pip extra, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "numba": ("sim", "the event simulation (trackpipe simulate, demo, training on simulated events)"),
    "matplotlib": ("plots", "efficiency and benchmark plots"),
    "optuna": ("tune", "hyper-parameter search (trackpipe tune)"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRAS`) or raise ImportError saying which extra installs it."""
    extra, purpose = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{module} is needed for {purpose} but is not installed; install it with "
            f'`pip install "trackpipe[{extra}]"` (or `pip install ".[{extra}]"` from a source tree).',
            name=module,
        ) from err


__all__ = ["EXTRAS", "require"]
