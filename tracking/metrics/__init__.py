"""Physics metrics: edge efficiency / purity, track efficiency / fake / duplicate rates, TrackML score.

Definitions are in the docstrings of :mod:`.edges`, :mod:`.tracks` and :mod:`.trackml_score`.
"""

from __future__ import annotations

from ..truth import edge_truth, truth_segments
from .edges import EdgeMetricsAccumulator, edge_metrics
from .plots import plot_efficiency, plot_track_metrics
from .trackml_score import order_weight, particle_generation, pt_weight, trackml_score, trackml_weights
from .tracks import (
    DEFAULT_ETA_BINS,
    DEFAULT_PT_BINS,
    DEFAULT_VERTEX_R_BINS,
    BinnedEfficiency,
    TrackMatchConfig,
    TrackMatching,
    TrackMetrics,
    match_tracks,
    track_metrics,
)

__all__ = [
    "DEFAULT_ETA_BINS",
    "DEFAULT_PT_BINS",
    "DEFAULT_VERTEX_R_BINS",
    "BinnedEfficiency",
    "EdgeMetricsAccumulator",
    "TrackMatchConfig",
    "TrackMatching",
    "TrackMetrics",
    "edge_metrics",
    "edge_truth",
    "match_tracks",
    "order_weight",
    "particle_generation",
    "plot_efficiency",
    "plot_track_metrics",
    "pt_weight",
    "track_metrics",
    "trackml_score",
    "trackml_weights",
    "truth_segments",
]
