"""Write small events as the ACTS examples write CSV, column by column as ACTS' output structs
(``Examples/Io/Csv/src/CsvOutputData.hpp``): ``MeasurementData``, ``MeasurementSimHitLink``, ``SimHitData``,
``ParticleData``, ``CellData`` / ``CellDataLegacy`` and ``SurfaceData`` (detectors.csv).

The detector: four barrel layers of flat rectangular modules (bounds_type 6) around the beam, each module's
local u along phi, v along z, w outwards. Particles fly straight from near the origin; a sim hit is the exact
crossing of a module plane and its measurement the exact local position (ACTS' exact digitisation), so the
global position from the module transform equals the sim hit's. Layouts:

- ``current``: split barcode columns, measurements with ``global_x/y/z``, cells keyed by ``measurement_id``;
- ``2023``: one packed ``particle_id``, measurements with local coordinates only, cells by ``measurement_id``;
- ``legacy``: as 2023 but cells keyed by ``hit_id`` (older ACTS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tracking.io.acts_write import geometry_id
from tracking.io.barcode import FIELD_NAMES, decode_barcode, encode_barcode

RADII = (32.0, 72.0, 116.0, 172.0)
N_PHI = (16, 32, 48, 72)
HALF_U, HALF_V = 12.0, 200.0
VOLUME = 8
BARCODE_COLUMNS = ("particle_id_pv", "particle_id_sv", "particle_id_part", "particle_id_gen", "particle_id_subpart")


@dataclass
class Truth:
    """What the files encode, for the tests to compare against (measurement order)."""

    measurement_id: np.ndarray
    xyz: np.ndarray  # [N, 3] exact global positions
    particle_id: np.ndarray  # int64 (0 = noise)
    volume_id: np.ndarray
    layer_id: np.ndarray
    module_id: np.ndarray
    particles: pd.DataFrame  # particle_id (int64), px, py, pz, vx, vy, vz, q
    cell_count: np.ndarray
    cell_value: np.ndarray


def detector() -> pd.DataFrame:
    """``SurfaceData`` rows (ACTS detectors.csv) of the barrel."""
    rows = []
    for layer, (radius, n_phi) in enumerate(zip(RADII, N_PHI), start=1):
        for k in range(n_phi):
            phi = 2 * np.pi * (k + 0.5) / n_phi
            u = (-np.sin(phi), np.cos(phi), 0.0)
            v = (0.0, 0.0, 1.0)
            w = (np.cos(phi), np.sin(phi), 0.0)
            rot = np.array([u, v, w]).T  # columns u, v, w: global = centre + rot @ local
            rows.append(
                {
                    "geometry_id": int(geometry_id(VOLUME, 2 * layer, k + 1)),
                    "volume_id": VOLUME,
                    "boundary_id": 0,
                    "layer_id": 2 * layer,
                    "module_id": k + 1,
                    "extra_id": 0,
                    "cx": radius * np.cos(phi),
                    "cy": radius * np.sin(phi),
                    "cz": 0.0,
                    **{f"rot_{a}{b}": rot[i, j] for i, a in enumerate("xyz") for j, b in enumerate("uvw")},
                    "bounds_type": 6,
                    "bound_param0": -HALF_U,
                    "bound_param1": -HALF_V,
                    "bound_param2": HALF_U,
                    "bound_param3": HALF_V,
                    "bound_param4": -1.0,
                    "bound_param5": -1.0,
                    "bound_param6": -1.0,
                    "module_t": 0.15,
                    "pitch_u": 0.05,
                    "pitch_v": 0.05,
                }
            )
    table = pd.DataFrame(rows)
    table["geometry_id"] = table["geometry_id"].astype(np.uint64)
    return table


def _crossings(modules: pd.DataFrame, vertex: np.ndarray, direction: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(module row, global point) where a straight line from ``vertex`` crosses a module, one per layer."""
    centres = modules[["cx", "cy", "cz"]].to_numpy()
    rot = modules[[f"rot_{a}{b}" for a in "xyz" for b in "uvw"]].to_numpy().reshape(-1, 3, 3)
    normal = rot[:, :, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.einsum("mi,mi->m", centres - vertex, normal) / (normal @ direction)
    points = vertex + t[:, None] * direction
    local = np.einsum("mji,mj->mi", rot, points - centres)
    inside = (normal @ direction > 1e-9) & (t > 0) & (np.abs(local[:, 0]) < HALF_U) & (np.abs(local[:, 1]) < HALF_V)
    layers = modules["layer_id"].to_numpy()
    out = []
    for layer in np.unique(layers):
        rows = np.flatnonzero(inside & (layers == layer))
        if len(rows):
            out.append((int(rows[0]), points[rows[0]]))
    return out


def write_event(
    directory: Path, event: int, *, layout: str = "current", seed: int = 0, n_particles: int = 12, n_noise: int = 3
) -> Truth:
    """Write one event's ACTS CSV files into ``directory`` and return what they encode."""
    rng = np.random.default_rng(seed + 1000 * event)
    modules = detector()
    rot = modules[[f"rot_{a}{b}" for a in "xyz" for b in "uvw"]].to_numpy().reshape(-1, 3, 3)
    centres = modules[["cx", "cy", "cz"]].to_numpy()
    particles, simhits, measurements, links, truth_xyz, truth_pid = [], [], [], [], [], []
    for k in range(n_particles):
        pv, sub = 1 + k % 3, 0
        pid = int(encode_barcode(pv, 0, k + 1, 0, sub))
        vertex = rng.normal(0, [0.01, 0.01, 20.0])
        phi, eta, pt = rng.uniform(-np.pi, np.pi), rng.uniform(-1.0, 1.0), rng.uniform(0.5, 10.0)
        p = np.array([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])
        q = float(rng.choice([-1.0, 1.0]))
        particles.append(
            {"pid": pid, "vx": vertex[0], "vy": vertex[1], "vz": vertex[2], "px": p[0], "py": p[1], "pz": p[2], "q": q}
        )
        for index, (row, point) in enumerate(_crossings(modules, vertex, p / np.linalg.norm(p))):
            simhits.append(
                {"pid": pid, "geometry_id": modules["geometry_id"].iat[row], "point": point, "p": p, "index": index}
            )
    order = rng.permutation(len(simhits))  # ACTS writes sim hits in container order, not by particle
    simhits = [simhits[i] for i in order]
    for sim_row, hit in enumerate(simhits):
        row = int(np.flatnonzero(modules["geometry_id"].to_numpy() == hit["geometry_id"])[0])
        local = rot[row].T @ (hit["point"] - centres[row])
        measurements.append((row, local[:2]))
        links.append((len(measurements) - 1, sim_row))
        truth_xyz.append(hit["point"])
        truth_pid.append(hit["pid"])
    for _ in range(n_noise):
        row = int(rng.integers(len(modules)))
        local = np.array([rng.uniform(-HALF_U, HALF_U), rng.uniform(-HALF_V, HALF_V)])
        measurements.append((row, local))
        truth_xyz.append(centres[row] + rot[row] @ np.array([local[0], local[1], 0.0]))
        truth_pid.append(0)
    # measurements in module order, as ACTS' digitisation emits them
    meas_order = np.argsort([row for row, _ in measurements], kind="stable")
    new_index = np.empty(len(meas_order), np.int64)
    new_index[meas_order] = np.arange(len(meas_order))
    measurements = [measurements[i] for i in meas_order]
    truth_xyz = np.array(truth_xyz)[meas_order]
    truth_pid = np.array(truth_pid, np.int64)[meas_order]
    links = sorted((int(new_index[m]), s) for m, s in links)

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / f"event{event:09d}"
    gids = modules["geometry_id"].to_numpy()
    n = len(measurements)
    locals_ = np.array([local for _, local in measurements], np.float32)
    meas = pd.DataFrame(
        {
            "measurement_id": np.arange(n, dtype=np.uint64),
            "geometry_id": gids[[row for row, _ in measurements]],
            "local_key": np.full(n, 6, np.uint8),  # bits 1 and 2: loc0 and loc1 measured
            "local0": locals_[:, 0],
            "local1": locals_[:, 1],
            "phi": np.zeros(n, np.float32),
            "theta": np.zeros(n, np.float32),
            "time": np.zeros(n, np.float32),
            "var_local0": np.full(n, 2e-4, np.float32),
            "var_local1": np.full(n, 2e-4, np.float32),
            "var_phi": np.zeros(n, np.float32),
            "var_theta": np.zeros(n, np.float32),
            "var_time": np.zeros(n, np.float32),
        }
    )
    if layout == "current":
        for axis, column in enumerate(("global_x", "global_y", "global_z")):
            meas[column] = truth_xyz[:, axis].astype(np.float32)
    meas.to_csv(f"{prefix}-measurements.csv", index=False)
    pd.DataFrame(
        {
            "measurement_id": np.array([m for m, _ in links], np.uint64),
            "hit_id": np.array([s for _, s in links], np.uint64),
        }
    ).to_csv(f"{prefix}-measurement-simhit-map.csv", index=False)

    def id_columns(pids: np.ndarray) -> dict[str, np.ndarray]:
        if layout == "current":
            fields = decode_barcode(pids)
            return {column: fields[name] for column, name in zip(BARCODE_COLUMNS, FIELD_NAMES)}
        return {"particle_id": pids.view(np.uint64)}

    sim_pid = np.array([h["pid"] for h in simhits], np.int64)
    points = np.array([h["point"] for h in simhits], np.float32)
    moms = np.array([h["p"] for h in simhits], np.float32)
    m = len(simhits)
    pd.DataFrame(
        {
            **id_columns(sim_pid),
            "geometry_id": np.array([h["geometry_id"] for h in simhits], np.uint64),
            "tx": points[:, 0],
            "ty": points[:, 1],
            "tz": points[:, 2],
            "tt": np.zeros(m, np.float32),
            "tpx": moms[:, 0],
            "tpy": moms[:, 1],
            "tpz": moms[:, 2],
            "te": np.linalg.norm(moms, axis=1).astype(np.float32),
            "deltapx": np.zeros(m, np.float32),
            "deltapy": np.zeros(m, np.float32),
            "deltapz": np.zeros(m, np.float32),
            "deltae": np.zeros(m, np.float32),
            "index": np.array([h["index"] for h in simhits], np.int32),
        }
    ).to_csv(f"{prefix}-hits.csv", index=False)

    ptable = pd.DataFrame(particles)
    k = len(ptable)
    pd.DataFrame(
        {
            **id_columns(ptable["pid"].to_numpy(np.int64)),
            "particle_type": (211 * ptable["q"]).astype(np.int32),
            "process": np.zeros(k, np.uint32),
            "vx": ptable["vx"].astype(np.float32),
            "vy": ptable["vy"].astype(np.float32),
            "vz": ptable["vz"].astype(np.float32),
            "vt": np.zeros(k, np.float32),
            "px": ptable["px"].astype(np.float32),
            "py": ptable["py"].astype(np.float32),
            "pz": ptable["pz"].astype(np.float32),
            "m": np.full(k, 0.13957, np.float32),
            "q": ptable["q"].astype(np.float32),
        }
    ).to_csv(f"{prefix}-particles_initial.csv", index=False)

    # clusters of 1-3 cells per measurement
    n_cells = rng.integers(1, 4, size=n)
    values = rng.uniform(0.1, 1.0, size=int(n_cells.sum())).astype(np.float32)
    owner = np.repeat(np.arange(n), n_cells)
    key = "hit_id" if layout == "legacy" else "measurement_id"
    pd.DataFrame(
        {
            "geometry_id": meas["geometry_id"].to_numpy()[owner],
            key: owner.astype(np.uint64),
            "channel0": rng.integers(0, 480, size=len(owner)).astype(np.int32),
            "channel1": rng.integers(0, 8000, size=len(owner)).astype(np.int32),
            "timestamp": np.zeros(len(owner), np.float32),
            "value": values,
        }
    ).to_csv(f"{prefix}-cells.csv", index=False)

    rows = np.array([row for row, _ in measurements])
    return Truth(
        measurement_id=np.arange(n, dtype=np.int64),
        xyz=truth_xyz,
        particle_id=truth_pid,
        volume_id=modules["volume_id"].to_numpy()[rows],
        layer_id=modules["layer_id"].to_numpy()[rows],
        module_id=modules["module_id"].to_numpy()[rows],
        particles=ptable.rename(columns={"pid": "particle_id"}),
        cell_count=n_cells,
        cell_value=np.bincount(owner, weights=values, minlength=n),
    )


def write_detectors(path: Path) -> Path:
    detector().to_csv(path, index=False)
    return path
