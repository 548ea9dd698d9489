"""Learning a connection map from the truth segments of training events, one event at a time.

Every pair of groups joined by consecutive hits of a particle becomes an entry; its windows are the
min/max of each cut variable (:data:`tracking.ops.CUT_VARIABLES`) over those segments, then widened
(:meth:`MapLearner.finish`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..arrays import as_numpy
from ..detector import DetectorDescription, NumberingProbe
from ..errors import DataError
from ..event import Event, Particles
from ..io.module_keys import layer_keys
from ..ops.doublets import CUT_VARIABLES, doublet_cut_variables
from ..truth import truth_segments
from .map import ModuleMap, check_granularity, group_keys

_V = len(CUT_VARIABLES)
_MIN_COLS = [f"min_{v}" for v in CUT_VARIABLES]
_MAX_COLS = [f"max_{v}" for v in CUT_VARIABLES]


class MapLearner:
    """Accumulates group pairs and per-variable min/max over events, one event at a time.

    Memory is at most about twice the number of distinct pairs (and groups) seen, never the events (the
    pairs of recent events wait in a buffer no larger than the table, :class:`_PairWindows`). Also keeps
    the mean position of each group's hits, which :meth:`finish` uses to find neighbouring modules.
    """

    def __init__(
        self,
        granularity: str = "module",
        pt_min: float = 0.0,
        window_pt_min: float | None = None,
        detector: DetectorDescription | None = None,
        window_vertex_r_max: float | None = None,
    ) -> None:
        self.granularity = check_granularity(granularity)
        # the map records its detector's numbering: given by the description, or probed from the events
        self.detector = detector
        self._numbering = NumberingProbe()
        self.pt_min = float(pt_min)
        self.window_pt_min = None if window_pt_min is None else float(window_pt_min)
        # layer windows from particles produced within this transverse distance of the beam line (mm); the
        # segments of displaced ones widen only the entries they were seen in (None: every particle)
        self.window_vertex_r_max = None if window_vertex_r_max is None else float(window_vertex_r_max)
        self.n_events = 0
        self._entries = _PairWindows()
        self._layers = _PairWindows()  # layer-pair windows (for windows="layer")
        self._displaced = _PairWindows()  # entry windows of displaced particles (idem)
        self._centres: pd.DataFrame | None = None

    @staticmethod
    def _segment_particles(event: Event, seg: np.ndarray, why: str) -> tuple[Particles, np.ndarray, np.ndarray]:
        """The particle table and, per segment, its particle's row and whether the table has it."""
        if event.particles is None:
            raise DataError(f"{why} needs the particle table", event=event.event_id)
        p = event.particles.numpy()
        rows, found = p.lookup(as_numpy(event.particle_id)[seg[0]])
        return p, rows, found

    def _segment_pt(self, event: Event, seg: np.ndarray) -> np.ndarray:
        p, rows, found = self._segment_particles(event, seg, "a pT threshold")
        pt = np.zeros(len(rows), p.pt.dtype)  # the table's precision: the cut compares in it
        pt[found] = p.pt[rows[found]]
        return pt

    def _segment_vertex_r(self, event: Event, seg: np.ndarray) -> np.ndarray:
        """Transverse distance (mm) of each segment's particle's production vertex from the beam line."""
        p, rows, found = self._segment_particles(event, seg, "window_vertex_r_max (vertex positions)")
        r = np.zeros(len(rows))
        r[found] = np.hypot(p.vx[rows[found]].astype(np.float64), p.vy[rows[found]].astype(np.float64))
        return r

    @staticmethod
    def _window_frame(src, dst, values) -> pd.DataFrame:
        frame = pd.DataFrame({"src": src, "dst": dst, "count": 1})
        for k, v in enumerate(CUT_VARIABLES):
            frame[f"min_{v}"] = values[:, k]
            frame[f"max_{v}"] = values[:, k]
        return frame

    def add(self, event: Event) -> int:
        """Add the truth segments of one event; returns how many were used."""
        event = event.numpy()
        if self.detector is None:
            self._numbering.add(event)
        seg = truth_segments(event)
        needs_pt = self.pt_min > 0 or (self.window_pt_min or 0) > 0
        pt = self._segment_pt(event, seg) if needs_pt and seg.shape[1] else np.full(seg.shape[1], np.inf)
        keys = group_keys(event, self.granularity)
        values = doublet_cut_variables(event.r, event.phi, event.z, event.eta, seg[0], seg[1]).astype(np.float64)
        values[~np.isfinite(values)] = np.nan  # cannot happen with safe_dr; kept out of min/max regardless
        used = pt >= self.pt_min
        self._entries.add(self._window_frame(keys[seg[0]][used], keys[seg[1]][used], values[used]))
        in_window = pt >= (self.pt_min if self.window_pt_min is None else self.window_pt_min)
        if self.window_vertex_r_max is not None and seg.shape[1]:
            displaced = in_window & (self._segment_vertex_r(event, seg) > self.window_vertex_r_max)
            in_window &= ~displaced
            self._displaced.add(self._window_frame(keys[seg[0]][displaced], keys[seg[1]][displaced], values[displaced]))
        layers = layer_keys(keys)
        self._layers.add(self._window_frame(layers[seg[0]][in_window], layers[seg[1]][in_window], values[in_window]))
        seg = seg[:, used]
        hits = pd.DataFrame(
            {
                "key": keys,
                "x": event.x.astype(np.float64),
                "y": event.y.astype(np.float64),
                "z": event.z.astype(np.float64),
                "n": 1,
            }
        )
        hits = hits.groupby("key").sum()
        self._centres = hits if self._centres is None else self._centres.add(hits, fill_value=0)
        self.n_events += 1
        return seg.shape[1]

    def finish(
        self,
        margin: float = 0.1,
        min_width_quantile: float | None = None,
        min_width_segments: int = 10,
        neighbours: int = 0,
        windows: str = "entry",
        min_segments: int = 1,
    ) -> ModuleMap:
        """The map. ``windows="layer"`` gives every entry the windows of its layer pair (learned from
        segments with pT >= ``window_pt_min``), so that the module pairs only decide connectivity:
        a module pair seen a few times cannot know its true spread. With ``windows="entry"`` each
        entry keeps its own min/max, widened in these steps:

        - a window narrower than the ``min_width_quantile`` quantile of the widths of the
          well-sampled entries (>= ``min_width_segments`` segments) of the same layer pair is widened
          to it about its centre: an entry seen a few times cannot know its true spread (None: off);
        - by ``margin`` times its width (plus a tiny absolute slack);
        - ``neighbours`` > 0 (module maps): each entry A -> B is copied to A -> B' for the
          ``neighbours`` modules B' of B's layer with the closest mean hit position, so that pairs a
          few training events never showed are still connected.

        ``min_segments`` prunes first: connections seen in fewer training segments are dropped (rare
        pairs are mostly scattering or noise and cost edges in every event).
        """
        if min_segments < 1:
            raise ValueError(f"min_segments must be >= 1, got {min_segments}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if neighbours < 0:
            raise ValueError(f"neighbours must be >= 0, got {neighbours}")
        if windows not in ("entry", "layer"):
            raise ValueError(f"windows must be 'entry' or 'layer', got {windows!r}")
        entries = self._entries.table
        table = (
            entries
            if entries is not None
            else pd.DataFrame({"src": [], "dst": [], "count": [], **{c: [] for c in _MIN_COLS + _MAX_COLS}})
        )
        if min_segments > 1:
            table = table[table["count"].to_numpy() >= min_segments]
        src_keys = table["src"].to_numpy(np.int64)
        dst_keys = table["dst"].to_numpy(np.int64)
        counts = table["count"].to_numpy(np.int64)
        lo = table[_MIN_COLS].to_numpy(np.float64).reshape(-1, _V)
        hi = table[_MAX_COLS].to_numpy(np.float64).reshape(-1, _V)
        # a variable never finite for a pair does not restrict it
        lo = np.where(np.isnan(lo), -np.inf, lo)
        hi = np.where(np.isnan(hi), np.inf, hi)
        if windows == "layer" and len(lo):
            lo, hi = self._layer_windows(src_keys, dst_keys, lo, hi)
        elif min_width_quantile is not None and len(lo):
            lo, hi = _regularise_widths(src_keys, dst_keys, counts, lo, hi, min_width_quantile, min_width_segments)
        with np.errstate(invalid="ignore"):
            width = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
        slack = (
            margin * width
            + 1e-6 * np.maximum(np.abs(np.where(np.isfinite(lo), lo, 0)), np.abs(np.where(np.isfinite(hi), hi, 0)))
            + 1e-7
        )
        lo, hi = lo - slack, hi + slack
        if neighbours > 0 and self.granularity == "module" and len(lo):
            src_keys, dst_keys, counts, lo, hi = self._dilate(src_keys, dst_keys, counts, lo, hi, neighbours)
        group_key = np.union1d(src_keys, dst_keys)
        cut_min = np.nextafter(lo.astype(np.float32), np.float32(-np.inf))
        cut_max = np.nextafter(hi.astype(np.float32), np.float32(np.inf))
        return ModuleMap(
            granularity=self.granularity,
            group_key=group_key,
            src=np.searchsorted(group_key, src_keys).astype(np.int32),
            dst=np.searchsorted(group_key, dst_keys).astype(np.int32),
            cut_min=cut_min.astype(np.float32),
            cut_max=cut_max.astype(np.float32),
            n_segments=counts,
            margin=float(margin),
            pt_min=self.pt_min,
            n_events=self.n_events,
            numbering=self.detector.numbering if self.detector is not None else self._numbering.numbering(),
            detector_name=self.detector.name if self.detector is not None else "",
        )

    def _layer_windows(self, src_keys, dst_keys, lo, hi):
        """The layer pair's window for each entry (its own where the layer pair has none)."""
        layer_table = self._layers.table
        assert layer_table is not None  # filled with the entry table, which has entries
        table = layer_table.set_index(["src", "dst"])
        pair = pd.MultiIndex.from_arrays([layer_keys(src_keys), layer_keys(dst_keys)])
        layer_lo = table[_MIN_COLS].reindex(pair).to_numpy(np.float64)
        layer_hi = table[_MAX_COLS].reindex(pair).to_numpy(np.float64)
        have = ~np.isnan(layer_lo) & ~np.isnan(layer_hi)
        lo, hi = np.where(have, layer_lo, lo), np.where(have, layer_hi, hi)
        displaced = self._displaced.table
        if displaced is not None and len(displaced):
            # displaced particles widen the windows of the entries they crossed, and only those
            seen = displaced.set_index(["src", "dst"])
            entry = pd.MultiIndex.from_arrays([src_keys, dst_keys])
            lo = np.fmin(lo, seen[_MIN_COLS].reindex(entry).to_numpy(np.float64))
            hi = np.fmax(hi, seen[_MAX_COLS].reindex(entry).to_numpy(np.float64))
        return lo, hi

    def module_neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(module key, neighbour key) pairs: the ``k`` modules of the same layer nearest in mean hit
        position (module itself excluded)."""
        from scipy.spatial import cKDTree

        c = self._centres
        if c is None:  # no events added
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        keys = c.index.to_numpy(np.int64)
        pos = c[["x", "y", "z"]].to_numpy() / c["n"].to_numpy()[:, None]
        layer = layer_keys(keys)
        out_a, out_b = [], []
        for lay in np.unique(layer):
            idx = np.flatnonzero(layer == lay)
            kk = min(k, len(idx) - 1)
            if kk < 1:
                continue
            _, nn = cKDTree(pos[idx]).query(pos[idx], k=kk + 1)
            out_a.append(np.repeat(keys[idx], kk))
            out_b.append(keys[idx][nn[:, 1:]].reshape(-1))
        if not out_a:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(out_a), np.concatenate(out_b)

    def _dilate(self, src_keys, dst_keys, counts, lo, hi, k):
        near_a, near_b = self.module_neighbours(k)
        frame = pd.DataFrame({"dst": dst_keys, "row": np.arange(len(dst_keys))})
        extra = frame.merge(pd.DataFrame({"dst": near_a, "near": near_b}), on="dst")
        rows = extra["row"].to_numpy()
        all_src = np.concatenate([src_keys, src_keys[rows]])
        all_dst = np.concatenate([dst_keys, extra["near"].to_numpy(np.int64)])
        merged = pd.DataFrame(
            {"src": all_src, "dst": all_dst, "count": np.concatenate([counts, np.zeros(len(rows), np.int64)])}
        )
        for v in range(_V):
            merged[f"lo{v}"] = np.concatenate([lo[:, v], lo[rows, v]])
            merged[f"hi{v}"] = np.concatenate([hi[:, v], hi[rows, v]])
        agg = {"count": "sum", **{f"lo{v}": "min" for v in range(_V)}, **{f"hi{v}": "max" for v in range(_V)}}
        merged = merged.groupby(["src", "dst"], sort=True, as_index=False).agg(agg)
        return (
            merged["src"].to_numpy(np.int64),
            merged["dst"].to_numpy(np.int64),
            merged["count"].to_numpy(np.int64),
            merged[[f"lo{v}" for v in range(_V)]].to_numpy(),
            merged[[f"hi{v}" for v in range(_V)]].to_numpy(),
        )


class _PairWindows:
    """Count and per-variable min/max of each (src, dst) pair over the frames added one event at a time.

    Frames wait in a buffer that is merged into the table once it holds as many rows as the table (at
    least ``min_batch_rows``): a merge costs the table's size, so merging every event made learning
    quadratic in the events (0.4 s per event at the 1.3M pairs of a 320-event TrackML map); batched, each
    row is merged a bounded number of times on average. Count, min and max do not depend on the grouping,
    so the table is the same as with a merge per event.
    """

    def __init__(self, min_batch_rows: int = 200_000) -> None:
        self.min_batch_rows = min_batch_rows
        self._table: pd.DataFrame | None = None
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        self._pending.append(frame)
        self._pending_rows += len(frame)
        if self._pending_rows >= max(self.min_batch_rows, 0 if self._table is None else len(self._table)):
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            frame = self._pending[0] if len(self._pending) == 1 else pd.concat(self._pending, ignore_index=True)
            self._table = _merge(self._table, frame)
            self._pending, self._pending_rows = [], 0

    @property
    def table(self) -> pd.DataFrame | None:
        """The merged table (None before the first frame)."""
        self._flush()
        return self._table


def _merge(table: pd.DataFrame | None, frame: pd.DataFrame) -> pd.DataFrame:
    """Min/max/count per (src, dst) of ``table`` and ``frame`` together."""
    if table is not None:
        frame = pd.concat([table, frame], ignore_index=True)
    agg = {"count": "sum", **{c: "min" for c in _MIN_COLS}, **{c: "max" for c in _MAX_COLS}}
    return frame.groupby(["src", "dst"], sort=True, as_index=False).agg(agg)


def _regularise_widths(src_keys, dst_keys, counts, lo, hi, quantile, min_segments):
    """Widen windows to the width quantile of the well-sampled entries of their layer pair."""
    layer_pair = pd.MultiIndex.from_arrays([layer_keys(src_keys), layer_keys(dst_keys)])
    with np.errstate(invalid="ignore"):
        width = pd.DataFrame(hi - lo, index=layer_pair)
    well = width[counts >= min_segments]
    if well.empty:
        return lo, hi
    floor = well.groupby(level=[0, 1]).quantile(quantile)
    floor = floor.reindex(layer_pair).to_numpy()
    floor = np.where(np.isfinite(floor), floor, 0.0)  # layer pairs with no well-sampled entry
    centre = 0.5 * (lo + hi)
    half = 0.5 * np.maximum(hi - lo, floor)
    finite = np.isfinite(lo) & np.isfinite(hi)
    return np.where(finite, centre - half, lo), np.where(finite, centre + half, hi)


def learn_module_map(
    events: Iterable[Event],
    granularity: str = "module",
    margin: float = 0.1,
    pt_min: float = 0.0,
    progress: bool = False,
    total: int | None = None,
    detector: DetectorDescription | None = None,
    **finish_options: Any,
) -> ModuleMap:
    """Learn a connection map from the truth segments of ``events`` (consumed one at a time).

    Every pair of groups joined by consecutive hits of a particle with pT >= ``pt_min`` becomes an
    entry; its windows are the min/max of each cut variable over those segments, widened by
    ``margin`` times the window width; ``finish_options`` go to :meth:`MapLearner.finish`. The map
    records the module numbering of ``detector`` (when given) or the one its events show.
    """
    learner = MapLearner(granularity, pt_min, finish_options.pop("window_pt_min", None), detector=detector)
    if progress:
        from tqdm import tqdm

        events = tqdm(events, total=total, desc=f"learning {granularity} map", unit="event")
    for event in events:
        learner.add(event)
    return learner.finish(margin, **finish_options)
