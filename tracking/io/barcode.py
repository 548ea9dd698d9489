"""ACTS particle barcodes <-> the int64 ``particle_id`` of :class:`tracking.Event`.

ACTS v44+ writes a barcode as five branches (vertex_primary, vertex_secondary, particle, generation,
sub_particle); older files write one 64-bit ``particle_id`` with the same fields packed as ACTS'
``Barcode`` does: 12 | 12 | 16 | 12 | 12 bits from the top. 0 means noise (no particle).
"""

from __future__ import annotations

import numpy as np

# (name, shift, bits), most significant first, as in ACTS Core/include/Acts/EventData/.../Barcode.
FIELDS: tuple[tuple[str, int, int], ...] = (
    ("vertex_primary", 52, 12),
    ("vertex_secondary", 40, 12),
    ("particle", 24, 16),
    ("generation", 12, 12),
    ("sub_particle", 0, 12),
)
# the field names in that order: the branch names ACTS writes (measurements prefix them with ``particles_``)
FIELD_NAMES: tuple[str, ...] = tuple(name for name, _, _ in FIELDS)


def encode_barcode(vertex_primary, vertex_secondary, particle, generation, sub_particle) -> np.ndarray:
    """Pack the five barcode fields (arrays or scalars) into int64 particle ids."""
    out = np.zeros(np.broadcast(vertex_primary, vertex_secondary, particle, generation, sub_particle).shape, np.uint64)
    for (name, shift, bits), value in zip(
        FIELDS, (vertex_primary, vertex_secondary, particle, generation, sub_particle)
    ):
        v = np.asarray(value, dtype=np.uint64)
        if np.any(v >> np.uint64(bits)):
            raise ValueError(f"barcode field {name} does not fit in {bits} bits (max {(1 << bits) - 1})")
        out |= v << np.uint64(shift)
    return out.view(np.int64)


def decode_barcode(particle_id) -> dict[str, np.ndarray]:
    """Unpack int64 particle ids into the five barcode fields (uint32 arrays)."""
    u = np.asarray(particle_id, dtype=np.int64).view(np.uint64)
    return {
        name: ((u >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.uint32) for name, shift, bits in FIELDS
    }
