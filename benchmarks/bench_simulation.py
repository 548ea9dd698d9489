"""Simulation speed: one event at mu = 20 and mu = 200 on each detector (numba compile excluded), and ROOT writing;
the built-in engine beside ACTS Fatras (``simulate --engine acts``) for events of the same size.

The real-module TrackML detector (``--detector trackml``) is held to one mu = 200 event in under 2 s.
ACTS vs built-in: both simulate and write CSV (ACTS' CsvWriters; TrackML CSV for ours), per event, the ACTS
geometry building (once per run) excluded; ACTS' event size is matched to ours through its number of vertices.
"""

from __future__ import annotations

import tempfile

from .common import Row, best_time, format_table, skipped_row

# ACTS Generic detector: measurements per vertex of 20 pions, |eta| < 2.5, pT 0.1-10 GeV (measured: ~230)
ACTS_MEASUREMENTS_PER_VERTEX = 230.0


def run(quick: bool = False) -> list[Row]:
    from tracking.io.acts_write import write_acts
    from tracking.simulation import SimulationConfig, simulate_event

    rows = []
    repeat = 1 if quick else 3
    event = None
    for detector in ("tiled", "trackml"):
        config = SimulationConfig.for_detector(detector)
        for mu in (20, 200):
            event = simulate_event(mu=mu, seed=0, config=config)  # compiles (or loads cached) numba kernels
            seconds = best_time(
                lambda mu=mu, c=config: simulate_event(mu=mu, seed=0, config=c), repeat=repeat, warmup=0
            )
            rows.append(
                Row(f"simulate one event, {detector} detector, mu={mu}", f"{event.num_hits} hits", seconds,
                    extra={"hits": event.num_hits, "particles": len(event.particles), "detector": detector})
            )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        seconds = best_time(lambda: write_acts([event], tmp), repeat=repeat, warmup=0)
    rows.append(Row("write ACTS ROOT files, mu=200", f"{event.num_hits} hits", seconds))
    rows.append(_builtin_vs_acts(quick))
    return rows


def _builtin_vs_acts(quick: bool) -> Row:
    """Per event: the built-in engine (TrackML detector, mu = 200, or 20 with --quick) vs ACTS Fatras + smearing
    digitisation on the Generic detector with as many measurements, both writing CSV."""
    import time

    from tracking.extras import MissingExtraError, require
    from tracking.io.trackml_write import write_trackml_csv
    from tracking.simulation import SimulationConfig, simulate_event

    name = "simulate + write CSV per event: builtin vs ACTS Fatras"
    try:
        require("acts")
    except MissingExtraError as err:
        return skipped_row(name, str(err))
    from tracking.simulation.acts_engine import ActsSimulationConfig, simulate_acts

    mu = 20 if quick else 200
    n_events = 1 if quick else 3
    config = SimulationConfig.for_detector("trackml")
    simulate_event(mu=mu, seed=0, config=config)  # numba compile, excluded
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        hits = 0
        for i in range(n_events):
            event = simulate_event(mu=mu, seed=1, event_id=i, config=config)
            hits += event.num_hits
            write_trackml_csv([event], tmp)
        builtin_s = (time.perf_counter() - start) / n_events
    hits_per_event = hits / n_events
    vertices = max(1.0, hits_per_event / ACTS_MEASUREMENTS_PER_VERTEX)
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate_acts(n_events, tmp, seed=1, config=ActsSimulationConfig(mu=vertices))
    acts_per_event = result.measurements / max(result.events, 1)
    # ACTS' time scaled to our event size (its events differ by a few percent)
    acts_s = result.seconds / max(result.events, 1) * hits_per_event / max(acts_per_event, 1.0)
    return Row(
        name,
        f"{hits_per_event:.0f} measurements",
        builtin_s,
        baseline="ACTS Fatras + digitisation (Generic detector)",
        baseline_s=acts_s,
        extra={"builtin_hits_per_event": hits_per_event, "acts_measurements_per_event": acts_per_event,
               "acts_seconds_per_event_unscaled": result.seconds / max(result.events, 1), "acts_vertices": vertices,
               "events": n_events},
    )  # fmt: skip


if __name__ == "__main__":
    import json

    result = run()
    print(format_table(result))
    print(json.dumps([r.as_dict() for r in result], indent=2))
