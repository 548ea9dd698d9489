"""Edge efficiency and purity of a graph against the truth graph of :mod:`tracking.truth`.

A *truth segment* links two consecutive hits of one particle (ordered by distance from its vertex);
an edge is true when it joins the two hits of a segment, in either direction
(:func:`tracking.truth.edge_truth`). Then

- efficiency = truth segments present among the (kept) edges / truth segments,
- purity = true (kept) edges / (kept) edges,

where "kept" means all edges, or those with ``edge_scores > score_cut`` when scores are given. The
efficiency may be restricted to segments of particles with pT > ``pt_min``; purity is always over every
kept edge (a true edge of a soft particle is not a fake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arrays import as_numpy
from ..event import Event
from ..truth import edge_truth, segments_above_pt, truth_segments
from ._ratio import ratio


def _segment_keys(pairs: np.ndarray, n: int) -> np.ndarray:
    n64 = np.int64(max(n, 1))
    return np.minimum(pairs[0], pairs[1]) * n64 + np.maximum(pairs[0], pairs[1])


def edge_metrics(
    event_or_edge_index: Event | Any,
    *,
    edge_scores: Any = None,
    score_cut: float = 0.5,
    pt_min: float | None = None,
    segments: np.ndarray | None = None,
    num_hits: int | None = None,
) -> dict[str, float | int]:
    """Edge efficiency and purity of one graph.

    Args:
        event_or_edge_index: an :class:`Event` with ``edge_index`` and truth (its ``edge_scores`` are
            used unless ``edge_scores`` is given), or an int64 ``[2, E]`` edge index, in which case
            ``segments`` and ``num_hits`` are required.
        edge_scores: float [E]; when given (or present on the event) only edges with score > ``score_cut``
            are kept.
        score_cut: the cut applied to ``edge_scores`` (default 0.5).
        pt_min: restrict the efficiency to segments of particles with pT > ``pt_min`` GeV (Event only;
            default None = every segment).
        segments: int64 [2, S] truth segments (default: :func:`tracking.truth.truth_segments`).
        num_hits: number of hits (default: the event's).

    Returns:
        ``efficiency`` (found target segments / target segments), ``purity`` (true kept edges / kept
        edges), ``n_edges`` (kept), ``n_true_edges`` (kept and true), ``n_truth_segments`` (target
        segments), ``n_found_segments``. Ratios with a zero denominator are NaN.
    """
    if isinstance(event_or_edge_index, Event):
        event = event_or_edge_index
        if event.edge_index is None:
            raise ValueError(f"edge_metrics: event {event.event_id} has no edge_index")
        edge_index = as_numpy(event.edge_index)
        if edge_scores is None and event.edge_scores is not None:
            edge_scores = event.edge_scores
        n = event.num_hits if num_hits is None else int(num_hits)
        if segments is None:
            segments = truth_segments(event)
        target = segments if pt_min is None else segments_above_pt(event, segments, pt_min)
    else:
        if pt_min is not None:
            raise ValueError("edge_metrics: pt_min needs an Event (the particle table gives pT)")
        if segments is None or num_hits is None:
            raise ValueError("edge_metrics: with a bare edge_index pass segments= and num_hits=")
        edge_index = as_numpy(event_or_edge_index)
        n = int(num_hits)
        target = segments
    edge_index = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    segments = np.asarray(segments, dtype=np.int64).reshape(2, -1)
    target = np.asarray(target, dtype=np.int64).reshape(2, -1)

    if edge_scores is not None:
        scores = as_numpy(edge_scores).reshape(-1)
        if len(scores) != edge_index.shape[1]:
            raise ValueError(
                f"edge_metrics: edge_scores has {len(scores)} entries, edge_index has {edge_index.shape[1]} edges"
            )
        edge_index = edge_index[:, scores > score_cut]

    is_true = edge_truth(edge_index, segments, n)
    found = np.isin(np.unique(_segment_keys(target, n)), _segment_keys(edge_index, n))
    n_target = len(found)
    return {
        "efficiency": ratio(found.sum(), n_target),
        "purity": ratio(is_true.sum(), len(is_true)),
        "n_edges": int(edge_index.shape[1]),
        "n_true_edges": int(is_true.sum()),
        "n_truth_segments": int(n_target),
        "n_found_segments": int(found.sum()),
    }


@dataclass
class EdgeMetricsAccumulator:
    """Sums the counts of :func:`edge_metrics` over events; ratios are taken from the sums."""

    n_edges: int = 0
    n_true_edges: int = 0
    n_truth_segments: int = 0
    n_found_segments: int = 0
    n_events: int = 0

    def add(self, metrics: dict[str, float | int]) -> None:
        """Add one event's :func:`edge_metrics` result."""
        self.n_edges += int(metrics["n_edges"])
        self.n_true_edges += int(metrics["n_true_edges"])
        self.n_truth_segments += int(metrics["n_truth_segments"])
        self.n_found_segments += int(metrics["n_found_segments"])
        self.n_events += 1

    def result(self) -> dict[str, float | int]:
        """Efficiency and purity over every event added, with the summed counts."""
        return {
            "efficiency": ratio(self.n_found_segments, self.n_truth_segments),
            "purity": ratio(self.n_true_edges, self.n_edges),
            "n_edges": self.n_edges,
            "n_true_edges": self.n_true_edges,
            "n_truth_segments": self.n_truth_segments,
            "n_found_segments": self.n_found_segments,
            "n_events": self.n_events,
        }
