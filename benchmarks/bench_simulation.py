"""Simulation speed: one event at mu = 20 and mu = 200 on each detector (numba compile excluded), and ROOT writing.

The real-module TrackML detector (``--detector trackml``) is held to one mu = 200 event in under 2 s.
"""

from __future__ import annotations

import tempfile

from .common import Row, best_time, format_table


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
    return rows


if __name__ == "__main__":
    import json

    result = run()
    print(format_table(result))
    print(json.dumps([r.as_dict() for r in result], indent=2))
