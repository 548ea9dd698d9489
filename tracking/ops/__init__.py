"""Validated Python entry points to the native kernels (``tracking._core``).

Wrappers check dtype, shape, contiguity, device and index ranges and raise ``ValueError`` naming the
argument; they allocate outputs on the input's device and hand raw pointers to the kernels.
"""

from __future__ import annotations

from .components import (
    connected_components,
    drop_weak_short_tracks,
    extend_tracks,
    extend_tracks_helix,
    junction_removal,
    walkthrough,
)
from .doublets import CUT_VARIABLES, build_doublets, doublet_cut_variables
from .neighbours import orient_inner_to_outer, radius_graph
from .triplets import triplet_best

__all__ = [
    "CUT_VARIABLES",
    "build_doublets",
    "connected_components",
    "doublet_cut_variables",
    "drop_weak_short_tracks",
    "extend_tracks",
    "extend_tracks_helix",
    "junction_removal",
    "orient_inner_to_outer",
    "radius_graph",
    "triplet_best",
    "walkthrough",
]
