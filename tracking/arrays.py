"""Helpers for the two array kinds that flow through trackpipe, numpy arrays and torch tensors.

Every layer (event model, ops, io, metrics, nn) takes either kind; these are the one place that
converts between them, so a change (pinned memory, a new array kind) is made once.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import torch

__all__ = ["Array", "as_numpy", "cuda_stream", "dtype_name", "is_array", "is_torch"]

Array: TypeAlias = np.ndarray | torch.Tensor


def is_torch(value: Any) -> bool:
    return isinstance(value, torch.Tensor)


def is_array(value: Any) -> bool:
    """A numpy array or a torch tensor."""
    return isinstance(value, (np.ndarray, torch.Tensor))


def as_numpy(value: Any) -> np.ndarray:
    """``value`` as a numpy array on the host: tensors are detached and copied off their device
    (a CPU tensor shares memory), anything else goes through ``np.asarray``."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def dtype_name(value: Array) -> str:
    """The dtype of a numpy array or tensor as numpy spells it: ``'int64'``, ``'float32'``."""
    return str(value.dtype).removeprefix("torch.")


def cuda_stream(device: torch.device) -> int:
    """The raw handle of torch's current CUDA stream on ``device``, for the native kernels."""
    return int(torch.cuda.current_stream(device).cuda_stream)
