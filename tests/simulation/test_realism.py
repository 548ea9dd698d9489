"""Per-layer occupancy of simulated mu = 200 events (tiled and real-module detectors) against real TrackML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracking.simulation import simulate_event


def per_layer_table(trackml_dir) -> pd.DataFrame:
    """Hits per (volume, layer): simulated (mu = 200, seed 1) vs real TrackML event 1000."""
    real = pd.read_csv(trackml_dir / "event000001000-hits.csv.gz", usecols=["volume_id", "layer_id"])
    event = simulate_event(mu=200, seed=1)
    sim = pd.DataFrame({"volume_id": event.volume_id, "layer_id": event.layer_id})
    table = pd.DataFrame(
        {
            "sim": sim.groupby(["volume_id", "layer_id"]).size(),
            "real": real.groupby(["volume_id", "layer_id"]).size(),
        }
    ).fillna(0)
    table["ratio"] = table.sim / table.real
    return table


def test_barrel_layer_occupancy_within_factor_two(trackml_dir):
    table = per_layer_table(trackml_dir)
    print("\n" + table.to_string())
    assert table.real.sum() == 120_939
    barrel = table[table.index.get_level_values("volume_id").isin([8, 13, 17])]
    assert len(barrel) == 10
    assert np.all((barrel.ratio > 0.5) & (barrel.ratio < 2.0)), barrel
    # Endcaps are not required by the issue, but should not be wildly off either.
    assert np.all((table.ratio > 0.33) & (table.ratio < 3.0)), table


@pytest.mark.slow
def test_real_module_detector_matches_trackml(trackml_dir):
    """Issue 15's realism bar on one mu = 200 event: volumes and the same-layer segment fraction within
    +-25 % of real TrackML. Per layer, the outermost disks and the innermost long-strip disks still miss it
    (no hadronic interactions or soft displaced particles in the fast simulation; see benchmarks/bench_realism.py)."""
    from tracking.simulation import SimulationConfig
    from tracking.simulation.realism import SHORT_HITS, TOLERANCE, realism_tables

    tables = realism_tables(trackml_dir, n_events=1)
    print("\n" + tables.format())
    assert tables.volumes.real.sum() == 120_939
    assert tables.volumes.ok.all(), tables.volumes
    assert tables.overlaps.ok.all(), tables.overlaps
    layers = tables.layers
    assert len(layers) == 48
    assert layers.ok.sum() >= 40, layers[~layers.ok]
    assert ((layers.ratio - 1).abs() < 0.45).all(), layers
    per_particle = tables.hits_per_particle
    assert ((per_particle.ratio - 1).abs() < TOLERANCE).all(), per_particle
    # real particles stop early (hadronic interactions): 3-16 % of the pT > 1 GeV primaries leave <= 6 hits;
    # the default simulation has none, interaction_probability = 0.01 brings the share and the mean hits to
    # the real ones
    short_real = per_particle[f"real <= {SHORT_HITS}"]
    assert (per_particle[f"sim <= {SHORT_HITS}"] < 0.01).all() and short_real.iloc[:6].between(0.03, 0.2).all()
    stopping = realism_tables(trackml_dir, n_events=1, config=SimulationConfig(interaction_probability=0.01))
    print("\n" + stopping.hits_per_particle.to_string())
    with_interactions = stopping.hits_per_particle
    assert ((with_interactions[f"sim <= {SHORT_HITS}"] - short_real).abs().iloc[:6] < 0.1).all(), with_interactions
    assert (with_interactions.ratio - 1).abs().max() < (per_particle.ratio - 1).abs().max()
