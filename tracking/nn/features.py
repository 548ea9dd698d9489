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

Triplet features (the default since ``FEATURES_VERSION`` 3; 10 edge features in all). They look one
edge further along the track, as the triplet cuts of the ACTS / GNN4ITk module map do, and make the
edges of real tracks separable from combinatorial ones before any message passing:

================  ===================================================================================
name              value
================  ===================================================================================
``curvature``     kappa_0 / 2: signed curvature (1/m) of the circle through the beam line (x = y = 0),
                  src and dst; pT [GeV] ~ 0.6 / kappa_0 in 2 T. Clamped to +-5
``triplet_in``    best match with an edge ``k -> src`` of the same graph: min over those edges of
                  chi2 = ((kappa_0 - kappa_0') / 0.05 m^-1)^2 + ((theta - theta') / 0.005)^2, where theta is
                  the segment's polar angle; reported as log1p(min(chi2, 1e6)) / log1p(1e6) in [0, 1]
                  (1 = no matching edge, or none at all)
``triplet_out``   the same with the edges ``dst -> k``
================  ===================================================================================

They depend on the graph: the same edge scores differently in a pruned graph, which is why every
edge classifier computes them on the graph it is given. The doublet features depend on the edge alone:
an edge classifier hands its features on (``Event.edge_features``, pruned with the edges) and the next
one reuses their doublet columns (``known=`` of :func:`edge_features`), recomputing only the triplets.
Checkpoints with 7 edge inputs (doublet features only, ``FEATURES_VERSION`` 2) keep working:
:func:`edge_features` takes the width.

Every scale above is a field of a :class:`tracking.detector.DetectorDescription`; the values given are
those of :data:`tracking.detector.BUILTIN` (the default), which reproduces these features bit for bit.
A description fitted to another detector scales them to its size; one with no field
(``field_tesla: 0``) gives straight-line features: ``curvature`` becomes the signed distance d0 (mm) of
the edge's line from the beam line (0 for a straight track from it), times ``curvature_scale``, and
the triplet matches compare d0 instead of kappa_0 (two segments of one straight track lie on one line,
so they share d0 and polar angle).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._native import core
from ..detector import BUILTIN, DetectorDescription
from ..errors import DataError
from ..event import Event

NODE_FEATURE_NAMES: tuple[str, ...] = ("r", "phi", "z", "eta")
DOUBLET_FEATURE_NAMES: tuple[str, ...] = ("dr", "dphi", "dz", "deta", "phi_slope", "rphi_slope", "z0")
TRIPLET_FEATURE_NAMES: tuple[str, ...] = ("curvature", "triplet_in", "triplet_out")
EDGE_FEATURE_NAMES: tuple[str, ...] = DOUBLET_FEATURE_NAMES + TRIPLET_FEATURE_NAMES
NUM_NODE_FEATURES = len(NODE_FEATURE_NAMES)
NUM_EDGE_FEATURES = len(EDGE_FEATURE_NAMES)
NUM_DOUBLET_FEATURES = len(DOUBLET_FEATURE_NAMES)
# Widths a model may be trained with: none, doublets only (FEATURES_VERSION 2 checkpoints), all.
EDGE_FEATURE_WIDTHS: tuple[int, ...] = (0, NUM_DOUBLET_FEATURES, NUM_EDGE_FEATURES)

# The built-in detector's scales (tracking.detector.BUILTIN holds the same values; the features read them there).
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
CURVATURE_CLAMP = 5.0  # after scaling: kappa_0 / 2 = 5 is pT ~ 0.06 GeV
TRIPLET_KAPPA_SCALE = 0.05  # 1/m: curvature agreement of two segments of one track (resolution + scattering)
TRIPLET_THETA_SCALE = 0.005  # rad: polar-angle agreement
TRIPLET_CHI2_MAX = 1e6
# Bump when the features change: cached training graphs are keyed by it.
FEATURES_VERSION = 3


def _tensor(value, device: torch.device | None = None) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    return t.to(device=device, dtype=torch.float32)


def wrap_phi(dphi: torch.Tensor) -> torch.Tensor:
    """Angle differences wrapped into [-pi, pi)."""
    return torch.remainder(dphi + math.pi, 2 * math.pi) - math.pi


def compute_node_features(
    r: torch.Tensor,
    phi: torch.Tensor,
    z: torch.Tensor,
    eta: torch.Tensor,
    detector: DetectorDescription = BUILTIN,
) -> torch.Tensor:
    """float32 ``[N, 4]``: scaled ``(r, phi, z, eta)`` (see the module docstring)."""
    d = detector
    return torch.stack([r / d.r_scale, phi / d.phi_scale, z / d.z_scale, eta / d.eta_scale], dim=1).float()


def compute_edge_features(
    r: torch.Tensor,
    phi: torch.Tensor,
    z: torch.Tensor,
    eta: torch.Tensor,
    edge_index: torch.Tensor,
    detector: DetectorDescription = BUILTIN,
) -> torch.Tensor:
    """float32 ``[E, 7]``: the doublet features of each edge ``edge_index[0] -> edge_index[1]``
    from unscaled hit coordinates (mm, rad); see the module docstring for the definitions."""
    d = detector
    native = _native_doublets(r, phi, z, eta, edge_index, d)
    if native is not None:
        return native
    src, dst = edge_index[0], edge_index[1]
    r_src, r_dst = r[src], r[dst]
    z_src, z_dst = z[src], z[dst]
    dr = r_dst - r_src
    dphi = wrap_phi(phi[dst] - phi[src])
    dz = z_dst - z_src
    deta = eta[dst] - eta[src]
    sign = torch.where(dr < 0, -1.0, 1.0).to(dr.dtype)
    dr_safe = torch.where(dr.abs() < d.min_abs_dr, sign * d.min_abs_dr, dr)
    phi_slope = dphi / dr_safe
    rphi_slope = 0.5 * (r_src + r_dst) * phi_slope
    z0 = z_src - r_src * dz / dr_safe
    return torch.stack(
        [
            dr / d.r_scale,
            dphi / d.phi_scale,
            dz / d.z_scale,
            deta / d.eta_scale,
            (phi_slope * d.phi_slope_scale).clamp(-d.phi_slope_clamp, d.phi_slope_clamp),
            rphi_slope.clamp(-d.rphi_slope_clamp, d.rphi_slope_clamp),
            (z0 / d.z_scale).clamp(-d.z0_clamp, d.z0_clamp),
        ],
        dim=1,
    ).float()


_DOUBLET_SCALES = (
    "r_scale",
    "phi_scale",
    "z_scale",
    "eta_scale",
    "min_abs_dr",
    "phi_slope_scale",
    "phi_slope_clamp",
    "rphi_slope_clamp",
    "z0_clamp",
)


def _native_doublets(
    r: torch.Tensor,
    phi: torch.Tensor,
    z: torch.Tensor,
    eta: torch.Tensor,
    edge_index: torch.Tensor,
    detector: DetectorDescription,
) -> torch.Tensor | None:
    """The doublet features by the native kernel (one pass, the same float32 operations: the same values)
    for float32 CPU inputs outside tracing and autograd; None otherwise (the torch form runs)."""
    from . import fused

    coords = (r, phi, z, eta)
    if (
        edge_index.device.type != "cpu"
        or edge_index.dtype != torch.int64
        or edge_index.ndim != 2
        or not fused.applies(*coords)  # on, CPU float32 contiguous, no tracing or autograd
    ):
        return None
    src, dst = (edge_index[i].contiguous().numpy() for i in (0, 1))
    out = torch.empty((edge_index.shape[1], NUM_DOUBLET_FEATURES), dtype=torch.float32)
    _doublet_kernel([c.numpy() for c in coords], src, dst, detector, out)
    return out


def _doublet_kernel(
    coords: list[np.ndarray], src: np.ndarray, dst: np.ndarray, detector: DetectorDescription, out: torch.Tensor
) -> None:
    """Write the doublet features of the edges ``src -> dst`` into the first ``NUM_DOUBLET_FEATURES``
    columns of the float32 ``[E, width]`` buffer ``out`` (the native kernel; ``coords`` = r, phi, z, eta)."""
    scales = {name: float(getattr(detector, name)) for name in _DOUBLET_SCALES}
    r, phi, z, eta = coords
    core.doublet_features_cpu(r, phi, z, eta, src, dst, scales, out.numpy(), out.shape[1], torch.get_num_threads())


def _native_edge_features(
    event: Event,
    edge_index: torch.Tensor,
    width: int,
    detector: DetectorDescription,
    known: torch.Tensor | None,
) -> torch.Tensor | None:
    """All ``width`` edge features by the native kernels, written into one ``[E, width]`` buffer (no
    gathered float64 copies, no concatenation): the doublets bit for bit, the triplets to within one float32
    unit in the last place (the C library's float64 hypot/atan2/log1p where torch uses SLEEF's). None when
    the inputs are not float32 CPU tensors outside tracing and autograd, or the kernels are off."""
    from . import fused

    if edge_index.device.type != "cpu" or edge_index.dtype != torch.int64 or edge_index.ndim != 2:
        return None
    names: tuple[str, ...] = ("r", "phi", "z", "eta") if known is None else ()
    if width == NUM_EDGE_FEATURES:
        names += ("x", "y") + (("z",) if known is not None else ())
    coords = {name: _tensor(getattr(event, name), edge_index.device) for name in names}
    if not fused.applies(*coords.values()):
        return None
    src, dst = (edge_index[i].contiguous().numpy() for i in (0, 1))
    out = torch.empty((edge_index.shape[1], width), dtype=torch.float32)
    threads = torch.get_num_threads()
    d = detector
    if known is not None:
        out[:, :NUM_DOUBLET_FEATURES] = known[:, :NUM_DOUBLET_FEATURES]
    else:
        _doublet_kernel([coords[name].numpy() for name in ("r", "phi", "z", "eta")], src, dst, d, out)
    if width == NUM_EDGE_FEATURES:
        scales = {
            "kappa_scale": float(d.triplet_kappa_scale),
            "theta_scale": float(d.triplet_theta_scale),
            "chi2_max": float(d.triplet_chi2_max),
            "log_chi2_max": math.log1p(d.triplet_chi2_max),
            "curvature_scale": float(d.curvature_scale),
            "curvature_clamp": float(d.curvature_clamp),
            "straight": bool(d.straight),
        }
        x, y, z = (coords[name].numpy() for name in ("x", "y", "z"))
        core.triplet_features_cpu(x, y, z, src, dst, scales, out.numpy(), width, NUM_DOUBLET_FEATURES, threads)
    return out


def _segment_shape(
    x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, edge_index: torch.Tensor, straight: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kappa_0 [1/m], theta)`` of each edge: the signed curvature of the circle through the beam line
    and the edge's two hits, and the polar angle of the segment (float64 for the small differences).
    ``straight``: d0 [mm], the signed distance of the edge's line from the beam line, instead of kappa_0."""
    src, dst = edge_index[0], edge_index[1]
    x1, y1, x2, y2 = x[src], y[src], x[dst], y[dst]
    cross = x1 * y2 - y1 * x2
    if straight:
        chord = torch.hypot(x2 - x1, y2 - y1)
        return cross / chord.clamp_min(1e-9), torch.atan2(chord, z[dst] - z[src])
    # kappa = 2 sin(angle at the origin) / chord = 2 cross / (|p1| |p2| |p2 - p1|)
    norm = torch.hypot(x1, y1) * torch.hypot(x2, y2) * torch.hypot(x2 - x1, y2 - y1)
    kappa = 2.0 * cross / norm.clamp_min(1e-9) * 1000.0
    theta = torch.atan2(torch.hypot(x2 - x1, y2 - y1), z[dst] - z[src])
    return kappa, theta


def compute_triplet_features(
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    edge_index: torch.Tensor,
    num_nodes: int,
    backend: str = "auto",
    detector: DetectorDescription = BUILTIN,
) -> torch.Tensor:
    """float32 ``[E, 3]``: ``curvature, triplet_in, triplet_out`` of each edge of ``edge_index`` within
    that graph (see the module docstring), from hit coordinates in mm.

    Every pair of edges ``e = a -> b``, ``f = b -> c`` sharing the middle hit is a triplet; the best
    chi2 of ``e`` over its ``f`` is its ``triplet_out`` and of ``f`` over its ``e`` its ``triplet_in``
    (:func:`tracking.ops.triplet_best`: native on the CPU, torch on CUDA; ``backend`` picks one).
    """
    from ..ops import triplet_best

    device = edge_index.device
    x, y, z = (t.to(device=device, dtype=torch.float64) for t in (x, y, z))
    if edge_index.shape[1] == 0:
        return torch.zeros(0, 3, dtype=torch.float32, device=device)
    d = detector
    kappa, theta = _segment_shape(x, y, z, edge_index, straight=d.straight)
    best_in, best_out = triplet_best(
        edge_index,
        num_nodes,
        kappa,
        theta,
        d.triplet_kappa_scale,
        d.triplet_theta_scale,
        d.triplet_chi2_max,
        backend=backend,
    )
    scale = math.log1p(d.triplet_chi2_max)
    return torch.stack(
        [
            (kappa * d.curvature_scale).clamp(-d.curvature_clamp, d.curvature_clamp),
            torch.log1p(best_in) / scale,
            torch.log1p(best_out) / scale,
        ],
        dim=1,
    ).float()


def _hit_coordinates(
    event: Event, device: torch.device | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r, phi, z, eta = (_tensor(getattr(event, name), device) for name in ("r", "phi", "z", "eta"))
    return r, phi, z, eta


def node_features(
    event: Event, device: str | torch.device | None = None, *, detector: DetectorDescription = BUILTIN
) -> torch.Tensor:
    """float32 ``[N, 4]`` node features of ``event`` on ``device`` (default: the event's device), scaled
    for ``detector``."""
    dev = torch.device(device) if device is not None else event.device
    return compute_node_features(*_hit_coordinates(event, dev), detector=detector)


def edge_features(
    event: Event,
    edge_index: torch.Tensor | None = None,
    device: str | torch.device | None = None,
    width: int = NUM_EDGE_FEATURES,
    triplet_backend: str = "auto",
    *,
    detector: DetectorDescription = BUILTIN,
    known: torch.Tensor | None = None,
) -> torch.Tensor:
    """float32 ``[E, width]`` edge features of ``edge_index`` (default: ``event.edge_index``) on
    ``device`` (default: the event's device). ``width`` 10 (default): doublet and triplet features,
    the triplets taken within ``edge_index``; 7: doublet features only (older checkpoints).
    ``triplet_backend``: see :func:`tracking.ops.triplet_best` (the benchmarks' reference uses torch).
    ``detector``: the scales and field (:data:`tracking.detector.BUILTIN` by default).
    ``known``: features of the same edges computed before for the same ``detector`` (e.g. by an earlier
    edge classifier on a larger graph, then pruned with it), at least the doublet columns: those are
    taken from it (the same values, bit for bit) and only the graph-dependent triplets are computed.
    On the CPU (float32 coordinates, no autograd, the kernels of :mod:`tracking.nn.fused` on) native kernels
    write every column into one buffer: the doublets bit for bit, the triplets to within one float32 unit
    in the last place of the torch form (``triplet_backend="torch"`` runs the torch form)."""
    if width not in EDGE_FEATURE_WIDTHS[1:]:
        raise ValueError(f"edge feature width must be one of {EDGE_FEATURE_WIDTHS[1:]}, got {width}")
    dev = torch.device(device) if device is not None else event.device
    if edge_index is None:
        edge_index = event.edge_index
        if edge_index is None:
            raise DataError("event has no edge_index to compute edge features for", event=event.event_id)
    ei = torch.from_numpy(np.ascontiguousarray(edge_index)) if isinstance(edge_index, np.ndarray) else edge_index
    ei = ei.to(dev)
    if known is not None:
        if known.ndim != 2 or known.shape[0] != ei.shape[1] or known.shape[1] < NUM_DOUBLET_FEATURES:
            raise ValueError(
                f"known features must have shape [{ei.shape[1]}, >= {NUM_DOUBLET_FEATURES}], got {tuple(known.shape)}"
            )
        known = known.to(device=dev, dtype=torch.float32)
    if triplet_backend != "torch" or width == NUM_DOUBLET_FEATURES:
        native = _native_edge_features(event, ei, width, detector, known)
        if native is not None:
            return native
    if known is not None:
        doublets = known[:, :NUM_DOUBLET_FEATURES].contiguous()
    else:
        doublets = compute_edge_features(*_hit_coordinates(event, dev), ei, detector=detector)
    if width == NUM_DOUBLET_FEATURES:
        return doublets
    x, y, z = (_tensor(getattr(event, name), dev) for name in ("x", "y", "z"))
    triplets = compute_triplet_features(x, y, z, ei, event.num_hits, backend=triplet_backend, detector=detector)
    return torch.cat([doublets, triplets], dim=1)
