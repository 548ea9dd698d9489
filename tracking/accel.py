"""Optional accelerators, probed once: CUDA (in our build and in torch), torch-scatter and bfloat16
arithmetic.

Every other module asks here instead of probing for itself.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING

from ._native import core

if TYPE_CHECKING:
    import torch

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


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where that file does not exist)."""
    return _cpu_flags()


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_fast(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes in bfloat16 natively (then bf16 autocast pays): a CUDA GPU that
    supports it, or a CPU with AMX or AVX512-BF16 (elsewhere torch emulates bf16, measured 5x slower
    than float32 on an AVX2 EPYC)."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type != "cpu":
        return False
    if "AMX" in torch.backends.cpu.get_cpu_capability().upper():
        return True
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
