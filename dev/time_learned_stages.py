"""Time the learned stages (edge filter + GNN) of the default pipeline per simulated mu = 200 event.

    python dev/time_learned_stages.py [--events 3] [--threads 1] [--pipeline YAML]

Builds each event's graph first (not timed), then runs every edge_classifier stage and reports CPU
(process) time and wall time per stage, the mean over events. CPU time is the figure to compare on a
shared machine, where wall time swings with the other processes' load. The same script runs against an
older checkout (its stage API is the same) for before/after figures.
"""

from __future__ import annotations

import argparse
import time

import torch

from tracking.pipeline import Pipeline
from tracking.runner import DEFAULT_PIPELINE
from tracking.simulation import simulate_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--events", type=int, default=3)
    parser.add_argument("--mu", type=float, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = Pipeline.from_yaml(args.pipeline, device="cpu")
    learned = [i for i, label in enumerate(pipeline.labels) if label.startswith("edge_classifier")]
    cpu = {i: 0.0 for i in learned}
    wall = {i: 0.0 for i in learned}
    for k in range(args.events):
        event = simulate_event(mu=args.mu, seed=9000 + k, event_id=k).to("cpu")
        for i, stage in enumerate(pipeline.stages):
            c0, w0 = time.process_time(), time.perf_counter()
            event = stage(event)
            if i in learned:
                cpu[i] += time.process_time() - c0
                wall[i] += time.perf_counter() - w0
            if i == learned[-1]:
                break
    for i in learned:
        print(f"{pipeline.labels[i]:40s} cpu {cpu[i] / args.events:7.2f} s  wall {wall[i] / args.events:7.2f} s")
    total_cpu, total_wall = sum(cpu.values()) / args.events, sum(wall.values()) / args.events
    print(
        f"{'learned stages':40s} cpu {total_cpu:7.2f} s  wall {total_wall:7.2f} s  ({args.events} events, mu {args.mu})"
    )


if __name__ == "__main__":
    main()
