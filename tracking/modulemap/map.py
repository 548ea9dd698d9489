"""Connection maps between detector groups (modules or layers): the map, its ``.npz`` files, and building
an event's edges (doublets) from it. Learning a map from truth is :mod:`.learn`.

A map entry joins an inner group to an outer group with a window [min, max] on each cut variable
(:data:`tracking.ops.CUT_VARIABLES`). At module granularity this is the GNN4ITk module map; at layer
granularity the classic geometric layer-pair graph builder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..arrays import as_numpy, search_sorted
from ..atomic import atomic_output
from ..detector import BUILTIN_NUMBERING
from ..errors import DataError
from ..event import Event
from ..io.module_keys import FIELD_MAX, pack_keys, unpack_keys
from ..ops.doublets import CUT_VARIABLES, build_doublets

GRANULARITIES = ("module", "layer")
MAP_VERSION = 1


def check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    return granularity


def group_keys(event: Event, granularity: str) -> np.ndarray:
    """int64 [N]: each hit's group key (module: volume, layer, module; layer: volume, layer)."""
    check_granularity(granularity)
    needed = ("volume_id", "layer_id") + (("module_id",) if granularity == "module" else ())
    for name in needed:
        if getattr(event, name) is None:
            raise DataError(f"{granularity} granularity needs {name!r}, which the event lacks", event=event.event_id)
    volume, layer = as_numpy(event.volume_id), as_numpy(event.layer_id)
    module = as_numpy(event.module_id) if granularity == "module" else np.zeros(len(volume), dtype=np.int64)
    try:
        return pack_keys(volume, layer, module)
    except ValueError as err:
        raise DataError(str(err), event=event.event_id) from None


def _valid_keys(event: Event, granularity: str) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, valid)``: the group keys of the hits whose ids fit a key (0 elsewhere) and which those are."""
    names = ("volume_id", "layer_id", "module_id")
    ids = [as_numpy(getattr(event, k)).astype(np.int64) for k in names[: 3 if granularity == "module" else 2]]
    if granularity != "module":
        ids.append(np.zeros(len(ids[0]), np.int64))
    valid = np.logical_and.reduce([(a >= 0) & (a < FIELD_MAX) for a in ids])
    return pack_keys(*(np.where(valid, a, 0) for a in ids)), valid


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
    # the module numbering (tracking.detector.numbering_of) and name of the detector it was learned on;
    # maps written before this was recorded were all learned on the built-in detector's numbering
    numbering: str = BUILTIN_NUMBERING
    detector_name: str = ""
    source: str = ""  # the file it was loaded from (for messages)
    _device_cache: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_granularity(self.granularity)
        m = len(self.src)
        v = len(CUT_VARIABLES)
        shapes = (len(self.dst), self.cut_min.shape, self.cut_max.shape, len(self.n_segments))
        if shapes != (m, (m, v), (m, v), m):
            raise ValueError("map arrays disagree in length: src, dst, cut_min, cut_max, n_segments")

    @property
    def num_groups(self) -> int:
        return len(self.group_key)

    @property
    def num_entries(self) -> int:
        return len(self.src)

    def __repr__(self) -> str:
        return (
            f"ModuleMap({self.granularity}, groups={self.num_groups}, entries={self.num_entries}, "
            f"margin={self.margin}, pt_min={self.pt_min}, events={self.n_events}, numbering={self.numbering})"
        )

    # -- use -----------------------------------------------------------------------------------------
    def group_index(self, event: Event) -> np.ndarray:
        """int64 [N]: each hit's group index in this map, -1 for hits of groups the map never saw (ids that
        cannot be a group's, such as the -1 of a positional id off the built-in detector, included)."""
        try:
            keys = group_keys(event, self.granularity)
        except DataError:
            keys, valid = _valid_keys(event, self.granularity)  # raises again when a column is missing
            pos, found = search_sorted(self.group_key, keys)
            return np.where(found & valid, pos, -1)
        pos, found = search_sorted(self.group_key, keys)
        return np.where(found, pos, -1)

    def check_coverage(self, event: Event, group: np.ndarray, max_outside: float) -> None:
        """:class:`DataError` naming this map and ``event`` when more than ``max_outside`` of the event's
        hits lie in groups the map does not know: such an event is of another detector or numbering, and
        would otherwise give (almost) no edges and no tracks in silence."""
        if not len(group):
            return
        outside = float(np.mean(group < 0))
        if outside > max_outside:
            raise DataError(
                f"{outside:.0%} of the hits lie in modules the connection map {self.source or repr(self)} "
                "does not know "
                f"(map learned on numbering {self.numbering!r}"
                f"{', detector ' + repr(self.detector_name) if self.detector_name else ''}); the event is of "
                "another detector or module numbering: use a map learned on it (`trackpipe build-map` / "
                "`trackpipe fit`), or set the graph builder's max_outside to accept it",
                event=event.event_id,
            )

    def connects(self, event: Event, segments: np.ndarray) -> np.ndarray:
        """bool [S]: whether the map has an entry joining the groups of each segment's two hits (either way;
        ``segments``: int [2, S] hit indices), windows aside. A segment without one is lost to connectivity:
        no training event showed that pair of groups."""
        group = self.group_index(event)
        a, b = group[segments[0]], group[segments[1]]
        n = np.int64(max(self.num_groups, 1))
        entries = np.sort(self.src.astype(np.int64) * n + self.dst)
        forward, backward = search_sorted(entries, a * n + b)[1], search_sorted(entries, b * n + a)[1]
        return (forward | backward) & (a >= 0) & (b >= 0)

    def _arrays_on(self, device: torch.device) -> tuple:
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = tuple(
                torch.from_numpy(np.ascontiguousarray(a)).to(device)
                for a in (self.src, self.dst, self.cut_min, self.cut_max)
            )
        return self._device_cache[key]

    def build(self, event: Event, group: np.ndarray | None = None):
        """int64 [2, E] edges (inner -> outer) of ``event``, numpy or torch on the event's device
        (``group``: :meth:`group_index` of the event, when already computed)."""
        if group is None:
            group = self.group_index(event)
        if isinstance(event.x, torch.Tensor):
            src, dst, lo, hi = self._arrays_on(event.device)
            g = torch.from_numpy(group).to(event.device)
            return build_doublets(event.r, event.phi, event.z, event.eta, g, src, dst, lo, hi, n_groups=self.num_groups)
        r, phi, z, eta = (np.asarray(a) for a in (event.r, event.phi, event.z, event.eta))
        return build_doublets(
            r, phi, z, eta, group, self.src, self.dst, self.cut_min, self.cut_max, n_groups=self.num_groups
        )

    # -- files ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the map as a compressed ``.npz`` (atomically)."""
        volume, layer, module = unpack_keys(self.group_key)
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                group_volume=volume,
                group_layer=layer,
                group_module=module,
                src=self.src.astype(np.int32),
                dst=self.dst.astype(np.int32),
                cut_min=self.cut_min.astype(np.float32),
                cut_max=self.cut_max.astype(np.float32),
                n_segments=self.n_segments.astype(np.int64),
                cut_variables=np.array(CUT_VARIABLES),
                granularity=np.array(self.granularity),
                margin=np.float64(self.margin),
                pt_min=np.float64(self.pt_min),
                n_events=np.int64(self.n_events),
                version=np.int64(self.version),
                numbering=np.array(self.numbering),
                detector_name=np.array(self.detector_name),
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModuleMap:
        """Read a map written by :meth:`save` (or ``trackpipe build-map``)."""
        path = Path(path)
        if not path.is_file():
            raise DataError("connection map not found (make one with `trackpipe build-map`)", file=str(path))
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as err:  # noqa: BLE001 - any unreadable file is a data error naming it
            raise DataError(f"not a readable .npz connection map: {err}", file=str(path)) from None
        required = (
            "group_volume",
            "group_layer",
            "group_module",
            "src",
            "dst",
            "cut_min",
            "cut_max",
            "cut_variables",
            "granularity",
            "version",
        )
        missing = [k for k in required if k not in arrays]
        if missing:
            raise DataError(f"connection map lacks {', '.join(missing)}", file=str(path))
        version = int(arrays["version"])
        if version > MAP_VERSION:
            raise DataError(
                f"connection map version {version} is newer than this trackpipe reads ({MAP_VERSION})", file=str(path)
            )
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
                granularity=str(arrays["granularity"]),
                group_key=keys,
                src=src,
                dst=dst,
                cut_min=arrays["cut_min"].astype(np.float32).reshape(m, -1),
                cut_max=arrays["cut_max"].astype(np.float32).reshape(m, -1),
                n_segments=arrays.get("n_segments", np.zeros(m, dtype=np.int64)).astype(np.int64),
                margin=float(arrays.get("margin", 0.0)),
                pt_min=float(arrays.get("pt_min", 0.0)),
                n_events=int(arrays.get("n_events", 0)),
                version=version,
                numbering=str(arrays.get("numbering", BUILTIN_NUMBERING)),
                detector_name=str(arrays.get("detector_name", "")),
                source=str(path),
            )
        except ValueError as err:
            raise DataError(f"inconsistent connection map: {err}", file=str(path)) from None
