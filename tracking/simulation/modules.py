"""The real TrackML detector, module by module, from the shipped table (see :mod:`.make_geometry`).

:class:`ModuleDetector` holds one row per module (centre, local axes, trapezoid half sizes, thickness,
pitch, real ``volume_id/layer_id/module_id``), the layers as nominal surfaces for the helix propagator
(a barrel layer is the cylinder at its modules' mean radius, a disk the plane at their mean z), and a
per-layer grid that lists the modules near a point: barrel cells in (phi, z), endcap cells in (phi, r).
A crossing of a nominal surface is then intersected with the real planes of the modules near it
(:func:`.propagate.hits_on_modules`), which gives staggered radii, tilts, z offsets and the real
overlaps of neighbouring modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .geometry import BARREL, DISK

MODULE_TABLE = Path(__file__).resolve().parents[1] / "resources" / "trackml_modules.npz"
BARREL_VOLUMES = (8, 13, 17)
PIXEL_VOLUMES = (7, 8, 9)
# Cells a little coarser than a module, so that a module sits in few cells and a cell holds few modules.
CELL_OVER_MODULE = 1.0


@dataclass(frozen=True)
class ModuleDetector:
    """Module table (index = module row, sorted by volume, layer, module) plus layers and lookup grid.

    Arrays per module: ``volume_id, layer_id, module_id`` (int), ``centre`` [N, 3], ``rotation``
    [N, 3, 3] (columns: local u, v, w axes), ``half_u_min, half_u_max, half_v, thickness, pitch_u,
    pitch_v`` (mm), ``layer`` (index of its layer). Arrays per layer (index = surface of the propagator):
    ``kind`` (BARREL / DISK), ``a`` (radius or z), ``lo, hi`` (z or r extent), ``band_lo, band_hi`` (the
    modules' extent across the surface: r for barrels, z for disks), ``volume_id, layer_id``, and the
    grid ``n_phi, n_c, c_lo, c_step, cell_offset``; ``cell_start``/``cell_modules`` is the CSR list of
    modules per cell.
    """

    arrays: dict

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def num_modules(self) -> int:
        return len(self.arrays["module_id"])

    @property
    def num_layers(self) -> int:
        return len(self.arrays["kind"])

    def x_over_x0(self, pixel: float, strip: float) -> np.ndarray:
        """Material per layer at normal incidence: ``pixel`` in volumes 7-9, ``strip`` elsewhere."""
        return np.where(np.isin(self.arrays["layer_volume_id"], PIXEL_VOLUMES), pixel, strip).astype(np.float64)


def _corners(table: dict) -> np.ndarray:
    """[N, 4, 3] global corners of each module's mid-plane trapezoid."""
    hv = table["half_v"].astype(np.float64)
    u = np.stack([-table["half_u_min"], table["half_u_min"], table["half_u_max"], -table["half_u_max"]], 1)
    v = np.stack([-hv, -hv, hv, hv], 1)
    rot = table["rotation"].astype(np.float64)
    return (
        table["centre"][:, None, :].astype(np.float64)
        + u[..., None] * rot[:, None, :, 0]
        + v[..., None] * rot[:, None, :, 1]
    )


def build_module_detector(table: dict) -> ModuleDetector:
    """Layers and lookup grid for a module table as :func:`.make_geometry.module_arrays` writes it."""
    volume = table["volume_id"].astype(np.int64)
    layer_id = table["layer_id"].astype(np.int64)
    keys, layer = np.unique(volume * 1000 + layer_id, return_inverse=True)
    n_layers = len(keys)
    centre = table["centre"].astype(np.float64)
    corners = _corners(table)
    thick = table["thickness"].astype(np.float64)
    r_corner = np.hypot(corners[..., 0], corners[..., 1])
    r_centre = np.hypot(centre[:, 0], centre[:, 1])
    phi_centre = np.arctan2(centre[:, 1], centre[:, 0])
    dphi = (np.arctan2(corners[..., 1], corners[..., 0]) - phi_centre[:, None] + np.pi) % (2 * np.pi) - np.pi
    phi_lo, phi_hi = phi_centre + dphi.min(1), phi_centre + dphi.max(1)
    # A barrel module's mid-plane reaches its smallest radius between the corners (at u = 0 when tilted little).
    r_lo = np.minimum(r_corner.min(1), r_centre) - thick
    r_hi = r_corner.max(1) + thick
    z_lo, z_hi = corners[..., 2].min(1) - thick, corners[..., 2].max(1) + thick

    kind = np.empty(n_layers, np.int64)
    a, lo, hi, band_lo, band_hi = (np.empty(n_layers) for _ in range(5))
    n_phi, n_c = np.empty(n_layers, np.int64), np.empty(n_layers, np.int64)
    c_lo, c_step = np.empty(n_layers), np.empty(n_layers)
    coord_lo, coord_hi = np.empty(len(volume)), np.empty(len(volume))
    for i, key in enumerate(keys):
        m = layer == i
        barrel = key // 1000 in BARREL_VOLUMES
        if barrel:
            kind[i], a[i] = BARREL, r_centre[m].mean()
            lo[i], hi[i] = z_lo[m].min(), z_hi[m].max()
            band_lo[i], band_hi[i] = r_lo[m].min(), r_hi[m].max()
            coord_lo[m], coord_hi[m] = z_lo[m], z_hi[m]
            width = 2 * table["half_u_min"][m].min()
            reach = band_lo[i]
        else:
            kind[i], a[i] = DISK, centre[m, 2].mean()
            lo[i], hi[i] = r_lo[m].min(), r_hi[m].max()
            band_lo[i], band_hi[i] = z_lo[m].min(), z_hi[m].max()
            coord_lo[m], coord_hi[m] = r_lo[m], r_hi[m]
            width = 2 * table["half_u_min"][m].min()
            reach = max(band_lo[i] if barrel else lo[i], 1.0)
        n_phi[i] = max(4, int(2 * np.pi * reach / (CELL_OVER_MODULE * width)))
        c_lo[i] = coord_lo[m].min()
        c_step[i] = CELL_OVER_MODULE * 2 * table["half_v"][m].min()
        n_c[i] = int(np.ceil((coord_hi[m].max() - c_lo[i]) / c_step[i])) + 1
    cell_offset = np.concatenate([[0], np.cumsum(n_phi * n_c)]).astype(np.int64)

    # Every module goes into every cell its (phi, coordinate) box touches.
    cells: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    step_phi = 2 * np.pi / n_phi[layer]
    ip_lo = np.floor((phi_lo + np.pi) / step_phi).astype(np.int64)
    ip_hi = np.floor((phi_hi + np.pi) / step_phi).astype(np.int64)
    ic_lo = np.floor((coord_lo - c_lo[layer]) / c_step[layer]).astype(np.int64)
    ic_hi = np.floor((coord_hi - c_lo[layer]) / c_step[layer]).astype(np.int64)
    span_p, span_c = ip_hi - ip_lo + 1, ic_hi - ic_lo + 1
    for dp in range(int(span_p.max())):
        for dc in range(int(span_c.max())):
            m = np.flatnonzero((dp < span_p) & (dc < span_c))
            ip = (ip_lo[m] + dp) % n_phi[layer[m]]
            ic = np.clip(ic_lo[m] + dc, 0, n_c[layer[m]] - 1)
            cells.append(cell_offset[layer[m]] + ip * n_c[layer[m]] + ic)
            owners.append(m)
    cell = np.concatenate(cells)
    owner = np.concatenate(owners)
    order = np.lexsort((owner, cell))
    cell, owner = cell[order], owner[order]
    cell_start = np.searchsorted(cell, np.arange(cell_offset[-1] + 1)).astype(np.int64)

    arrays = {name: table[name] for name in ("volume_id", "layer_id", "module_id")}
    arrays.update(
        {
            name: np.ascontiguousarray(table[name], np.float64)
            for name in ("centre", "rotation", "half_u_min", "half_u_max", "half_v", "thickness", "pitch_u", "pitch_v")
        }
    )
    arrays.update(
        {
            "layer": layer.astype(np.int64),
            "kind": kind,
            "a": a,
            "lo": lo,
            "hi": hi,
            "band_lo": band_lo,
            "band_hi": band_hi,
            "layer_volume_id": (keys // 1000).astype(np.int32),
            "layer_layer_id": (keys % 1000).astype(np.int32),
            "n_phi": n_phi,
            "n_c": n_c,
            "c_lo": c_lo,
            "c_step": c_step,
            "cell_offset": cell_offset,
            "cell_start": cell_start,
            "cell_modules": owner.astype(np.int64),
        }
    )
    return ModuleDetector(arrays)


def load_module_table(path: str | Path = MODULE_TABLE) -> dict[str, np.ndarray]:
    """The module table npz as a dict of arrays; a clear error when it is missing or of another format."""
    from .make_geometry import FORMAT

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"module table {path} is missing; regenerate it with "
            "`python -m tracking.simulation.make_geometry PATH/detectors.csv.gz`"
        )
    with np.load(path) as data:
        table = {name: data[name] for name in data.files}
    if int(table.get("format", -1)) != FORMAT:
        raise ValueError(f"{path}: module table format {table.get('format')!r}, expected {FORMAT}; regenerate it")
    return table


@lru_cache(maxsize=2)
def trackml_module_detector(path: str | None = None) -> ModuleDetector:
    """The real TrackML detector from the shipped module table (or the npz at ``path``), built once."""
    return build_module_detector(load_module_table(path or MODULE_TABLE))
