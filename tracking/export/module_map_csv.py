"""The module map as CSV, for C++ consumers: written by ``trackpipe export``, read back here (Triton's
Python backend and the tests). Layout in ``docs/export.md``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_module_map_csv"]


def read_module_map_csv(path: str | os.PathLike[str], granularity: str = "module"):
    """A :class:`~tracking.modulemap.ModuleMap` from a CSV written by :func:`.exporter.write_module_map_csv`."""
    from ..io.module_keys import pack_keys
    from ..modulemap import ModuleMap
    from ..ops import CUT_VARIABLES

    path = Path(path)
    with open(path) as f:
        header = f.readline().strip().split(",")
    expected = [f"{end}_{k}" for end in ("src", "dst") for k in ("volume", "layer", "module")]
    expected += [f"{v}_{b}" for v in CUT_VARIABLES for b in ("min", "max")]
    if header != expected:
        raise DataError(f"module map CSV header {header} differs from {expected}", file=str(path))
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    ids = data[:, :6].astype(np.int64)
    src_key, dst_key = pack_keys(*ids[:, :3].T), pack_keys(*ids[:, 3:6].T)
    keys = np.unique(np.concatenate([src_key, dst_key]))
    cuts = data[:, 6:].astype(np.float32)
    return ModuleMap(
        granularity=granularity,
        group_key=keys,
        src=np.searchsorted(keys, src_key).astype(np.int32),
        dst=np.searchsorted(keys, dst_key).astype(np.int32),
        cut_min=np.ascontiguousarray(cuts[:, 0::2]),
        cut_max=np.ascontiguousarray(cuts[:, 1::2]),
        n_segments=np.zeros(len(ids), np.int64),
        source=str(path),
    )
