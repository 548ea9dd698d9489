"""Realism of the simulation against real TrackML events (issue 15): sim / real ratios.

Rows (plain numbers, no timings): hits per volume and per layer (simulated mu = 200 vs real event 1000),
the fraction of same-layer (overlap) truth segments (vs real event 1's truth), and hits per pT > 1 GeV
particle in |eta| bins and the share of those particles with <= 6 hits (particles that stop early; vs event
1000's particles). ``extra`` carries both counts and whether the ratio is
within the +-25 % the simulation is held to. The full tables: ``python -m benchmarks.bench_realism``.
Needs the real files (../shared/data/trackml, or TRACKPIPE_TRACKML_DIR); skipped without them.
"""

from __future__ import annotations

import os
from pathlib import Path

from tracking.simulation.realism import SHORT_HITS

from .common import Row, SkipBenchmark, format_table

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trackml"


def trackml_dir() -> Path:
    """Where the real TrackML files are: ``TRACKPIPE_TRACKML_DIR`` or ../shared/data/trackml."""
    path = Path(os.environ.get("TRACKPIPE_TRACKML_DIR", DEFAULT_DIR))
    if not (path / "event000001000-hits.csv.gz").is_file():
        raise SkipBenchmark(f"no real TrackML event 1000 under {path} (set TRACKPIPE_TRACKML_DIR)")
    return path


def tables(quick: bool = False):
    from tracking.simulation.realism import realism_tables

    return realism_tables(trackml_dir(), n_events=1 if quick else 2)


def rows_of(result) -> list[Row]:
    rows = []

    def add(name, sim, real, ratio, ok, what):
        rows.append(Row(name, f"sim {sim:.0f} / real {real:.0f} {what}", float(ratio), unit="",
                        extra={"sim": float(sim), "real": float(real), "within_25pct": bool(ok)}))  # fmt: skip

    for volume, r in result.volumes.iterrows():
        add(f"hits, volume {volume} (sim/real)", r.sim, r.real, r.ratio, r.ok, "hits")
    for (volume, layer), r in result.layers.iterrows():
        add(f"hits, volume {volume} layer {layer} (sim/real)", r.sim, r.real, r.ratio, r.ok, "hits")
    o = result.overlaps.iloc[0]
    rows.append(
        Row("same-layer truth segment fraction (sim/real)", f"sim {o.sim:.3f} / real {o.real:.3f}", float(o.ratio),
            unit="", extra={"sim": float(o.sim), "real": float(o.real), "within_25pct": bool(o.ok)})
    )  # fmt: skip
    real_column = next(c for c in result.hits_per_particle.columns if c.startswith("real event0"))
    for interval, r in result.hits_per_particle.iterrows():
        rows.append(
            Row(f"hits per pT>1 GeV particle, |eta| in {interval} (sim/real)",
                f"sim {r.sim:.2f} / real {r[real_column]:.2f}", float(r.ratio), unit="",
                extra={"sim": float(r.sim), "real": float(r[real_column]), "n_real": float(r.n_real)})
        )  # fmt: skip
    short = [c for c in result.hits_per_particle.columns if c.endswith(f"<= {SHORT_HITS}")]
    for interval, r in result.hits_per_particle.iterrows():
        sim, real = float(r[short[0]]), float(r[short[1]])
        rows.append(
            Row(f"share of pT>1 GeV particles with <= {SHORT_HITS} hits, |eta| in {interval} (sim/real)",
                f"sim {sim:.3f} / real {real:.3f}", sim / real if real > 0 else float("nan"), unit="",
                extra={"sim": sim, "real": real, "n_real": float(r.n_real)})
        )  # fmt: skip
    return rows


def run(quick: bool = False) -> list[Row]:
    return rows_of(tables(quick))


if __name__ == "__main__":
    result = tables()
    print(result.format())
    print()
    print(format_table(rows_of(result)))
