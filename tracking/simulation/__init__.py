"""Fast TrackML-like event simulation: the embedded default data of trackpipe.

``simulate_event(mu, seed, event_id)`` returns one :class:`tracking.Event` with hits and truth;
``simulate_events(n, mu, seed)`` yields several. Geometry in :mod:`.geometry`, numba kernels in
:mod:`.propagate`, the physics knobs in :class:`SimulationConfig`.
"""

from __future__ import annotations

from .generator import SimulationConfig, detector_for, sample_pt, simulate_event, simulate_events
from .geometry import BarrelLayer, Detector, DiskLayer, Ring, trackml_detector

__all__ = [
    "BarrelLayer",
    "Detector",
    "DiskLayer",
    "Ring",
    "SimulationConfig",
    "detector_for",
    "sample_pt",
    "simulate_event",
    "simulate_events",
    "trackml_detector",
]
