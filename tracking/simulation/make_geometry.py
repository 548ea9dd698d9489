"""Derive the shipped module table ``tracking/resources/trackml_modules.npz`` from TrackML's ``detectors.csv``.

Usage::

    python -m tracking.simulation.make_geometry PATH/detectors.csv.gz [-o tracking/resources/trackml_modules.npz]

The CSV (one row per module: ids, centre, rotation, thickness, half sizes, pitch; ~2 MB gzipped) is
turned into compressed float32/int arrays of the same content (~0.4 MB), so the simulation needs no file
from the user. The rotation's columns are the module's local axes ``u, v, w`` in global coordinates
(``global = centre + R @ local``); endcap trapezoids are ``half_u_min`` wide at ``v = -half_v`` and
``half_u_max`` at ``v = +half_v`` (checked against the true hit positions of TrackML event 1 in
tests/simulation/test_modules.py).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

#: Version of the npz layout; bump when the arrays change meaning.
FORMAT = 1
COLUMNS = (
    "volume_id", "layer_id", "module_id", "cx", "cy", "cz",
    "rot_xu", "rot_xv", "rot_xw", "rot_yu", "rot_yv", "rot_yw", "rot_zu", "rot_zv", "rot_zw",
    "module_t", "module_minhu", "module_maxhu", "module_hv", "pitch_u", "pitch_v",
)  # fmt: skip
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "resources" / "trackml_modules.npz"


def module_arrays(detectors_csv: str | Path) -> dict[str, np.ndarray]:
    """The arrays of the shipped table, read from ``detectors_csv`` (plain or gzipped)."""
    import pandas as pd

    path = Path(detectors_csv)
    frame = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a TrackML detectors file, missing columns {missing}")
    frame = frame.sort_values(["volume_id", "layer_id", "module_id"], kind="stable").reset_index(drop=True)
    keys = frame[["volume_id", "layer_id", "module_id"]]
    if keys.duplicated().any():
        raise ValueError(f"{path}: duplicate module {tuple(keys[keys.duplicated()].iloc[0])}")
    rotation = frame[[f"rot_{a}{b}" for a in "xyz" for b in "uvw"]].to_numpy(np.float64).reshape(-1, 3, 3)
    det = np.linalg.det(rotation)
    if not np.allclose(det, 1.0, atol=1e-4):
        bad = int(np.argmax(np.abs(det - 1.0)))
        raise ValueError(f"{path}: module {tuple(keys.iloc[bad])} has a rotation with determinant {det[bad]:.4f}")
    return {
        "format": np.array(FORMAT, np.int32),
        "source_sha256": np.array(hashlib.sha256(path.read_bytes()).hexdigest()),
        "volume_id": frame.volume_id.to_numpy(np.int16),
        "layer_id": frame.layer_id.to_numpy(np.int16),
        "module_id": frame.module_id.to_numpy(np.int32),
        "centre": frame[["cx", "cy", "cz"]].to_numpy(np.float32),
        "rotation": rotation.astype(np.float32),
        "thickness": frame.module_t.to_numpy(np.float32),
        "half_u_min": frame.module_minhu.to_numpy(np.float32),
        "half_u_max": frame.module_maxhu.to_numpy(np.float32),
        "half_v": frame.module_hv.to_numpy(np.float32),
        "pitch_u": frame.pitch_u.to_numpy(np.float32),
        "pitch_v": frame.pitch_v.to_numpy(np.float32),
    }


def write_module_table(detectors_csv: str | Path, output: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write the module table derived from ``detectors_csv`` to ``output`` (atomically)."""
    from ..atomic import atomic_output

    arrays = module_arrays(detectors_csv)
    target = Path(output)
    with atomic_output(target) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tracking.simulation.make_geometry", description=__doc__.split("\n")[0]
    )
    parser.add_argument("detectors_csv", type=Path, help="TrackML detectors.csv or detectors.csv.gz")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="npz to write (default: %(default)s)")
    args = parser.parse_args(argv)
    target = write_module_table(args.detectors_csv, args.output)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
