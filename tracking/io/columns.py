"""Lossless conversion of the columns that readers get from files (ROOT branches, CSV columns).

One rule for every reader: an integer field accepts any integer or floating column whose values
convert losslessly (``2`` and ``2.0`` are fine; ``2.5``, NaN or a value beyond the target range are
not); a float field accepts integers or floats and is stored as float32, and a finite value beyond
float32's range is an error, never a silent infinity. Hit coordinates must also be finite and within
:data:`COORDINATE_LIMIT_MM` (:func:`coordinate_column`), and event numbers must fit the uint32
``event_nr`` of ACTS files and of trackpipe's output (:func:`check_event_number`). A failure is a
:class:`ColumnError` with the first offending row, which each reader turns into a ``DataError`` naming
its file, tree/column and event.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "COORDINATE_LIMIT_MM",
    "EVENT_NUMBER_MAX",
    "ColumnError",
    "check_event_number",
    "coordinate_column",
    "float_column",
    "integer_column",
    "particle_id_column",
]

# No tracker is a kilometre across: a hit coordinate beyond this is a unit mix-up or corrupt data, and
# refusing it here keeps the derived r, eta and the graph features (squares and products of
# coordinates, in float32) finite instead of failing deep in a stage with neither file nor event named.
COORDINATE_LIMIT_MM = 1e6
# ACTS writes event_nr as uint32, and so does trackpipe's tracks output.
EVENT_NUMBER_MAX = 2**32 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)


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
            raise ColumnError(f"value {arr[i].item()!r} (dtype {arr.dtype}) is not an integer, expected {target}", i)
    elif arr.dtype.kind not in "iu":
        raise ColumnError(f"dtype {arr.dtype} where integers ({target}) are expected")
    if arr.size:
        info = np.iinfo(target)
        # float64 holds every int32 exactly, and python ints compare exactly with any numpy integer.
        out_of_range = (arr < info.min) | (arr > info.max)
        if out_of_range.any():
            i = int(np.argmax(out_of_range))
            raise ColumnError(f"value {arr[i].item()} does not fit in {target}", i)
    return arr.astype(target)


def float_column(values: Any, *, finite: bool = False, limit: float | None = None) -> np.ndarray:
    """``values`` (integer or float) as float32.

    A finite value that float32 cannot hold is a :class:`ColumnError` (it would become inf); with
    ``finite``, NaN or inf is one too; with ``limit``, so is a value whose magnitude exceeds it.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise ColumnError(f"dtype {arr.dtype} where numbers are expected")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    if arr.size == 0:
        return out
    if arr.dtype.kind == "f":
        source_finite = np.isfinite(arr)
        overflow = source_finite & ~np.isfinite(out)
        if overflow.any():
            i = int(np.argmax(overflow))
            raise ColumnError(f"value {arr[i].item()!r} is beyond the float32 range (+-{_FLOAT32_MAX:.3g})", i)
        if finite and not source_finite.all():
            i = int(np.argmax(~source_finite))
            raise ColumnError(f"non-finite value {arr[i].item()!r}", i)
    if limit is not None:
        with np.errstate(invalid="ignore"):
            beyond = np.abs(out) > limit  # NaN compares False: only reached without ``finite``
        if beyond.any():
            i = int(np.argmax(beyond))
            raise ColumnError(f"value {arr[i].item()!r} is beyond +-{limit:g}", i)
    return out


def coordinate_column(values: Any) -> np.ndarray:
    """Hit coordinates (mm) as float32: finite and within +-:data:`COORDINATE_LIMIT_MM`, else :class:`ColumnError`."""
    try:
        return float_column(values, finite=True, limit=COORDINATE_LIMIT_MM)
    except ColumnError as err:
        if "beyond +-" in str(err):
            raise ColumnError(
                f"{err} mm, the bound on hit coordinates (no detector is a kilometre across: a unit mix-up or "
                "corrupt data)",
                err.index,
            ) from None
        raise


def check_event_number(value: int) -> int:
    """``value`` when it is a valid event number (0 .. 2**32 - 1), else :class:`ColumnError`."""
    if value < 0:
        raise ColumnError(f"event number {value} is negative; event numbers are 0 .. {EVENT_NUMBER_MAX}")
    if value > EVENT_NUMBER_MAX:
        raise ColumnError(
            f"event number {value} does not fit the uint32 event_nr of ACTS files and trackpipe's output "
            f"(0 .. {EVENT_NUMBER_MAX})"
        )
    return int(value)


def particle_id_column(values: Any) -> np.ndarray:
    """Particle ids (int64 or uint64 bit patterns, or lossless floats) as int64."""
    arr = np.asarray(values)
    if arr.dtype == np.uint64:
        return arr.view(np.int64)  # ACTS packs barcodes in all 64 bits; keep the bit pattern
    return integer_column(arr, np.int64)
