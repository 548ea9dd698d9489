"""Deterministic multi-key ordering on torch tensors, so CUDA paths return the CPU kernels' edge order."""

from __future__ import annotations

import torch

__all__ = ["stable_order"]


def stable_order(*keys: torch.Tensor) -> torch.Tensor:
    """Permutation sorting by keys[0], then keys[1], ... (last key least significant), ties by index."""
    order = torch.arange(len(keys[0]), device=keys[0].device)
    for key in reversed(keys):
        order = order[torch.sort(key[order], stable=True).indices]
    return order
