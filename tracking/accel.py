"""Optional accelerators, probed once: CUDA (in our build and in torch) and torch-scatter.

Every other module asks here instead of probing for itself.
"""

from __future__ import annotations

import functools
import importlib.util

from ._native import core

CUDA_COMPILED: bool = bool(core.cuda_compiled())
OPENMP_COMPILED: bool = bool(core.openmp_compiled())
TORCH_SCATTER: bool = importlib.util.find_spec("torch_scatter") is not None


@functools.cache
def cuda_device_count() -> int:
    """GPUs that both our kernels and torch can use (0 when either lacks CUDA)."""
    import torch

    if not CUDA_COMPILED or not torch.cuda.is_available():
        return 0
    return min(int(core.cuda_device_count()), torch.cuda.device_count())


def cuda_available() -> bool:
    return cuda_device_count() > 0


def require_torch_scatter():
    """Import torch_scatter or raise with the command that installs it."""
    if not TORCH_SCATTER:
        raise ImportError(
            "torch-scatter is not installed; it is optional. Install it after torch with "
            "`pip install --no-build-isolation torch-scatter` (compiles from source, ~5 min)."
        )
    import torch_scatter

    return torch_scatter
