"""The event bundle that flows through a pipeline.

An :class:`Event` is a dataclass of arrays. Readers may fill it with numpy arrays; inside a pipeline
every array is a torch tensor on the pipeline's device (:meth:`Event.to`). Stages never mutate an
event: they return ``event.replace(new_field=...)`` with the fields they add.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Self, cast

import numpy as np
import torch

from .arrays import as_numpy, dtype_name, is_array, is_torch, search_sorted
from .errors import DataError

Array = Any  # np.ndarray or torch.Tensor

# dtype of every array field; the reader or stage that fills a field must use it.
HIT_DTYPES: dict[str, np.dtype] = {
    "hit_id": np.dtype(np.int64),
    "x": np.dtype(np.float32),
    "y": np.dtype(np.float32),
    "z": np.dtype(np.float32),
    "r": np.dtype(np.float32),
    "phi": np.dtype(np.float32),
    "eta": np.dtype(np.float32),
    "volume_id": np.dtype(np.int32),
    "layer_id": np.dtype(np.int32),
    "module_id": np.dtype(np.int32),
    "particle_id": np.dtype(np.int64),
    "track_labels": np.dtype(np.int64),
}
EDGE_DTYPES: dict[str, np.dtype] = {
    "edge_scores": np.dtype(np.float32),
    "edge_truth": np.dtype(np.bool_),
}
PARTICLE_DTYPES: dict[str, np.dtype] = {
    "particle_id": np.dtype(np.int64),
    "pt": np.dtype(np.float32),
    "eta": np.dtype(np.float32),
    "phi": np.dtype(np.float32),
    "vx": np.dtype(np.float32),
    "vy": np.dtype(np.float32),
    "vz": np.dtype(np.float32),
    "q": np.dtype(np.int32),
    "nhits": np.dtype(np.int32),
}


def _to_device(value: Any, device: torch.device | None) -> Any:
    if isinstance(value, np.ndarray):
        value = np.ascontiguousarray(value)
        if not value.flags.writeable:  # e.g. pandas copy-on-write columns; torch warns on read-only memory
            value = value.copy()
        return torch.from_numpy(value).to(device)
    if isinstance(value, torch.Tensor):
        return value.to(device)
    return value


def _check_dtype(name: str, value: Array, expected: np.dtype, event_id: int | None) -> None:
    got = dtype_name(value)
    if got != expected.name:
        raise DataError(f"field {name!r} has dtype {got}, expected {expected.name}", event=event_id)


def lookup_rows(ids: Array, query: Array) -> tuple[np.ndarray, np.ndarray]:
    """Where each id of ``query`` stands in the id column ``ids`` (in any order).

    Returns:
        ``(rows, found)``: int64 row of each queried id (the first row when an id repeats; -1 where
        absent) and the bool mask of the ids found. Index with ``rows[found]``; both are numpy arrays
        of ``len(query)``, whatever kind the inputs are.
    """
    ids, query = as_numpy(ids).reshape(-1), as_numpy(query).reshape(-1)
    rows = np.full(len(query), -1, dtype=np.int64)
    if len(ids) == 0 or len(query) == 0:
        return rows, np.zeros(len(query), dtype=bool)
    order = np.argsort(ids, kind="stable")
    pos, found = search_sorted(ids[order], query)
    rows[found] = order[pos[found]]
    return rows, found


class _ArrayBundle:
    """Shared conversions of dataclasses whose fields are arrays."""

    def to(self, device: str | torch.device | None = None) -> Self:
        """All arrays as torch tensors on ``device`` (default: where they are, numpy -> CPU)."""
        dev = torch.device(device) if device is not None else None
        return self.replace(**{f.name: _to_device(getattr(self, f.name), dev) for f in self._fields()})

    def numpy(self) -> Self:
        """All arrays as numpy arrays on the host."""
        return self.replace(**{f.name: as_numpy(v) for f in self._fields() if is_torch(v := getattr(self, f.name))})

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (fields are validated again)."""
        return dataclasses.replace(cast(Any, self), **changes)

    def _fields(self) -> tuple[dataclasses.Field[Any], ...]:
        return fields(cast(Any, self))


@dataclass(repr=False)
class Particles(_ArrayBundle):
    """Truth particles of one event, one row per particle (the ACTS / TrackML particle table)."""

    particle_id: Array
    pt: Array
    eta: Array
    phi: Array
    vx: Array
    vy: Array
    vz: Array
    q: Array
    nhits: Array
    # Columns a detector's truth carries beyond the common ones (e.g. LHCb's ``has_velo``, ``is_long``,
    # ``pdg``, ``p``), one row per particle, any dtype; category-based metrics read them by name.
    extra: dict[str, Array] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.particle_id)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            _check_dtype(f"particles.{f.name}", value, PARTICLE_DTYPES[f.name], None)
            if len(value) != n:
                raise DataError(f"particles.{f.name} has {len(value)} rows, particle_id has {n}")
        for name, value in self.extra.items():
            if not is_array(value) or value.ndim != 1 or len(value) != n:
                raise DataError(f"particles.extra[{name!r}] must be a 1-d array of {n} rows")

    def __len__(self) -> int:
        return len(self.particle_id)

    def to(self, device: str | torch.device | None = None) -> Particles:
        dev = torch.device(device) if device is not None else None
        return super().to(device).replace(extra={k: _to_device(v, dev) for k, v in self.extra.items()})

    def numpy(self) -> Particles:
        return super().numpy().replace(extra={k: as_numpy(v) for k, v in self.extra.items()})

    def lookup(self, particle_ids: Array) -> tuple[np.ndarray, np.ndarray]:
        """The table rows of ``particle_ids`` (e.g. the ``particle_id`` of hits): ``(rows, found)``.

        ``rows`` is int64, -1 where an id is not in the table (noise, id 0, is absent unless the table
        lists it); ``found`` is the bool mask of the listed ids; both numpy, one entry per queried id.
        Read a column with ``column[rows[found]]``::

            rows, found = particles.lookup(event.particle_id)
            pt = np.full(len(rows), np.nan)
            pt[found] = particles.numpy().pt[rows[found]]
        """
        return lookup_rows(self.particle_id, particle_ids)

    def __repr__(self) -> str:
        return f"Particles(n={len(self)})"


@dataclass(repr=False)
class Event(_ArrayBundle):
    """One event: hits, optional truth, and whatever the stages have added so far.

    Hits: ``hit_id`` (int64), ``x, y, z`` (float32, mm), derived ``r, phi, eta`` (computed when not
    given), ``volume_id, layer_id, module_id`` (int32). Truth: ``particle_id`` per hit (0 = noise) and a
    :class:`Particles` table. Graph: ``edge_index`` (int64 [2, E], directed inner -> outer),
    ``edge_features`` ([E, F]), ``edge_scores`` (float32 [E]), ``edge_truth`` (bool [E]). Tracks:
    ``track_labels`` (int64 [N], -1 = on no track). ``meta`` holds provenance (source file, ...).
    """

    event_id: int
    hit_id: Array
    x: Array
    y: Array
    z: Array
    volume_id: Array | None = None
    layer_id: Array | None = None
    module_id: Array | None = None
    r: Array | None = None
    phi: Array | None = None
    eta: Array | None = None
    particle_id: Array | None = None
    particles: Particles | None = None
    edge_index: Array | None = None
    edge_features: Array | None = None
    edge_scores: Array | None = None
    edge_truth: Array | None = None
    track_labels: Array | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.event_id = int(self.event_id)
        if self.r is None or self.phi is None or self.eta is None:
            lib = torch if isinstance(self.x, torch.Tensor) else np
            r = lib.sqrt(self.x * self.x + self.y * self.y)
            if self.r is None:
                self.r = r
            if self.phi is None:
                self.phi = lib.arctan2(self.y, self.x)
            if self.eta is None:
                self.eta = lib.arcsinh(self.z / lib.clip(r, 1e-6, None))
        self.validate()

    # -- shape and dtype checks -------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`DataError` naming the field when lengths or dtypes disagree."""
        n = self.num_hits
        for name, expected in HIT_DTYPES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not is_array(value) or value.ndim != 1:
                raise DataError(f"field {name!r} must be a 1-d array", event=self.event_id)
            _check_dtype(name, value, expected, self.event_id)
            if len(value) != n:
                raise DataError(f"field {name!r} has {len(value)} entries, hit_id has {n}", event=self.event_id)
        if self.edge_index is None:
            for name in ("edge_features", "edge_scores", "edge_truth"):
                if getattr(self, name) is not None:
                    raise DataError(f"field {name!r} is set but edge_index is not", event=self.event_id)
            return
        ei = self.edge_index
        if not is_array(ei) or ei.ndim != 2 or ei.shape[0] != 2:
            raise DataError(f"edge_index must have shape [2, E], got {tuple(ei.shape)}", event=self.event_id)
        _check_dtype("edge_index", ei, np.dtype(np.int64), self.event_id)
        e = ei.shape[1]
        for name in ("edge_features", "edge_scores", "edge_truth"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) != e:
                raise DataError(f"field {name!r} has {len(value)} rows, edge_index has {e} edges", event=self.event_id)
            if name in EDGE_DTYPES:
                _check_dtype(name, value, EDGE_DTYPES[name], self.event_id)

    def select_edges(self, keep: Array) -> Event:
        """This event with only the edges where ``keep`` (bool ``[E]``) is true, in every per-edge field
        (``edge_index``, ``edge_scores``, ``edge_truth``, ``edge_features``)."""
        if self.edge_index is None:
            raise DataError("select_edges: the event has no graph (edge_index)", event=self.event_id)
        changes: dict[str, Any] = {}
        for name in ("edge_index", "edge_scores", "edge_truth", "edge_features"):
            value = getattr(self, name)
            if value is None:
                continue
            mask = torch.as_tensor(keep).to(value.device) if is_torch(value) else as_numpy(keep)
            changes[name] = value[:, mask] if name == "edge_index" else value[mask]
        return self.replace(**changes)

    # -- conveniences ------------------------------------------------------------------------------
    @property
    def num_hits(self) -> int:
        return len(self.hit_id)

    @property
    def num_edges(self) -> int:
        return 0 if self.edge_index is None else int(self.edge_index.shape[1])

    @property
    def device(self) -> torch.device:
        return self.x.device if isinstance(self.x, torch.Tensor) else torch.device("cpu")

    def to(self, device: str | torch.device | None = None) -> Event:
        out = super().to(device)
        if self.particles is not None:
            out = dataclasses.replace(out, particles=self.particles.to(device))
        return out

    def numpy(self) -> Event:
        out = super().numpy()
        if self.particles is not None:
            out = dataclasses.replace(out, particles=self.particles.numpy())
        return out

    def __repr__(self) -> str:
        parts = [f"event_id={self.event_id}", f"hits={self.num_hits}"]
        if self.edge_index is not None:
            parts.append(f"edges={self.num_edges}")
        if self.particles is not None:
            parts.append(f"particles={len(self.particles)}")
        if self.track_labels is not None:
            labels = self.track_labels
            parts.append(f"tracks={int(labels.max()) + 1 if len(labels) else 0}")
        parts.append(f"device={self.device}")
        return f"Event({', '.join(parts)})"
