"""Validated Python entry points to the native kernels (``tracking._core``).

Wrappers check dtype, shape, contiguity, device and index ranges and raise ``ValueError`` naming the
argument; they allocate outputs on the input's device and hand raw pointers to the kernels.
"""

from __future__ import annotations

from .components import *  # noqa: F403
from .components import __all__ as _components_all
from .graph import *  # noqa: F403
from .graph import __all__ as _graph_all
from .triplets import triplet_best

__all__ = [*_graph_all, *_components_all, "triplet_best"]
