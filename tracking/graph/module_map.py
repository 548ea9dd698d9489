"""Connection maps between detector groups (modules or layers), learned from truth.

A map entry joins an inner group to an outer group with a window [min, max] on each cut variable
(:data:`tracking.ops.CUT_VARIABLES`). At module granularity this is the GNN4ITk module map; at layer
granularity the classic geometric layer-pair graph builder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ..event import Event
from ..ops.graph import CUT_VARIABLES, build_doublets, doublet_cut_variables
from ..stages import atomic_output
from ..truth import truth_segments

GRANULARITIES = ("module", "layer")
MAP_VERSION = 1
_FIELD_BITS = 20  # each of volume, layer, module must be < 2^20 to pack into one int64 key
_FIELD_MAX = 1 << _FIELD_BITS


def _np(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    return granularity


def pack_keys(volume, layer, module) -> np.ndarray:
    """int64 key (volume << 40 | layer << 20 | module); each id in [0, 2^20)."""
    v, l_, m = (np.asarray(a, dtype=np.int64) for a in (volume, layer, module))
    for name, a in (("volume_id", v), ("layer_id", l_), ("module_id", m)):
        if len(a) and (a.min() < 0 or a.max() >= _FIELD_MAX):
            raise ValueError(f"{name} must lie in [0, {_FIELD_MAX}) to form a group key, got [{a.min()}, {a.max()}]")
    return (v << (2 * _FIELD_BITS)) | (l_ << _FIELD_BITS) | m


def unpack_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.asarray(keys, dtype=np.int64)
    mask = _FIELD_MAX - 1
    return (keys >> (2 * _FIELD_BITS)).astype(np.int32), ((keys >> _FIELD_BITS) & mask).astype(np.int32), (
        keys & mask
    ).astype(np.int32)


def group_keys(event: Event, granularity: str) -> np.ndarray:
    """int64 [N]: each hit's group key (module: volume, layer, module; layer: volume, layer)."""
    _check_granularity(granularity)
    needed = ("volume_id", "layer_id") + (("module_id",) if granularity == "module" else ())
    for name in needed:
        if getattr(event, name) is None:
            raise DataError(f"{granularity} granularity needs {name!r}, which the event lacks", event=event.event_id)
    volume, layer = _np(event.volume_id), _np(event.layer_id)
    module = _np(event.module_id) if granularity == "module" else np.zeros(len(volume), dtype=np.int64)
    try:
        return pack_keys(volume, layer, module)
    except ValueError as err:
        raise DataError(str(err), event=event.event_id) from None


@dataclass
class ModuleMap:
    """Groups (sorted packed keys) and entries src -> dst (indices into the groups) with windows."""

    granularity: str
    group_key: np.ndarray  # int64 [G], sorted unique
    src: np.ndarray  # int32 [M]
    dst: np.ndarray  # int32 [M]
    cut_min: np.ndarray  # float32 [M, V]
    cut_max: np.ndarray  # float32 [M, V]
    n_segments: np.ndarray  # int64 [M]: training segments behind each entry
    margin: float = 0.0
    pt_min: float = 0.0
    n_events: int = 0
    version: int = MAP_VERSION
    _device_cache: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_granularity(self.granularity)
        m = len(self.src)
        v = len(CUT_VARIABLES)
        if len(self.dst) != m or self.cut_min.shape != (m, v) or self.cut_max.shape != (m, v) or len(self.n_segments) != m:
            raise ValueError("map arrays disagree in length: src, dst, cut_min, cut_max, n_segments")

    @property
    def num_groups(self) -> int:
        return len(self.group_key)

    @property
    def num_entries(self) -> int:
        return len(self.src)

    def __repr__(self) -> str:
        return (f"ModuleMap({self.granularity}, groups={self.num_groups}, entries={self.num_entries}, "
                f"margin={self.margin}, pt_min={self.pt_min}, events={self.n_events})")

    # -- use -----------------------------------------------------------------------------------------
    def group_index(self, event: Event) -> np.ndarray:
        """int64 [N]: each hit's group index in this map, -1 for hits of groups the map never saw."""
        keys = group_keys(event, self.granularity)
        pos = np.clip(np.searchsorted(self.group_key, keys), 0, max(self.num_groups - 1, 0))
        found = (self.group_key[pos] == keys) if self.num_groups else np.zeros(len(keys), dtype=bool)
        return np.where(found, pos, -1).astype(np.int64)

    def _arrays_on(self, device: torch.device) -> tuple:
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = tuple(
                torch.from_numpy(np.ascontiguousarray(a)).to(device)
                for a in (self.src, self.dst, self.cut_min, self.cut_max)
            )
        return self._device_cache[key]

    def build(self, event: Event):
        """int64 [2, E] edges (inner -> outer) of ``event``, numpy or torch on the event's device."""
        group = self.group_index(event)
        if isinstance(event.x, torch.Tensor):
            src, dst, lo, hi = self._arrays_on(event.device)
            g = torch.from_numpy(group).to(event.device)
            return build_doublets(event.r, event.phi, event.z, event.eta, g, src, dst, lo, hi, n_groups=self.num_groups)
        return build_doublets(
            *(np.asarray(a) for a in (event.r, event.phi, event.z, event.eta)), group,
            self.src, self.dst, self.cut_min, self.cut_max, n_groups=self.num_groups,
        )

    # -- files ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the map as a compressed ``.npz`` (atomically)."""
        volume, layer, module = unpack_keys(self.group_key)
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f, group_volume=volume, group_layer=layer, group_module=module,
                src=self.src.astype(np.int32), dst=self.dst.astype(np.int32),
                cut_min=self.cut_min.astype(np.float32), cut_max=self.cut_max.astype(np.float32),
                n_segments=self.n_segments.astype(np.int64), cut_variables=np.array(CUT_VARIABLES),
                granularity=np.array(self.granularity), margin=np.float64(self.margin),
                pt_min=np.float64(self.pt_min), n_events=np.int64(self.n_events), version=np.int64(self.version),
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModuleMap:
        """Read a map written by :meth:`save` (or ``trackpipe build-map``)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"connection map not found (make one with `trackpipe build-map`)", file=str(path))
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as err:  # noqa: BLE001 - any unreadable file is a data error naming it
            raise DataError(f"not a readable .npz connection map: {err}", file=str(path)) from None
        required = ("group_volume", "group_layer", "group_module", "src", "dst", "cut_min", "cut_max",
                    "cut_variables", "granularity", "version")
        missing = [k for k in required if k not in arrays]
        if missing:
            raise DataError(f"connection map lacks {', '.join(missing)}", file=str(path))
        version = int(arrays["version"])
        if version > MAP_VERSION:
            raise DataError(f"connection map version {version} is newer than this trackpipe reads ({MAP_VERSION})",
                            file=str(path))
        variables = tuple(str(v) for v in arrays["cut_variables"])
        if variables != CUT_VARIABLES:
            raise DataError(f"connection map cut variables {variables} differ from {CUT_VARIABLES}", file=str(path))
        keys = pack_keys(arrays["group_volume"], arrays["group_layer"], arrays["group_module"])
        src, dst = arrays["src"].astype(np.int32), arrays["dst"].astype(np.int32)
        if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= len(keys)):
            raise DataError("connection map entries point outside its group list", file=str(path))
        if len(keys) > 1 and np.any(np.diff(keys) <= 0):
            raise DataError("connection map groups are not sorted and unique", file=str(path))
        m = len(src)
        try:
            return cls(
                granularity=str(arrays["granularity"]), group_key=keys, src=src, dst=dst,
                cut_min=arrays["cut_min"].astype(np.float32).reshape(m, -1),
                cut_max=arrays["cut_max"].astype(np.float32).reshape(m, -1),
                n_segments=arrays.get("n_segments", np.zeros(m, dtype=np.int64)).astype(np.int64),
                margin=float(arrays.get("margin", 0.0)), pt_min=float(arrays.get("pt_min", 0.0)),
                n_events=int(arrays.get("n_events", 0)), version=version,
            )
        except ValueError as err:
            raise DataError(f"inconsistent connection map: {err}", file=str(path)) from None


# -- learning ----------------------------------------------------------------------------------------

_V = len(CUT_VARIABLES)
_MIN_COLS = [f"min_{v}" for v in CUT_VARIABLES]
_MAX_COLS = [f"max_{v}" for v in CUT_VARIABLES]


class MapLearner:
    """Accumulates group pairs and per-variable min/max over events, one event at a time.

    Memory is the number of distinct pairs seen, never the events.
    """

    def __init__(self, granularity: str = "module", pt_min: float = 0.0) -> None:
        self.granularity = _check_granularity(granularity)
        self.pt_min = float(pt_min)
        self.n_events = 0
        self._table: pd.DataFrame | None = None

    def _segments(self, event: Event) -> np.ndarray:
        seg = truth_segments(event)
        if self.pt_min > 0 and seg.shape[1]:
            if event.particles is None:
                raise DataError("pt_min > 0 needs the particle table", event=event.event_id)
            p = event.particles.numpy()
            order = np.argsort(p.particle_id)
            ids, pt = p.particle_id[order], p.pt[order]
            pid = _np(event.particle_id)[seg[0]]
            pos = np.clip(np.searchsorted(ids, pid), 0, max(len(ids) - 1, 0))
            ok = (ids[pos] == pid) & (pt[pos] >= self.pt_min) if len(ids) else np.zeros(len(pid), dtype=bool)
            seg = seg[:, ok]
        return seg

    def add(self, event: Event) -> int:
        """Add the truth segments of one event; returns how many were used."""
        event = event.numpy()
        seg = self._segments(event)
        keys = group_keys(event, self.granularity)
        values = doublet_cut_variables(event.r, event.phi, event.z, event.eta, seg[0], seg[1]).astype(np.float64)
        values[~np.isfinite(values)] = np.nan  # dr = 0: no window can hold it; skipped by min/max
        frame = pd.DataFrame({"src": keys[seg[0]], "dst": keys[seg[1]], "count": 1})
        for k, v in enumerate(CUT_VARIABLES):
            frame[f"min_{v}"] = values[:, k]
            frame[f"max_{v}"] = values[:, k]
        self._merge(frame)
        self.n_events += 1
        return seg.shape[1]

    def _merge(self, frame: pd.DataFrame) -> None:
        if self._table is not None:
            frame = pd.concat([self._table, frame], ignore_index=True)
        agg = {"count": "sum", **{c: "min" for c in _MIN_COLS}, **{c: "max" for c in _MAX_COLS}}
        self._table = frame.groupby(["src", "dst"], sort=True, as_index=False).agg(agg)

    def finish(self, margin: float = 0.1) -> ModuleMap:
        """The map: each window widened by ``margin`` times its width (plus a tiny absolute slack)."""
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        table = self._table if self._table is not None else pd.DataFrame(
            {"src": [], "dst": [], "count": [], **{c: [] for c in _MIN_COLS + _MAX_COLS}})
        src_keys = table["src"].to_numpy(np.int64)
        dst_keys = table["dst"].to_numpy(np.int64)
        group_key = np.union1d(src_keys, dst_keys)
        lo = table[_MIN_COLS].to_numpy(np.float64).reshape(-1, _V)
        hi = table[_MAX_COLS].to_numpy(np.float64).reshape(-1, _V)
        # a variable never finite for a pair does not restrict it (its NaN value fails any window)
        lo = np.where(np.isnan(lo), -np.inf, lo)
        hi = np.where(np.isnan(hi), np.inf, hi)
        with np.errstate(invalid="ignore"):
            width = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
        slack = margin * width + 1e-6 * np.maximum(np.abs(np.where(np.isfinite(lo), lo, 0)),
                                                   np.abs(np.where(np.isfinite(hi), hi, 0))) + 1e-7
        cut_min = np.nextafter((lo - slack).astype(np.float32), np.float32(-np.inf))
        cut_max = np.nextafter((hi + slack).astype(np.float32), np.float32(np.inf))
        return ModuleMap(
            granularity=self.granularity, group_key=group_key,
            src=np.searchsorted(group_key, src_keys).astype(np.int32),
            dst=np.searchsorted(group_key, dst_keys).astype(np.int32),
            cut_min=cut_min.astype(np.float32), cut_max=cut_max.astype(np.float32),
            n_segments=table["count"].to_numpy(np.int64), margin=float(margin), pt_min=self.pt_min,
            n_events=self.n_events,
        )


def learn_module_map(events: Iterable[Event], granularity: str = "module", margin: float = 0.1,
                     pt_min: float = 0.0, progress: bool = False, total: int | None = None) -> ModuleMap:
    """Learn a connection map from the truth segments of ``events`` (consumed one at a time).

    Every pair of groups joined by consecutive hits of a particle with pT >= ``pt_min`` becomes an
    entry; its windows are the min/max of each cut variable over those segments, widened by
    ``margin`` times the window width.
    """
    learner = MapLearner(granularity, pt_min)
    if progress:
        from tqdm import tqdm

        events = tqdm(events, total=total, desc=f"learning {granularity} map", unit="event")
    for event in events:
        learner.add(event)
    return learner.finish(margin)
