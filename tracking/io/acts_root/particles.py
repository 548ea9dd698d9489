"""The particle table of one event from the ``particles`` tree (one entry per event, vector branches).

``pt, eta, phi`` are read when present, else derived from ``px, py, pz``; ``nhits`` is
``number_of_hits`` when present, else counted from the event's measurements (older files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import awkward as ak
import numpy as np

from ...arrays import search_sorted
from ...event import Particles
from ..barcode import FIELD_NAMES as BARCODE_FIELDS
from ..barcode import encode_barcode
from ..columns import ColumnError, float_column, integer_column, particle_id_column
from .branches import PARTICLE_BRANCHES, TreeBranches, TruthLayout

KINEMATICS: tuple[str, ...] = ("pt", "eta", "phi")
MOMENTUM: tuple[str, ...] = ("px", "py", "pz")
REQUIRED_BRANCHES: tuple[str, ...] = ("vx", "vy", "vz", "q")


def required_branches(branches: TreeBranches) -> list[str]:
    """The branches a particles tree must have: the vertex, charge, and pt/eta/phi or the momentum."""
    kinematics = KINEMATICS if all(branches.has(n) for n in KINEMATICS) else MOMENTUM
    return [*kinematics, *REQUIRED_BRANCHES]


def read_particles(
    branches: TreeBranches, truth: TruthLayout, entry: int, event_id: int, hit_particle_ids: np.ndarray | None
) -> Particles:
    """The particle table of one event (empty when the event has no ``entry`` in the tree, -1)."""
    names = [n for n in PARTICLE_BRANCHES if branches.has(n) and n != "event_id"]
    raw: dict[str, Any] = {}
    if entry >= 0:
        for name in names:
            values = branches.read(name, event=event_id, entry_start=entry, entry_stop=entry + 1)
            if values.ndim != 2:
                raise branches.error(f"expected one vector per event, got type {values.type}", name, event=event_id)
            raw[name] = ak.to_numpy(values[0])
    else:
        raw = {name: np.zeros(0, np.float32) for name in names}
    lengths = {branches.file_name(n): len(v) for n, v in raw.items()}
    if len(set(lengths.values())) > 1:
        raise branches.error(f"particle branches have different lengths {lengths}", event=event_id)

    def convert(name: str, fn: Callable[[Any], np.ndarray]) -> np.ndarray:
        try:
            return fn(raw[name])
        except ColumnError as err:
            raise branches.error(str(err), name, event=event_id) from None

    if truth == "barcode":
        fields = [convert(n, lambda v: integer_column(v, np.uint32)) for n in BARCODE_FIELDS]
        try:
            pid = encode_barcode(*fields)
        except ValueError as err:
            raise branches.error(str(err), event=event_id) from None
    else:
        pid = convert("particle_id", particle_id_column)
    if all(n in raw for n in KINEMATICS):
        pt, eta, phi = (convert(n, float_column) for n in KINEMATICS)
    else:
        px, py, pz = (convert(n, float_column).astype(np.float64) for n in MOMENTUM)
        pt64 = np.hypot(px, py)
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.arcsinh(pz / pt64).astype(np.float32)
        pt, phi = pt64.astype(np.float32), np.arctan2(py, px).astype(np.float32)
    if "number_of_hits" in raw:
        nhits = convert("number_of_hits", lambda v: integer_column(v, np.int32))
    elif hit_particle_ids is not None:
        # older files lack number_of_hits: count this event's measurements per particle instead
        ids, counts = np.unique(hit_particle_ids, return_counts=True)
        pos, counted = search_sorted(ids, pid)
        nhits = np.where(counted, counts[pos] if len(ids) else 0, 0).astype(np.int32)
    else:
        nhits = np.full(len(pid), -1, np.int32)  # unknown
    return Particles(
        particle_id=pid,
        pt=pt,
        eta=eta,
        phi=phi,
        vx=convert("vx", float_column),
        vy=convert("vy", float_column),
        vz=convert("vz", float_column),
        q=convert("q", lambda v: integer_column(v, np.int32)),
        nhits=nhits,
    )
