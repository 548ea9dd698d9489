"""The TrackML-like detector of the simulation: layers, their module tiling and material.

Numbers are read off the TrackML ``detectors.csv`` (see ../shared/data/trackml): barrel radii and
half-lengths, disk positions, module counts per layer (barrel: ``n_phi x n_z``; endcap: rings of
``n_phi`` modules), module half sizes and readout pitches. Module ids follow TrackML (1-based within a
layer); layer ids are 2, 4, 6, ... counted from the most negative z in the endcaps, from the beam
line outwards in the barrels, exactly as TrackML numbers them.

Modules are flat rectangles (barrel, pixel endcap) or trapezoids (strip endcaps) placed like TrackML
ones, so neighbours overlap and a particle crossing an overlap leaves a hit on both modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BARREL, DISK = 0, 1


@dataclass(frozen=True)
class BarrelLayer:
    """A cylinder of modules at radius ``r``, tiled ``n_phi x n_z``.

    Module centres span ``|z| <= half_z`` (as in detectors.csv), so the layer covers
    ``|z| < half_z + half_v``.
    """

    volume_id: int
    layer_id: int
    r: float
    half_z: float
    n_phi: int
    n_z: int
    half_u: float  # module half width along r*phi (mm)
    half_v: float  # module half length along z (mm)
    pitch_u: float
    pitch_v: float
    x_over_x0: float


@dataclass(frozen=True)
class Ring:
    """One ring of an endcap disk: ``n_phi`` trapezoids centred at radius ``r``."""

    r: float
    n_phi: int
    half_u_min: float  # half width at the inner edge
    half_u_max: float  # half width at the outer edge
    half_v: float  # half length along r


@dataclass(frozen=True)
class DiskLayer:
    """An endcap disk at ``z`` made of rings of modules."""

    volume_id: int
    layer_id: int
    z: float
    rings: tuple[Ring, ...]
    pitch_u: float
    pitch_v: float
    x_over_x0: float

    @property
    def r_min(self) -> float:
        return min(g.r - g.half_v for g in self.rings)

    @property
    def r_max(self) -> float:
        return max(g.r + g.half_v for g in self.rings)


@dataclass(frozen=True)
class Detector:
    """All layers; ``surfaces`` flattens them into the arrays the propagator reads."""

    barrels: tuple[BarrelLayer, ...]
    disks: tuple[DiskLayer, ...]
    layers: tuple = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.barrels) + tuple(self.disks))

    def surface_arrays(self) -> dict[str, np.ndarray]:
        """Per layer (index = surface index): kind, r / z, extent, x/X0, volume and layer ids."""
        n = len(self.layers)
        kind = np.empty(n, np.int64)
        a = np.empty(n, np.float64)  # barrel radius or disk z
        lo = np.empty(n, np.float64)  # barrel -half_z or disk r_min
        hi = np.empty(n, np.float64)  # barrel +half_z or disk r_max
        x0 = np.empty(n, np.float64)
        vol = np.empty(n, np.int32)
        lay = np.empty(n, np.int32)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, BarrelLayer):
                reach = layer.half_z + layer.half_v
                kind[i], a[i], lo[i], hi[i] = BARREL, layer.r, -reach, reach
            else:
                kind[i], a[i], lo[i], hi[i] = DISK, layer.z, layer.r_min, layer.r_max
            x0[i] = layer.x_over_x0
            vol[i], lay[i] = layer.volume_id, layer.layer_id
        return {"kind": kind, "a": a, "lo": lo, "hi": hi, "x_over_x0": x0, "volume_id": vol, "layer_id": lay}

    def module_rows(self) -> dict[str, np.ndarray]:
        """Module rows (a barrel z row or an endcap ring: ``n_phi`` modules evenly spaced in phi).

        ``row_start[i]:row_start[i + 1]`` are the rows of surface ``i``; ``id0`` is the module id of the
        row's first module minus one, so ids run 1..n within a layer, z row (or ring) major.
        """
        rows: list[tuple] = []
        row_start = [0]
        for layer in self.layers:
            first_id = 0
            if isinstance(layer, BarrelLayer):
                centres = np.linspace(-layer.half_z, layer.half_z, layer.n_z)
                for zc in centres:
                    rows.append((zc, layer.n_phi, layer.half_u, layer.half_u, layer.half_v, first_id, layer.r, BARREL))
                    first_id += layer.n_phi
            else:
                for ring in layer.rings:
                    inner = ring.r - ring.half_v
                    rows.append(
                        (ring.r, ring.n_phi, ring.half_u_min, ring.half_u_max, ring.half_v, first_id, inner, DISK)
                    )
                    first_id += ring.n_phi
            row_start.append(len(rows))
        arr = np.array(rows, dtype=np.float64)
        centre, n_phi, hu_min, hu_max, hv, id0, inner, _ = arr.T
        # Widest angular half-extent of a module (at its inner edge for rings) in units of the phi
        # spacing: how many neighbours to test either side of the nominal phi bin.
        half_angle = np.arctan2(np.maximum(hu_min, hu_max), np.maximum(inner, 1.0))
        reach = np.ceil(half_angle / (2 * np.pi / n_phi)).astype(np.int64) + 1
        return {
            "row_start": np.array(row_start, np.int64),
            "centre": centre.copy(),
            "n_phi": n_phi.astype(np.int64),
            "hu_min": hu_min.copy(),
            "hu_max": hu_max.copy(),
            "hv": hv.copy(),
            "id0": id0.astype(np.int64),
            "reach": reach,
        }

    def surface_pitches(self) -> tuple[np.ndarray, np.ndarray]:
        """Readout pitch along u (r*phi) and v (z in barrels, r in endcaps) per surface, mm."""
        return (
            np.array([layer.pitch_u for layer in self.layers]),
            np.array([layer.pitch_v for layer in self.layers]),
        )

    def nominal_module_ids(self, volume_id, layer_id, x, y, z) -> np.ndarray:
        """int64 module id of this detector's nominal module at each hit position (-1 on a layer this
        detector does not have): the z row (barrel) or ring (endcap) with the nearest centre, and the
        phi bin ``floor((phi + pi) / (2 pi) * n_phi)``, numbered as the simulation numbers them.

        Used to read files whose module numbering is not trackpipe's (real TrackML events): a module
        map learned on simulated events applies to their hits through these ids. Hits in the overlap
        of two modules get one of them, where the simulation records a hit in each.
        """
        volume_id, layer_id = np.asarray(volume_id, np.int64), np.asarray(layer_id, np.int64)
        x, y, z = (np.asarray(a, np.float64) for a in (x, y, z))
        out = np.full(len(x), -1, np.int64)
        if len(x) == 0:
            return out
        surfaces, rows = self.surface_arrays(), self.module_rows()
        r = np.hypot(x, y)
        phi = np.arctan2(y, x)
        for s in range(len(surfaces["kind"])):
            hits = np.flatnonzero((volume_id == surfaces["volume_id"][s]) & (layer_id == surfaces["layer_id"][s]))
            if not len(hits):
                continue
            lo, hi = rows["row_start"][s], rows["row_start"][s + 1]
            coordinate = z[hits] if surfaces["kind"][s] == BARREL else r[hits]
            row = lo + np.argmin(np.abs(coordinate[:, None] - rows["centre"][None, lo:hi]), axis=1)
            n_phi = rows["n_phi"][row]
            iphi = np.floor((phi[hits] + np.pi) / (2 * np.pi) * n_phi).astype(np.int64) % n_phi
            out[hits] = rows["id0"][row] + iphi + 1
        return out

    @property
    def num_modules(self) -> int:
        rows = self.module_rows()
        return int(rows["n_phi"].sum())


# TrackML module shapes (detectors.csv: module_minhu, module_maxhu, module_hv, pitch_u, pitch_v).
PIXEL = {"half_u": 8.4, "half_v": 36.0, "pitch_u": 0.05, "pitch_v": 0.05625}
SHORT_STRIP = {"half_u": 24.0, "half_v": 54.0, "pitch_u": 0.08, "pitch_v": 1.2}
LONG_STRIP = {"half_u": 24.0, "half_v": 54.0, "pitch_u": 0.12, "pitch_v": 10.8}

PIXEL_DISK_Z = (600.0, 700.0, 820.0, 960.0, 1100.0, 1300.0, 1500.0)
STRIP_DISK_Z = (1220.0, 1500.0, 1800.0, 2150.0, 2550.0, 2950.0)
PIXEL_RINGS = (Ring(66.0, 40, 8.4, 8.4, 36.0), Ring(140.0, 68, 8.4, 8.4, 36.0))
SHORT_STRIP_RINGS = (
    Ring(318.0, 54, 16.4, 24.2, 78.0),
    Ring(470.0, 56, 24.2, 32.2, 78.0),
    Ring(622.0, 60, 32.2, 40.0, 78.0),
)
LONG_STRIP_RINGS = (Ring(828.0, 48, 54.0, 64.2, 78.0), Ring(942.0, 50, 66.0, 72.0, 78.0))


def _endcaps(volumes: tuple[int, int], zs: tuple[float, ...], rings, pitch_u, pitch_v, x0) -> list[DiskLayer]:
    negative, positive = volumes
    out = []
    # TrackML counts endcap layers from the most negative z upwards in both endcaps.
    for i, z in enumerate(sorted(zs, reverse=True)):
        out.append(DiskLayer(negative, 2 * (i + 1), -z, rings, pitch_u, pitch_v, x0))
    for i, z in enumerate(sorted(zs)):
        out.append(DiskLayer(positive, 2 * (i + 1), z, rings, pitch_u, pitch_v, x0))
    return out


def trackml_detector(pixel_x_over_x0: float = 0.02, strip_x_over_x0: float = 0.03) -> Detector:
    """The TrackML-like detector of DESIGN.md with ``x/X0`` per layer crossing at normal incidence."""
    barrels = []
    for i, (r, n_phi) in enumerate(zip((32.0, 72.0, 116.0, 172.0), (16, 32, 52, 78))):
        barrels.append(BarrelLayer(8, 2 * (i + 1), r, 455.0, n_phi, 14, **PIXEL, x_over_x0=pixel_x_over_x0))
    for i, (r, n_phi) in enumerate(zip((260.0, 360.0, 500.0, 660.0), (40, 56, 78, 102))):
        barrels.append(BarrelLayer(13, 2 * (i + 1), r, 1030.0, n_phi, 21, **SHORT_STRIP, x_over_x0=strip_x_over_x0))
    for i, (r, n_phi) in enumerate(zip((820.0, 1020.0), (120, 152))):
        barrels.append(BarrelLayer(17, 2 * (i + 1), r, 1030.0, n_phi, 21, **LONG_STRIP, x_over_x0=strip_x_over_x0))
    disks = []
    disks += _endcaps((7, 9), PIXEL_DISK_Z, PIXEL_RINGS, 0.05, 0.05625, pixel_x_over_x0)
    disks += _endcaps((12, 14), STRIP_DISK_Z, SHORT_STRIP_RINGS, 0.08, 1.2, strip_x_over_x0)
    disks += _endcaps((16, 18), STRIP_DISK_Z, LONG_STRIP_RINGS, 0.12, 10.4, strip_x_over_x0)
    return Detector(tuple(barrels), tuple(disks))
