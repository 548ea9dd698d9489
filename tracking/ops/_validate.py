"""Argument checks shared by the ``tracking.ops`` wrappers: the one place their messages are written.

Every check raises ``ValueError`` whose message starts with the argument's name (``"scores: expected
dtype float32, got float64"``), so that a caller sees which input is wrong without reading the kernel.
The native kernels never validate; these checks are what stands between them and bad input.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from ..arrays import dtype_name

Array = Any  # np.ndarray or torch.Tensor: the checks branch on the kind at run time

__all__ = [
    "all_finite",
    "check_array",
    "check_edge_index",
    "check_per_edge",
    "contiguous",
    "has_nan",
    "integer",
    "kind",
    "real",
    "same_place",
]


def kind(name: str, value: Any) -> str:
    """``"numpy"``, ``"torch"`` (CPU tensor) or ``"cuda"``; anything else is an error naming ``name``."""
    if isinstance(value, torch.Tensor):
        return "cuda" if value.is_cuda else "torch"
    if isinstance(value, np.ndarray):
        return "numpy"
    raise ValueError(f"{name}: expected a numpy array or a torch tensor, got {type(value).__name__}")


def check_array(name: str, value: Any, *, ndim: int | None = None, dtypes: tuple[str, ...] | None = None) -> None:
    """``value`` is an array of ``ndim`` dimensions with one of ``dtypes`` (numpy spelling)."""
    kind(name, value)
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-d, got shape {tuple(value.shape)}")
    if dtypes is not None and dtype_name(value) not in dtypes:
        raise ValueError(f"{name}: expected dtype {' or '.join(dtypes)}, got {dtype_name(value)}")


def _where(value: Array) -> str:
    return f"torch on {value.device}" if isinstance(value, torch.Tensor) else "numpy"


def same_place(arrays: dict[str, Any]) -> torch.device | None:
    """The common torch device of ``arrays`` (None when all are numpy). Each must be an array; mixing
    numpy and torch, or two devices, is an error naming the argument that differs and the first one."""
    for name, value in arrays.items():
        kind(name, value)
    (first_name, first), *rest = arrays.items()
    first_device = first.device if isinstance(first, torch.Tensor) else None
    for name, value in rest:
        device = value.device if isinstance(value, torch.Tensor) else None
        if device != first_device:
            raise ValueError(f"{name} is {_where(value)} but {first_name} is {_where(first)}; pass all inputs alike")
    return first_device


def integer(name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as an int; bools and non-integers are errors, like values below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def real(name: str, value: Any, *, minimum: float | None = None, finite: bool = False) -> float:
    """``value`` as a float; bools, NaN, values below ``minimum`` and (with ``finite``) infinities are errors."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and not math.isnan(float(value))
    ok = ok and (not finite or math.isfinite(float(value))) and (minimum is None or float(value) >= minimum)
    if not ok:
        what = "a finite real number" if finite else "a real number"
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise ValueError(f"{name}: expected {what}{bound}, got {value!r}")
    return float(value)


def all_finite(value: Array) -> bool:
    return bool(torch.isfinite(value).all()) if isinstance(value, torch.Tensor) else bool(np.isfinite(value).all())


def has_nan(value: Array) -> bool:
    return bool(value.isnan().any()) if isinstance(value, torch.Tensor) else bool(np.isnan(value).any())


def contiguous(value: Array) -> Array:
    return value.contiguous() if isinstance(value, torch.Tensor) else np.ascontiguousarray(value)


def check_edge_index(edge_index: Any, num_nodes: int) -> Array:
    """int64 ``[2, E]`` with every index in ``[0, num_nodes)``; returned contiguous."""
    check_array("edge_index", edge_index)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index: expected shape [2, E], got {tuple(edge_index.shape)}")
    check_array("edge_index", edge_index, dtypes=("int64",))
    if edge_index.shape[1] > 0:
        # One pass: seen as unsigned, a negative index is huge, so a single max catches both ends.
        if isinstance(edge_index, torch.Tensor):
            low_t, high_t = torch.aminmax(edge_index)
            in_range = int(low_t) >= 0 and int(high_t) < num_nodes
        else:
            in_range = int(edge_index.view(np.uint64).max()) < num_nodes
        if not in_range:
            low, high = int(edge_index.min()), int(edge_index.max())
            raise ValueError(
                f"edge_index: node indices must lie in [0, num_nodes={num_nodes}), found range [{low}, {high}]"
            )
    return contiguous(edge_index)


def check_per_edge(name: str, value: Any, edge_index: Array, dtypes: tuple[str, ...] | None = None) -> Array:
    """One value per edge of ``edge_index``, in the same place (numpy, or the same torch device); contiguous."""
    same_place({"edge_index": edge_index, name: value})
    if value.ndim != 1 or value.shape[0] != edge_index.shape[1]:
        raise ValueError(f"{name}: expected shape [{edge_index.shape[1]}] (one per edge), got {tuple(value.shape)}")
    check_array(name, value, dtypes=dtypes)
    return contiguous(value)
