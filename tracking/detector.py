"""What the pipeline knows about a detector: the scales of its coordinates, its magnetic field or the absence
of one, where its tracks start, and which module numbering its maps were learned on.

A :class:`DetectorDescription` is data: :data:`BUILTIN` is the built-in TrackML-like detector (its values
are the constants the features used before descriptions existed, so that existing checkpoints and the
shipped pipeline give the same scores), :func:`fit_description` derives one from labelled events of any
detector, and :meth:`DetectorDescription.save` / :meth:`~DetectorDescription.load` keep it beside the maps
and models it was used with. :mod:`tracking.nn.features` takes its scales and field from it, the
walk-through track builder its start order, and module maps its numbering.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from .arrays import as_numpy
from .config import Range, build, to_plain
from .errors import ConfigError, DataError
from .event import Event

__all__ = [
    "BUILTIN",
    "BUILTIN_NUMBERING",
    "DetectorDescription",
    "TrackStart",
    "fit_description",
    "load_description",
    "numbering_of",
]

TrackStart = Literal["radius", "distance"]
BUILTIN_NUMBERING = "trackml-sim"  # the simulation's (= TrackML's) volume/layer/module numbering
DESCRIPTION_VERSION = 1
GEV_PER_TESLA_METRE = 0.299792458  # pT [GeV] = 0.2998 * B [T] * R [m] for a unit charge


@dataclass
class DetectorDescription:
    """What the pipeline knows about a detector: data, fitted from events or built in; recorded with every
    map and model.

    Feature scales (see :mod:`tracking.nn.features` for the features they scale): coordinates are divided
    by ``r_scale``, ``z_scale``, ``phi_scale``, ``eta_scale``; ``dphi/dr`` (rad/mm) is multiplied by
    ``phi_slope_scale``. The per-edge curvature measure is the signed curvature kappa_0 (1/m) of the
    circle through the beam line and the edge's hits when there is a field, and the signed distance d0
    (mm) of the edge's straight line from the beam line when ``field_tesla`` is 0 (straight tracks); its
    feature is ``measure * curvature_scale`` clamped to ``+-curvature_clamp``, and two segments of one
    track agree in it within ``triplet_kappa_scale`` (same units) and in polar angle within
    ``triplet_theta_scale`` (rad).
    """

    name: str = "trackml"  # free text
    field_tesla: Annotated[float, Range(ge=0)] = 2.0  # solenoid Bz; 0 = no field -> straight-line features
    r_scale: Annotated[float, Range(gt=0)] = 1000.0  # mm
    z_scale: Annotated[float, Range(gt=0)] = 1000.0  # mm
    phi_scale: Annotated[float, Range(gt=0)] = math.pi
    eta_scale: Annotated[float, Range(gt=0)] = 4.0
    phi_slope_scale: Annotated[float, Range(gt=0)] = 1000.0  # multiplies dphi/dr in rad/mm
    min_abs_dr: Annotated[float, Range(gt=0)] = 1e-3  # mm: slopes divide by dr clamped away from 0
    phi_slope_clamp: Annotated[float, Range(gt=0)] = 10.0  # after scaling
    rphi_slope_clamp: Annotated[float, Range(gt=0)] = 10.0
    z0_clamp: Annotated[float, Range(gt=0)] = 1.0  # after scaling by z_scale
    curvature_scale: Annotated[float, Range(gt=0)] = 0.5  # kappa_0 [1/m] (field) or d0 [mm] (no field)
    curvature_clamp: Annotated[float, Range(gt=0)] = 5.0  # after scaling
    triplet_kappa_scale: Annotated[float, Range(gt=0)] = 0.05  # 1/m (field) or mm (no field)
    triplet_theta_scale: Annotated[float, Range(gt=0)] = 0.005  # rad
    triplet_chi2_max: Annotated[float, Range(gt=1)] = 1e6
    # walk order: smallest radius (barrel / solenoid detectors) or smallest distance from the origin
    # (forward detectors, whose tracks run along z and barely change radius)
    track_start: TrackStart = "radius"
    beam_spot: tuple[float, float, float] = (0.0, 0.0, 0.0)  # mm: where ``distance`` is measured from
    numbering: str = BUILTIN_NUMBERING  # identity of the (volume, layer, module) numbering
    # what the fit saw (for the report; None / 0 when built in)
    events: Annotated[int, Range(ge=0)] = 0
    hits_per_particle_median: float | None = None
    short_particle_fraction: float | None = None  # particles with < 6 hits
    version: int = DESCRIPTION_VERSION

    def __post_init__(self) -> None:
        if self.version > DESCRIPTION_VERSION:
            raise ValueError(
                f"detector description version {self.version} is newer than this trackpipe reads "
                f"({DESCRIPTION_VERSION})"
            )

    def start_order(self, event: Event):
        """Per hit, the quantity whose smallest values start tracks (``track_start``): the event's ``r``, or
        the 3D distance from ``beam_spot``; numpy or torch like the event."""
        if self.track_start == "radius":
            return event.r
        bx, by, bz = self.beam_spot
        x, y, z = event.x - bx, event.y - by, event.z - bz
        lib: Any = np if isinstance(x, np.ndarray) else __import__("torch")
        return lib.sqrt(x * x + y * y + z * z)

    @property
    def straight(self) -> bool:
        """Whether tracks are straight lines (no field): the features use straight-line measures."""
        return self.field_tesla == 0

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "detector") -> DetectorDescription:
        """Built and validated with :func:`tracking.config.build` (``ConfigError`` naming the key)."""
        return build(cls, d, where=where)

    def key(self) -> str:
        """A short stable digest of everything that changes features (cache keys of training graphs)."""
        d = self.to_dict()
        for k in ("name", "events", "hits_per_particle_median", "short_particle_fraction"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as YAML, atomically."""
        import yaml

        from .atomic import atomic_output

        with atomic_output(path) as tmp, open(tmp, "w") as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DetectorDescription:
        """Read a description written by :meth:`save`; ``DataError``/``ConfigError`` naming the file."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise DataError("detector description not found", file=str(path))
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise DataError(f"not a readable YAML detector description: {err}", file=str(path)) from None
        return cls.from_dict(values, where=f"detector {path}")


BUILTIN = DetectorDescription()


def load_description(value: DetectorDescription | str | os.PathLike[str] | None) -> DetectorDescription:
    """A description from a config value: None or ``builtin`` = :data:`BUILTIN`, else a YAML path."""
    if value is None or isinstance(value, DetectorDescription):
        return value or BUILTIN
    if str(value) == "builtin" or (Path(value).name == "builtin" and not Path(value).exists()):
        return BUILTIN  # also a "builtin" that a pipeline file's directory was prefixed to
    return DetectorDescription.load(value)


# -- module numbering -----------------------------------------------------------------------------------


def numbering_of(keys: np.ndarray, agreement: float | None) -> str:
    """The numbering identity of a set of packed module keys (:mod:`tracking.io.module_keys`):
    :data:`BUILTIN_NUMBERING` when the hits' module ids agree with the built-in detector's nominal module
    at their positions (``agreement`` >= the fraction ``module_ids: auto`` uses), else a digest of the
    id set (``"ids-..."``), so that maps and events of one numbering can be told from another's."""
    from .modulemap.module_ids import NOMINAL_AGREEMENT_MIN

    if agreement is not None and agreement >= NOMINAL_AGREEMENT_MIN:
        return BUILTIN_NUMBERING
    keys = np.unique(np.asarray(keys, dtype=np.int64))
    return "ids-" + hashlib.sha256(keys.astype("<i8").tobytes()).hexdigest()[:16]


class NumberingProbe:
    """Accumulates, event by event, the module keys seen and how often a sample of hits carries the
    built-in detector's nominal module id at its position (see :func:`numbering_of`)."""

    def __init__(self) -> None:
        self.keys: np.ndarray = np.zeros(0, np.int64)
        self.agree = 0
        self.sampled = 0
        self.has_ids = True
        self._resolver: Any = None

    def add(self, event: Event) -> None:
        if event.volume_id is None or event.layer_id is None or event.module_id is None:
            self.has_ids = False
            return
        if not event.num_hits:
            return
        from .io.module_keys import pack_keys
        from .modulemap.module_ids import SAMPLE_HITS, ModuleIdResolver

        try:
            keys = pack_keys(as_numpy(event.volume_id), as_numpy(event.layer_id), as_numpy(event.module_id))
        except ValueError as err:
            raise DataError(str(err), event=event.event_id) from None
        self.keys = np.union1d(self.keys, keys)
        if self._resolver is None:
            self._resolver = ModuleIdResolver("auto")
        step = max(1, event.num_hits // SAMPLE_HITS)
        nominal = self._resolver.nominal_ids(event, step)
        self.agree += int(np.sum(nominal == as_numpy(event.module_id)[::step]))
        self.sampled += len(nominal)

    def numbering(self) -> str:
        if not self.has_ids:
            return "none"
        return numbering_of(self.keys, self.agree / self.sampled if self.sampled else None)


# -- fitting --------------------------------------------------------------------------------------------

_HIT_SAMPLE = 20_000  # hits per event kept for the coordinate quantiles: bounded memory over many events
_COORD_QUANTILE = 0.99  # robust "range" of a coordinate: outliers (noise, loopers) do not set the scale
_MATCH_QUANTILE = 0.9  # triplet scales: 90 % of true consecutive segment pairs agree within one unit
_MIN_PT = 0.5  # GeV: particles used for the field and the triplet scales (no loopers, little scattering)
_ZERO_FIELD_T = 0.05  # a fitted field below this is no field
_DISTANCE_MARGIN = 0.02  # distance start only when it orders true segments clearly better than radius


def _segment_measures(x, y, z, a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(kappa_0 [1/m], d0 [mm], theta)`` of segments ``a -> b`` (float64): the curvature of the circle
    through the beam line and both hits, the straight line's signed distance from the beam line, and the
    polar angle of the segment (the definitions of :mod:`tracking.nn.features`)."""
    x1, y1, x2, y2 = x[a], y[a], x[b], y[b]
    cross = x1 * y2 - y1 * x2
    chord = np.hypot(x2 - x1, y2 - y1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = 2.0 * cross / np.maximum(np.hypot(x1, y1) * np.hypot(x2, y2) * chord, 1e-9) * 1000.0
        d0 = cross / np.maximum(chord, 1e-9)
    theta = np.arctan2(chord, z[b] - z[a])
    return kappa, d0, theta


def _quantile(values: list[np.ndarray], q: float, default: float, floor: float) -> float:
    data = np.concatenate(values) if values else np.zeros(0)
    data = data[np.isfinite(data)]
    if not len(data):
        return default
    return float(max(np.quantile(data, q), floor))


def _round(value: float, digits: int = 4) -> float:
    """Rounded to ``digits`` significant digits: descriptions are read by people and fits are noisy."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def fit_description(
    events: Iterable[Event], *, field_tesla: float | None = None, name: str = ""
) -> DetectorDescription:
    """A :class:`DetectorDescription` of the detector that recorded ``events`` (consumed once, one at a time).

    - scales: the 99 % quantiles of r, |z| and |eta| over the hits (``phi_slope_scale`` = ``r_scale``:
      dphi per detector radius; ``min_abs_dr`` = 1e-6 ``r_scale``);
    - field: ``field_tesla`` when given; else from truth, the median over particles with pT > 0.5 GeV of
      ``kappa * pT / (0.3 q)``, kappa the curvature of the circle through each particle's first, middle
      and last hit; signed, so that straight tracks (whose fitted curvatures are noise of either sign)
      give ~0, and below 0.05 T it is 0;
    - curvature and triplet scales: the spread of the per-segment curvature measure (kappa_0, or d0
      without field) and of its change and of the polar angle's change between consecutive segments of
      true particles (90 % quantiles);
    - ``track_start``: ``distance`` when the distance from the origin orders the hits of true particles
      (as the truth graph orders them, from the vertex outwards) clearly more often than the radius;
    - ``numbering``: :func:`numbering_of` the module ids seen;
    - hits per particle: median and fraction of particles with < 6 hits.

    Without truth the field must be given; scales then come from the coordinates alone.
    """
    rng = np.random.default_rng(0)
    coords: dict[str, list[np.ndarray]] = {"r": [], "z": [], "eta": []}
    field_samples: list[np.ndarray] = []
    measures: dict[str, list[np.ndarray]] = {"kappa": [], "d0": [], "dkappa": [], "dd0": [], "dtheta": []}
    order_votes = np.zeros(3, np.int64)  # segments, radius increases, distance increases
    vertices: list[np.ndarray] = []
    hit_counts: list[np.ndarray] = []
    numbering = NumberingProbe()
    n_events = 0
    for event in events:
        event = event.numpy()
        n_events += 1
        numbering.add(event)
        n = event.num_hits
        pick = rng.choice(n, _HIT_SAMPLE, replace=False) if n > _HIT_SAMPLE else slice(None)
        coords["r"].append(np.asarray(event.r, np.float64)[pick])
        coords["z"].append(np.abs(np.asarray(event.z, np.float64)[pick]))
        coords["eta"].append(np.abs(np.asarray(event.eta, np.float64)[pick]))
        if event.particle_id is not None:
            vertices.append(_vertices(event))
            _add_truth(event, field_samples, measures, order_votes, hit_counts, _beam_spot(vertices))
    if not n_events:
        raise ValueError("fit_description needs at least one event")
    r_scale = _round(_quantile(coords["r"], _COORD_QUANTILE, BUILTIN.r_scale, 1e-3))
    z_scale = _round(_quantile(coords["z"], _COORD_QUANTILE, BUILTIN.z_scale, 1e-3))
    eta_scale = _round(_quantile(coords["eta"], _COORD_QUANTILE, BUILTIN.eta_scale, 1.0))
    has_truth = bool(order_votes[0])
    if field_tesla is None:
        if not field_samples or not len(np.concatenate(field_samples)):
            raise ValueError(
                "cannot fit the magnetic field: the events lack truth particles with pT and charge and >= 3 hits; "
                "give it (field_tesla, 0 for none)"
            )
        fitted = abs(float(np.median(np.concatenate(field_samples))))
        field_tesla = 0.0 if fitted < _ZERO_FIELD_T else _round(fitted, 3)
    straight = field_tesla == 0
    measure, change = ("d0", "dd0") if straight else ("kappa", "dkappa")
    if has_truth:
        spread = _quantile(measures[measure], _MATCH_QUANTILE, 0.0, 0.0)
        # the measure of a typical true segment lands near 1; combinatorial ones reach the clamp
        curvature_scale = 1.0 / spread if spread > 0 else (10.0 / r_scale if straight else BUILTIN.curvature_scale)
        default_kappa = 0.01 * r_scale if straight else BUILTIN.triplet_kappa_scale
        triplet_kappa = _quantile(measures[change], _MATCH_QUANTILE, default_kappa, 1e-3 * default_kappa)
        triplet_theta = _quantile(
            measures["dtheta"], _MATCH_QUANTILE, BUILTIN.triplet_theta_scale, 1e-3 * BUILTIN.triplet_theta_scale
        )
        segments, radius_up, distance_up = (int(v) for v in order_votes)
        track_start: TrackStart = (
            "distance" if distance_up / segments > radius_up / segments + _DISTANCE_MARGIN else "radius"
        )
    else:
        curvature_scale = 10.0 / r_scale if straight else BUILTIN.curvature_scale
        triplet_kappa = 0.01 * r_scale if straight else BUILTIN.triplet_kappa_scale
        triplet_theta = BUILTIN.triplet_theta_scale
        track_start = "radius"
    counts = np.concatenate(hit_counts) if hit_counts else np.zeros(0)
    return DetectorDescription(
        name=name,
        field_tesla=float(field_tesla),
        r_scale=r_scale,
        z_scale=z_scale,
        eta_scale=eta_scale,
        phi_slope_scale=r_scale,
        min_abs_dr=_round(1e-6 * r_scale),
        curvature_scale=_round(curvature_scale),
        triplet_kappa_scale=_round(triplet_kappa),
        triplet_theta_scale=_round(triplet_theta),
        track_start=track_start,
        beam_spot=_beam_spot(vertices),
        numbering=numbering.numbering(),
        events=n_events,
        hits_per_particle_median=float(np.median(counts)) if len(counts) else None,
        short_particle_fraction=_round(float(np.mean(counts < 6))) if len(counts) else None,
    )


def _vertices(event: Event) -> np.ndarray:
    """float64 [P, 3]: production vertices of the event's particles that left hits."""
    if event.particles is None or not len(event.particles):
        return np.zeros((0, 3))
    p = event.particles.numpy()
    seen = np.isin(np.asarray(p.particle_id), as_numpy(event.particle_id))
    return np.stack([np.asarray(c, np.float64)[seen] for c in (p.vx, p.vy, p.vz)], axis=1)


def _beam_spot(vertices: list[np.ndarray]) -> tuple[float, float, float]:
    """The median production vertex (mm, rounded to 10 um): the beam spot, (0, 0, 0) without truth."""
    v = np.concatenate(vertices) if vertices else np.zeros((0, 3))
    if not len(v):
        return (0.0, 0.0, 0.0)
    return tuple(round(float(c), 2) + 0.0 for c in np.median(v, axis=0))  # type: ignore[return-value]


def _add_truth(
    event: Event,
    field_samples: list[np.ndarray],
    measures: dict[str, list[np.ndarray]],
    order_votes: np.ndarray,
    hit_counts: list[np.ndarray],
    beam_spot: tuple[float, float, float],
) -> None:
    """One event's contribution to the truth-based parts of :func:`fit_description`."""
    from .truth import truth_segments

    pid = as_numpy(event.particle_id).astype(np.int64, copy=False)
    x, y, z = (np.asarray(a, np.float64) for a in (event.x, event.y, event.z))
    seg = truth_segments(event)
    if not seg.shape[1]:
        return
    _, counts = np.unique(pid[pid != 0], return_counts=True)
    hit_counts.append(counts)
    r = np.hypot(x, y)
    bx, by, bz = beam_spot
    dist = np.sqrt((x - bx) ** 2 + (y - by) ** 2 + (z - bz) ** 2)
    a, b = seg
    order_votes += [len(a), int(np.sum(r[b] > r[a])), int(np.sum(dist[b] > dist[a]))]

    pt = q = None
    if event.particles is not None and len(event.particles):
        p = event.particles.numpy()
        rows, found = p.lookup(pid)
        pt = np.where(found, np.asarray(p.pt, np.float64)[rows], np.nan)
        q = np.where(found, np.asarray(p.q, np.float64)[rows], np.nan) if p.q is not None else None
    kappa, d0, theta = _segment_measures(x, y, z, a, b)
    # consecutive segments of one particle: the truth segments come sorted by particle, then along it
    pair = np.flatnonzero(b[:-1] == a[1:])
    fast = np.ones(len(a), bool) if pt is None else (pt[a] >= _MIN_PT)
    measures["kappa"].append(np.abs(kappa[fast]))
    measures["d0"].append(np.abs(d0[fast]))
    pair = pair[fast[pair]]
    measures["dkappa"].append(np.abs(kappa[pair + 1] - kappa[pair]))
    measures["dd0"].append(np.abs(d0[pair + 1] - d0[pair]))
    measures["dtheta"].append(np.abs(theta[pair + 1] - theta[pair]))

    if pt is None or q is None:
        return
    # each particle's first, middle and last hit along the track
    starts = np.flatnonzero(np.r_[True, a[1:] != b[:-1]])  # first segment of each chain
    ends = np.r_[starts[1:], len(a)]  # one past its last segment
    n_hits = ends - starts + 1
    ok = n_hits >= 3
    starts, ends, n_hits = starts[ok], ends[ok], n_hits[ok]
    first = a[starts]
    last = b[ends - 1]
    middle = a[starts + (n_hits - 1) // 2]
    ab = np.stack([x[middle] - x[first], y[middle] - y[first]])
    ac = np.stack([x[last] - x[first], y[last] - y[first]])
    bc = ac - ab
    cross = ab[0] * ac[1] - ab[1] * ac[0]
    lengths = np.hypot(*ab) * np.hypot(*ac) * np.hypot(*bc)
    use = (lengths > 0) & (pt[first] >= _MIN_PT) & (q[first] != 0) & np.isfinite(q[first]) & (np.hypot(*ac) > 1.0)
    kappa3 = 2.0 * cross[use] / lengths[use] * 1000.0  # 1/m, signed
    field_samples.append(kappa3 * pt[first][use] / (GEV_PER_TESLA_METRE * q[first][use]))


def description_from_config(value: Any, *, where: str) -> DetectorDescription:
    """A stage's or config's ``detector:`` value (a path, ``builtin`` or a mapping) as a description."""
    if isinstance(value, dict):
        return DetectorDescription.from_dict(value, where=where)
    try:
        return load_description(value)
    except DataError as err:
        raise ConfigError(f"{where}: {err}") from err


def replace(description: DetectorDescription, **changes: Any) -> DetectorDescription:
    """A copy of ``description`` with ``changes`` (validated)."""
    return DetectorDescription.from_dict({**description.to_dict(), **changes})
