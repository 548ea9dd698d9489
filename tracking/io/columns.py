"""Lossless conversion of the columns that readers get from files (ROOT branches, CSV columns).

One rule for every reader: an integer field accepts any integer or floating column whose values
convert losslessly (``2`` and ``2.0`` are fine; ``2.5``, NaN or a value beyond the target range are
not); a float field accepts integers or floats and is stored as float32. A failure is a
:class:`ColumnError` with the first offending row, which each reader turns into a ``DataError`` naming
its file, tree/column and event.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ColumnError", "float_column", "integer_column", "particle_id_column"]


class ColumnError(ValueError):
    """A column cannot be converted; ``index`` is the first offending row (None when not per row)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def integer_column(values: Any, dtype: Any) -> np.ndarray:
    """``values`` as ``dtype`` when the conversion is lossless, else :class:`ColumnError`.

    Integers must fit the target range; floats must be finite and integral. Unsigned 64-bit values
    converted to int64 must fit too (particle ids are handled separately, see :func:`particle_id_column`).
    """
    target = np.dtype(dtype)
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.trunc(arr))
        if bad.any():
            i = int(np.argmax(bad))
            raise ColumnError(f"value {arr[i]!r} (dtype {arr.dtype}) is not an integer, expected {target}", i)
    elif arr.dtype.kind not in "iu":
        raise ColumnError(f"dtype {arr.dtype} where integers ({target}) are expected")
    if arr.size:
        info = np.iinfo(target)
        # float64 holds every int32 exactly, and python ints compare exactly with any numpy integer.
        out_of_range = (arr < info.min) | (arr > info.max)
        if out_of_range.any():
            i = int(np.argmax(out_of_range))
            raise ColumnError(f"value {arr[i]} does not fit in {target}", i)
    return arr.astype(target)


def float_column(values: Any, *, finite: bool = False) -> np.ndarray:
    """``values`` (integer or float) as float32; with ``finite``, NaN or inf is a :class:`ColumnError`."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise ColumnError(f"dtype {arr.dtype} where numbers are expected")
    out = arr.astype(np.float32)
    if finite:
        bad = ~np.isfinite(out)
        if bad.any():
            i = int(np.argmax(bad))
            raise ColumnError(f"non-finite value {arr[i]} (NaN/inf or beyond float32)", i)
    return out


def particle_id_column(values: Any) -> np.ndarray:
    """Particle ids (int64 or uint64 bit patterns, or lossless floats) as int64."""
    arr = np.asarray(values)
    if arr.dtype == np.uint64:
        return arr.view(np.int64)  # ACTS packs barcodes in all 64 bits; keep the bit pattern
    return integer_column(arr, np.int64)
