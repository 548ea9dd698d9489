"""Track efficiency, ghost rate and clone rate with truth matching as LHCb does it.

Definitions (LHCb's VELO checker as the public velopix project's ``validator/validator_lite.py`` writes it):

- **track**: the hits sharing one label ``>= 0`` in ``track_labels``; tracks with fewer than
  ``min_track_hits`` hits (default 1: every track a builder returns counts) are ignored.
- **hit-particle links**: a hit may come from several particles (LHCb truth lists them). The links are
  ``event.meta["hit_particles"]`` when a reader put them there (a pair of int64 arrays: hit row,
  particle id), else one link per non-noise hit from ``event.particle_id``.
- **weight** w(t, p): the fraction of track t's hits that have a link to particle p.
- **matched track**: a track with >= 2 hits and w(t, p) >= ``matching_fraction`` (0.7) for some particle
  p of the event. A track matched to no particle is a **ghost**; ghost rate = ghosts / counted tracks.
- **categories**: sets of particles chosen from the particle table (:class:`Category`: flags that must
  be set, a minimum momentum, PDG codes left out). LHCb's defaults (:data:`LHCB_CATEGORIES`) are "velo"
  (``has_velo``), "long" (``is_long``), "long, p > 5 GeV", and long from strange / beauty decays, all
  without electrons. They read the columns ``Particles.extra`` carries (``has_velo``, ``is_long``,
  ``from_strange``, ``from_beauty``, ``pdg``, ``p`` in GeV); a category whose columns the table lacks is
  skipped and named in the result. :data:`GENERIC_CATEGORIES` ("all": every particle with >= 3 hits)
  works on any truth.
- per category: a particle is **reconstructed** when some track has w(t, p) >= the fraction;
  efficiency = reconstructed / particles of the category. Each track is assigned to the particle of the
  category with the highest weight (ties: the smaller particle id) when that weight reaches the fraction;
  a particle assigned k > 1 tracks has k - 1 **clones**; clone rate = clones / reconstructed particles
  (LHCb's "clones (%)"). Hit purity = mean weight of the assigned tracks, hit efficiency = mean fraction of
  the particle's hits on its assigned tracks (both over assigned track-particle pairs, clones included).

Over many events counts are summed, then divided; the event-averaged ghost rate and efficiencies that
validator_lite also prints are given as ``*_event_average``. A ratio with a zero denominator is NaN.

One difference from validator_lite: it matches when the weight is strictly above 0.7, LHCb's
description (and this module) when it is at least 70 % (a 7-of-10-hit track is matched here only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..arrays import as_numpy
from ..event import Event, lookup_rows
from ._ratio import ratio
from .tracks import truth_and_labels

__all__ = [
    "GENERIC_CATEGORIES",
    "LHCB_CATEGORIES",
    "Category",
    "LhcbMatchConfig",
    "LhcbMetrics",
    "hit_particle_links",
]

# below this difference two weights are equal (w is a ratio of small integers)
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Category:
    """A set of truth particles, chosen from columns of the particle table.

    Args:
        name: the label in the results ("velo", "long, p > 5 GeV", ...).
        flags: ``Particles.extra`` columns that must be non-zero.
        p_min: minimum momentum in GeV (strictly above; needs the ``p`` column), None = no cut.
        exclude_pdg: |PDG code| values left out (needs the ``pdg`` column); LHCb leaves electrons (11) out.
        min_hits: minimum number of the particle's hits in the event (0 = no cut).
    """

    name: str
    flags: tuple[str, ...] = ()
    p_min: float | None = None
    exclude_pdg: tuple[int, ...] = ()
    min_hits: int = 0

    def columns(self) -> tuple[str, ...]:
        """The ``Particles.extra`` columns the category reads."""
        needed = list(self.flags)
        if self.p_min is not None:
            needed.append("p")
        if self.exclude_pdg:
            needed.append("pdg")
        return tuple(needed)


_NO_ELECTRONS = (11,)
LHCB_CATEGORIES: tuple[Category, ...] = (
    Category("velo", ("has_velo",), exclude_pdg=_NO_ELECTRONS),
    Category("long", ("is_long",), exclude_pdg=_NO_ELECTRONS),
    Category("long, p > 5 GeV", ("is_long",), p_min=5.0, exclude_pdg=_NO_ELECTRONS),
    Category("long strange", ("is_long", "from_strange"), exclude_pdg=_NO_ELECTRONS),
    Category("long strange, p > 5 GeV", ("is_long", "from_strange"), p_min=5.0, exclude_pdg=_NO_ELECTRONS),
    Category("long from b", ("is_long", "from_beauty"), exclude_pdg=_NO_ELECTRONS),
    Category("long from b, p > 5 GeV", ("is_long", "from_beauty"), p_min=5.0, exclude_pdg=_NO_ELECTRONS),
)
GENERIC_CATEGORIES: tuple[Category, ...] = (Category("all", min_hits=3),)


@dataclass(frozen=True)
class LhcbMatchConfig:
    """Cuts of the LHCb matching.

    Args:
        matching_fraction: a track matches a particle when at least this fraction of its hits come from
            it (default 0.7).
        min_track_hits: tracks with fewer hits are ignored (default 1: all tracks count).
        categories: the particle categories (default: LHCb's, then the generic "all").
    """

    matching_fraction: float = 0.7
    min_track_hits: int = 1
    categories: tuple[Category, ...] = field(default=LHCB_CATEGORIES + GENERIC_CATEGORIES)

    def __post_init__(self) -> None:
        if not 0 < self.matching_fraction <= 1:
            raise ValueError(f"matching_fraction must lie in (0, 1], got {self.matching_fraction}")
        if self.min_track_hits < 1:
            raise ValueError(f"min_track_hits must be at least 1, got {self.min_track_hits}")
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError(f"category names repeat: {names}")


def hit_particle_links(event: Event, particle_id: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(hit row, particle id) of every link between a hit and a particle that left it (module docstring)."""
    links = event.meta.get("hit_particles")
    if links is not None:
        rows, pids = (as_numpy(a).astype(np.int64, copy=False).reshape(-1) for a in links)
        if len(rows) != len(pids):
            raise ValueError(f"event {event.event_id}: meta['hit_particles'] arrays differ in length")
        if len(rows) and (rows.min() < 0 or rows.max() >= event.num_hits):
            raise ValueError(
                f"event {event.event_id}: meta['hit_particles'] has hit rows outside [0, {event.num_hits})"
            )
        keep = pids != 0
        return rows[keep], pids[keep]
    pid = as_numpy(event.particle_id if particle_id is None else particle_id).astype(np.int64, copy=False)
    rows = np.flatnonzero(pid != 0)
    return rows, pid[rows]


def _category_mask(category: Category, event: Event, nhits_in_event: np.ndarray) -> np.ndarray:
    """Bool mask over the particle table rows in ``category`` (the table must have its columns)."""
    table = event.particles
    assert table is not None
    extra = {k: as_numpy(v) for k, v in table.extra.items()}
    mask = np.ones(len(table), dtype=bool)
    for flag in category.flags:
        mask &= extra[flag] != 0
    if category.p_min is not None:
        mask &= extra["p"] > category.p_min
    if category.exclude_pdg:
        mask &= ~np.isin(np.abs(extra["pdg"]), np.asarray(category.exclude_pdg))
    if category.min_hits:
        mask &= nhits_in_event >= category.min_hits
    return mask


def _first_per_group(keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal ``keys`` (sorted)."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


class LhcbMetrics:
    """Accumulates LHCb matching over events: counts are summed, then rates are taken.

    Example::

        metrics = LhcbMetrics()
        for event in events:
            metrics.add(event)          # event.track_labels, or metrics.add(event, labels)
        summary = metrics.result()
    """

    def __init__(self, config: LhcbMatchConfig | None = None) -> None:
        self.config = config or LhcbMatchConfig()
        self.n_events = 0
        self.n_tracks = 0
        self.n_ghosts = 0
        self._ghost_rates: list[float] = []
        self.skipped: dict[str, list[str]] = {}
        self._evaluated: set[str] = set()
        keys = ("n_particles", "n_reconstructed", "n_clones", "n_assigned", "purity_sum", "hit_efficiency_sum")
        self.categories: dict[str, dict[str, float]] = {c.name: dict.fromkeys(keys, 0) for c in self.config.categories}
        self._efficiencies: dict[str, list[float]] = {c.name: [] for c in self.config.categories}

    def add(self, event: Event, track_labels: Any = None) -> dict[str, Any]:
        """Match one event and add its counts; returns that event's counts."""
        cfg = self.config
        pid, labels = truth_and_labels(event, track_labels, "LhcbMetrics.add")
        link_rows, link_pids = hit_particle_links(event, pid)

        track_ids, track_nhits = np.unique(labels[labels >= 0], return_counts=True)
        keep = track_nhits >= cfg.min_track_hits
        track_ids, track_nhits = track_ids[keep], track_nhits[keep]

        # (track, particle) pairs over the links on counted tracks, with their weights
        link_track = labels[link_rows]
        on_track = np.isin(link_track, track_ids)
        pairs, pair_n = np.unique(np.stack([link_track[on_track], link_pids[on_track]]), axis=1, return_counts=True)
        track_pos = np.searchsorted(track_ids, pairs[0])
        pair_weight = pair_n / track_nhits[track_pos]
        pair_ok = (pair_weight >= cfg.matching_fraction - _TOLERANCE) & (track_nhits[track_pos] >= 2)

        matched = np.zeros(len(track_ids), dtype=bool)
        matched[track_pos[pair_ok]] = True
        n_tracks, n_ghosts = len(track_ids), int((~matched).sum())
        self.n_events += 1
        self.n_tracks += n_tracks
        self.n_ghosts += n_ghosts
        if n_tracks:
            self._ghost_rates.append(n_ghosts / n_tracks)
        out: dict[str, Any] = {"n_tracks": n_tracks, "n_ghosts": n_ghosts, "categories": {}}

        # hits per particle (links), for hit efficiency and min_hits
        link_p, link_p_n = np.unique(link_pids, return_counts=True)
        table_ids = np.empty(0, dtype=np.int64)
        table_nhits = np.empty(0, dtype=np.int64)
        if event.particles is not None:
            table_ids = as_numpy(event.particles.particle_id).astype(np.int64, copy=False)
            rows, found = lookup_rows(link_p, table_ids)
            table_nhits = np.zeros(len(table_ids), dtype=np.int64)
            table_nhits[found] = link_p_n[rows[found]]

        available = set(event.particles.extra) if event.particles is not None else set()
        for category in cfg.categories:
            missing = [c for c in category.columns() if c not in available]
            if event.particles is None or missing:
                why = "no particle table" if event.particles is None else f"columns {missing} absent"
                self.skipped.setdefault(category.name, []).append(f"event {event.event_id}: {why}")
                continue
            members = np.sort(table_ids[_category_mask(category, event, table_nhits)])
            counts = self._category_counts(members, pairs, pair_n, pair_weight, pair_ok, {"id": link_p, "n": link_p_n})
            self._evaluated.add(category.name)
            acc = self.categories[category.name]
            for key, value in counts.items():
                acc[key] += value
            if counts["n_particles"]:
                self._efficiencies[category.name].append(counts["n_reconstructed"] / counts["n_particles"])
            out["categories"][category.name] = counts
        return out

    @staticmethod
    def _category_counts(
        members: np.ndarray,
        pairs: np.ndarray,
        pair_n: np.ndarray,
        pair_weight: np.ndarray,
        pair_ok: np.ndarray,
        particle_nhits: dict[str, np.ndarray],
    ) -> dict[str, Any]:
        in_cat = np.isin(pairs[1], members) & pair_ok
        # assign each track to its best particle of the category: sort by track, weight down, id up
        tracks, pids, weights, n_on_track = pairs[0, in_cat], pairs[1, in_cat], pair_weight[in_cat], pair_n[in_cat]
        order = np.lexsort((pids, -weights, tracks))
        best = order[_first_per_group(tracks[order])]
        a_pids = pids[best]
        n_clones = len(a_pids) - len(np.unique(a_pids))
        p_total = particle_nhits["n"][np.searchsorted(particle_nhits["id"], a_pids)]
        return {
            "n_particles": len(members),
            "n_reconstructed": len(np.unique(pids)),
            "n_clones": int(n_clones),
            "n_assigned": len(a_pids),
            "purity_sum": float(weights[best].sum()),
            "hit_efficiency_sum": float((n_on_track[best] / p_total).sum()),
        }

    def result(self) -> dict[str, Any]:
        """Ghost rate, per-category efficiency / clone rate / hit purity / hit efficiency, and the counts."""
        categories: dict[str, Any] = {}
        for name, c in self.categories.items():
            if name not in self._evaluated:
                continue
            eff = self._efficiencies[name]
            categories[name] = {
                "efficiency": ratio(c["n_reconstructed"], c["n_particles"]),
                "clone_rate": ratio(c["n_clones"], c["n_reconstructed"]),
                "hit_purity": ratio(c["purity_sum"], c["n_assigned"]),
                "hit_efficiency": ratio(c["hit_efficiency_sum"], c["n_assigned"]),
                "efficiency_event_average": float(np.mean(eff)) if eff else float("nan"),
                "n_particles": int(c["n_particles"]),
                "n_reconstructed": int(c["n_reconstructed"]),
                "n_clones": int(c["n_clones"]),
            }
        return {
            "matching": "lhcb",
            "n_events": self.n_events,
            "n_tracks": self.n_tracks,
            "n_ghosts": self.n_ghosts,
            "ghost_rate": ratio(self.n_ghosts, self.n_tracks),
            "ghost_rate_event_average": float(np.mean(self._ghost_rates)) if self._ghost_rates else float("nan"),
            "categories": categories,
            "categories_skipped": {name: why[0] for name, why in self.skipped.items()},
            "config": {
                "matching_fraction": self.config.matching_fraction,
                "min_track_hits": self.config.min_track_hits,
                "categories": [asdict(c) for c in self.config.categories],
            },
        }


def lhcb_metrics(
    events: Iterable[Event], config: LhcbMatchConfig | None = None, track_labels: Any = None
) -> dict[str, Any]:
    """:meth:`LhcbMetrics.result` over ``events`` (their own ``track_labels``)."""
    metrics = LhcbMetrics(config)
    for event in events:
        metrics.add(event, track_labels)
    return metrics.result()
