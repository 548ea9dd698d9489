"""One int64 key per detector module: ``volume_id << 40 | layer_id << 20 | module_id``.

Each id gets 20 bits, so each must lie in [0, 2^20); keys sort by volume, then layer, then module, and
``key >> 20`` is the key of the module's layer. Readers use the keys to look modules up in a detector
table, module maps to name their groups (a layer group is a key with module 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FIELD_BITS", "FIELD_MAX", "layer_keys", "pack_keys", "unpack_keys"]

FIELD_BITS = 20
FIELD_MAX = 1 << FIELD_BITS


def pack_keys(volume: Any, layer: Any, module: Any) -> np.ndarray:
    """int64 keys of the (volume, layer, module) id triples; ValueError naming the id that does not fit."""
    v, l_, m = (np.asarray(a, dtype=np.int64) for a in (volume, layer, module))
    for name, a in (("volume_id", v), ("layer_id", l_), ("module_id", m)):
        if a.size and (a.min() < 0 or a.max() >= FIELD_MAX):
            raise ValueError(f"{name} must lie in [0, {FIELD_MAX}) to form a module key, got [{a.min()}, {a.max()}]")
    return (v << (2 * FIELD_BITS)) | (l_ << FIELD_BITS) | m


def unpack_keys(keys: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (volume_id, layer_id, module_id) int32 arrays of ``keys``."""
    keys = np.asarray(keys, dtype=np.int64)
    mask = FIELD_MAX - 1
    return (
        (keys >> (2 * FIELD_BITS)).astype(np.int32),
        ((keys >> FIELD_BITS) & mask).astype(np.int32),
        (keys & mask).astype(np.int32),
    )


def layer_keys(keys: Any) -> np.ndarray:
    """The key of each module's layer (volume << 20 | layer): module keys that differ only in module_id agree."""
    return np.asarray(keys, dtype=np.int64) >> FIELD_BITS
