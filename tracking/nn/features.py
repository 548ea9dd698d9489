"""Input features of the edge classifiers, computed from an :class:`~tracking.event.Event` with torch
on the event's device. This module is the one place that defines them; a trained checkpoint is only
valid with the features it was trained on, so changing a scale here means retraining.

Node features (ACORN / Exa.TrkX use cylindrical coordinates scaled to O(1)):

============  ==================  ==============================
name          value               why this scale
============  ==================  ==============================
``r``         r / 1000            mm -> m; the tracker ends near 1 m
``phi``       phi / pi            in [-1, 1]
``z``         z / 1000            mm -> m; |z| < 3 m
``eta``       eta / 4             |eta| < 4 in acceptance
============  ==================  ==============================

Edge features of a directed edge ``src -> dst`` (the Exa.TrkX doublet quantities):

==============  =====================================================  ===========================
name            value                                                  note
==============  =====================================================  ===========================
``dr``          (r_dst - r_src) / 1000
``dphi``        wrap(phi_dst - phi_src) / pi                           wrapped into [-pi, pi)
``dz``          (z_dst - z_src) / 1000
``deta``        (eta_dst - eta_src) / 4
``phi_slope``   1000 * wrap(dphi) / dr   (rad per mm, dr in mm)        ~0.3 at pT = 1 GeV, 2 T
``rphi_slope``  (r_src + r_dst) / 2 * wrap(dphi) / dr                   dimensionless
``z0``          (z_src - r_src * dz / dr) / 1000                       beam-line intercept, m
==============  =====================================================  ===========================

Slopes divide by ``dr`` clamped away from zero (|dr| >= 1e-3 mm, sign kept), so edges between hits
at equal radius (endcap disks) give large but finite values.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import DataError
from ..event import Event

NODE_FEATURE_NAMES: tuple[str, ...] = ("r", "phi", "z", "eta")
EDGE_FEATURE_NAMES: tuple[str, ...] = ("dr", "dphi", "dz", "deta", "phi_slope", "rphi_slope", "z0")
NUM_NODE_FEATURES = len(NODE_FEATURE_NAMES)
NUM_EDGE_FEATURES = len(EDGE_FEATURE_NAMES)

R_SCALE = 1000.0  # mm
Z_SCALE = 1000.0  # mm
PHI_SCALE = math.pi
ETA_SCALE = 4.0
PHI_SLOPE_SCALE = 1000.0  # rad/mm -> rad/m
MIN_ABS_DR = 1e-3  # mm
# Slopes and z0 diverge for pairs at (nearly) the same radius (overlapping modules of one layer);
# clamping keeps those outliers from dominating the encoders. |phi_slope| of a 0.3 GeV track is
# ~2 rad/m, so +-10 rad/m loses no physics; |z0| <= 1 m covers the luminous region many times over.
PHI_SLOPE_CLAMP = 10.0  # rad/m, after scaling
RPHI_SLOPE_CLAMP = 10.0
Z0_CLAMP = 1.0  # after scaling (m)
# Bump when the features change: cached training graphs are keyed by it.
FEATURES_VERSION = 2


def _tensor(value, device: torch.device | None = None) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    return t.to(device=device, dtype=torch.float32)


def wrap_phi(dphi: torch.Tensor) -> torch.Tensor:
    """Angle differences wrapped into [-pi, pi)."""
    return torch.remainder(dphi + math.pi, 2 * math.pi) - math.pi


def compute_node_features(r: torch.Tensor, phi: torch.Tensor, z: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """float32 ``[N, 4]``: scaled ``(r, phi, z, eta)`` (see the module docstring)."""
    return torch.stack([r / R_SCALE, phi / PHI_SCALE, z / Z_SCALE, eta / ETA_SCALE], dim=1).float()


def compute_edge_features(
    r: torch.Tensor, phi: torch.Tensor, z: torch.Tensor, eta: torch.Tensor, edge_index: torch.Tensor
) -> torch.Tensor:
    """float32 ``[E, 7]``: the doublet features of each edge ``edge_index[0] -> edge_index[1]``
    from unscaled hit coordinates (mm, rad); see the module docstring for the definitions."""
    src, dst = edge_index[0], edge_index[1]
    r_src, r_dst = r[src], r[dst]
    z_src, z_dst = z[src], z[dst]
    dr = r_dst - r_src
    dphi = wrap_phi(phi[dst] - phi[src])
    dz = z_dst - z_src
    deta = eta[dst] - eta[src]
    sign = torch.where(dr < 0, -1.0, 1.0).to(dr.dtype)
    dr_safe = torch.where(dr.abs() < MIN_ABS_DR, sign * MIN_ABS_DR, dr)
    phi_slope = dphi / dr_safe
    rphi_slope = 0.5 * (r_src + r_dst) * phi_slope
    z0 = z_src - r_src * dz / dr_safe
    return torch.stack(
        [
            dr / R_SCALE,
            dphi / PHI_SCALE,
            dz / Z_SCALE,
            deta / ETA_SCALE,
            (phi_slope * PHI_SLOPE_SCALE).clamp(-PHI_SLOPE_CLAMP, PHI_SLOPE_CLAMP),
            rphi_slope.clamp(-RPHI_SLOPE_CLAMP, RPHI_SLOPE_CLAMP),
            (z0 / Z_SCALE).clamp(-Z0_CLAMP, Z0_CLAMP),
        ],
        dim=1,
    ).float()


def _hit_coordinates(event: Event, device: torch.device | None) -> tuple[torch.Tensor, ...]:
    return tuple(_tensor(getattr(event, name), device) for name in ("r", "phi", "z", "eta"))


def node_features(event: Event, device: str | torch.device | None = None) -> torch.Tensor:
    """float32 ``[N, 4]`` node features of ``event`` on ``device`` (default: the event's device)."""
    dev = torch.device(device) if device is not None else event.device
    return compute_node_features(*_hit_coordinates(event, dev))


def edge_features(
    event: Event, edge_index: torch.Tensor | None = None, device: str | torch.device | None = None
) -> torch.Tensor:
    """float32 ``[E, 7]`` edge features of ``edge_index`` (default: ``event.edge_index``) on ``device``
    (default: the event's device)."""
    dev = torch.device(device) if device is not None else event.device
    if edge_index is None:
        edge_index = event.edge_index
        if edge_index is None:
            raise DataError("event has no edge_index to compute edge features for", event=event.event_id)
    ei = torch.from_numpy(np.ascontiguousarray(edge_index)) if isinstance(edge_index, np.ndarray) else edge_index
    return compute_edge_features(*_hit_coordinates(event, dev), ei.to(dev))
