"""How good a connection map is on events with truth: what `trackpipe fit` chooses a map by and what
`trackpipe build-map --val` reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import as_numpy
from ..event import Event
from ..metrics.edges import EdgeMetricsAccumulator, edge_metrics
from .map import ModuleMap


def score_map(connection_map: ModuleMap, events: Sequence[Event], segments: Sequence[np.ndarray]) -> dict[str, Any]:
    """On ``events`` and their target segments (int [2, S] each): ``efficiency`` (segments among the built
    edges), ``unconnected`` (segments whose pair of groups the map has no entry for: no training event showed
    it; the rest of the loss is windows), ``purity`` and ``edges_per_event``."""
    totals = EdgeMetricsAccumulator()
    unconnected = 0
    for event, seg in zip(events, segments, strict=True):
        edges = connection_map.build(event)
        totals.add(edge_metrics(event.replace(edge_index=as_numpy(edges)), segments=seg))
        unconnected += int(np.count_nonzero(~connection_map.connects(event, seg)))
    summary = totals.result()
    return {
        "efficiency": summary["efficiency"],
        "unconnected": unconnected / max(sum(seg.shape[1] for seg in segments), 1),
        "purity": summary["purity"],
        "edges_per_event": summary["n_edges"] / max(len(events), 1),
    }


def connectivity_advice(scores: dict[str, Any], granularity: str) -> str | None:
    """A hint when most of a map's segment loss (and over 0.1 % of the segments) is connectivity: a particle
    that loses one segment is split in two, which costs track efficiency many times over."""
    lost = 1.0 - scores["efficiency"]
    if scores["unconnected"] > 0.5 * lost and scores["unconnected"] > 1e-3:
        return (
            f"{scores['unconnected']:.2%} of the validation target segments join {granularity}s that no training "
            "event connected: a map learned from more training events connects them (or `neighbours`, or layer "
            "granularity)"
        )
    return None
