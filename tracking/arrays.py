"""Helpers for the two array kinds that flow through trackpipe, numpy arrays and torch tensors.

Every layer (event model, ops, io, metrics, nn) takes either kind; these are the one place that
converts between them, so a change (pinned memory, a new array kind) is made once.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import torch

__all__ = ["Array", "as_numpy", "cuda_stream", "dtype_name", "is_array", "is_torch", "search_sorted"]

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


def search_sorted(sorted_keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``values`` stands in the ascending ``sorted_keys``: ``(pos, found)``.

    ``pos`` (int64) is valid where ``found``; elsewhere it is a clipped position, never out of range
    (0 when ``sorted_keys`` is empty). The one exact-match search of sorted ids (events, hits, modules,
    particles) in trackpipe.
    """
    values = np.asarray(values)
    if len(sorted_keys) == 0:
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1).astype(np.int64, copy=False)
    return pos, sorted_keys[pos] == values
