"""Track building: our connected components vs ``scipy.sparse.csgraph.connected_components`` (with the
edge filter and the CSR build scipy needs from an edge list, and the compact relabelling ours does too;
:func:`.reference.scipy_connected_components`), and our walk-through vs a Python
walk-through (scipy components + Python walks, the ACORN way), side by side in one run.

    python -m benchmarks.bench_components [--quick] [--threads 2] [--json]

Inputs: a random graph (1M nodes, 5M edges; quick: 100k, 500k) and the graph of a simulated mu = 200
event (quick: mu = 20): its truth segments scored high, plus four random fakes per true edge scored low.
Both sides' outputs are checked equal (partition for scipy, labels for the walk).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from tracking import accel
from tracking._native import core
from tracking.ops import connected_components, junction_removal, walkthrough

from .common import Row, best_time, format_table
from .reference import python_walkthrough, same_partition, scipy_connected_components

CUT = 0.5


def random_graph(num_nodes: int, num_edges: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_nodes, (2, num_edges)), rng.random(num_edges, dtype=np.float32)


def event_graph(mu: float, seed: int = 1):
    """A simulated event's truth segments (scores ~ U(0.4, 1)) and 4x as many random fakes (~ U(0, 0.6))."""
    from tracking.simulation import simulate_event
    from tracking.truth import truth_segments

    event = simulate_event(mu=mu, seed=seed)
    truth = truth_segments(event)
    rng = np.random.default_rng(seed)
    fakes = np.sort(rng.integers(0, event.num_hits, (2, 4 * truth.shape[1])), axis=0)
    edge_index = np.concatenate([truth, fakes], axis=1)
    scores = np.concatenate([rng.uniform(0.4, 1.0, truth.shape[1]), rng.uniform(0.0, 0.6, fakes.shape[1])]).astype(
        np.float32
    )
    perm = rng.permutation(edge_index.shape[1])
    r = np.asarray(event.r, dtype=np.float32)
    return np.ascontiguousarray(edge_index[:, perm]), scores[perm], event.num_hits, r


def component_rows(name: str, edge_index, scores, num_nodes: int, threads: list[int]) -> list[Row]:
    size = f"{num_nodes:,} nodes, {edge_index.shape[1]:,} edges"
    expected = scipy_connected_components(edge_index, num_nodes, scores, CUT, min_hits=1)
    baseline_s = best_time(lambda: scipy_connected_components(edge_index, num_nodes, scores, CUT, min_hits=1))
    rows = []
    before = core.max_threads()
    try:
        for n_threads in threads:
            core.set_max_threads(n_threads)
            got = connected_components(edge_index, num_nodes, scores, cut=CUT)
            assert same_partition(got, expected), "connected components disagree with scipy"
            ours = best_time(lambda: connected_components(edge_index, num_nodes, scores, cut=CUT))
            rows.append(
                Row(
                    f"connected components, {name} ({n_threads} thr)",
                    size,
                    ours,
                    "scipy CSR build + connected_components",
                    baseline_s,
                    {"edges_per_s": edge_index.shape[1] / ours},
                )
            )
    finally:
        core.set_max_threads(before)
    jr = best_time(
        lambda: connected_components(
            edge_index, num_nodes, junction_removal(edge_index, scores, CUT, num_nodes).astype(np.float32), cut=0.5
        )
    )
    rows.append(Row(f"junction removal + components, {name}", size, jr))
    if accel.cuda_available():
        gpu_edges = torch.from_numpy(edge_index).cuda()
        gpu_scores = torch.from_numpy(scores).cuda()

        def on_gpu():
            connected_components(gpu_edges, num_nodes, gpu_scores, cut=CUT)
            torch.cuda.synchronize()

        got = connected_components(gpu_edges, num_nodes, gpu_scores, cut=CUT).cpu().numpy()
        assert np.array_equal(got, connected_components(edge_index, num_nodes, scores, cut=CUT)), "GPU != CPU"
        gpu_s = best_time(on_gpu, repeat=10)
        rows.append(
            Row(
                f"connected components, {name} (GPU)",
                size,
                gpu_s,
                "scipy CSR build + connected_components",
                baseline_s,
                {"edges_per_s": edge_index.shape[1] / gpu_s},
            )
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    """Components vs scipy on a random and a simulated-event graph; walk-through vs Python."""
    threads = sorted({1, max(core.max_threads(), 1)})
    n, e = (100_000, 500_000) if quick else (1_000_000, 5_000_000)
    rows = component_rows("random graph", *random_graph(n, e), n, threads)
    try:
        edge_index, scores, num_nodes, r = event_graph(20 if quick else 200)
    except ImportError:
        return rows
    label = f"sim. mu={20 if quick else 200} event"
    rows += component_rows(label, edge_index, scores, num_nodes, threads)

    walk_cut = 0.6
    expected = python_walkthrough(edge_index, num_nodes, scores, CUT, walk_cut, order=r)
    got = walkthrough(edge_index, num_nodes, scores, cut=CUT, walk_cut=walk_cut, order=r)
    assert np.array_equal(got, expected), "walk-through disagrees with the Python walk"
    ours = best_time(lambda: walkthrough(edge_index, num_nodes, scores, cut=CUT, walk_cut=walk_cut, order=r))
    baseline_s = best_time(
        lambda: python_walkthrough(edge_index, num_nodes, scores, CUT, walk_cut, order=r), repeat=1, warmup=0
    )
    rows.append(
        Row(
            f"walk-through, {label}",
            f"{num_nodes:,} nodes, {edge_index.shape[1]:,} edges",
            ours,
            "Python walk over scipy components",
            baseline_s,
        )
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    ap.add_argument("--threads", type=int, default=2, help="threads for the parallel rows (default 2)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    core.set_max_threads(args.threads)
    rows = run(quick=args.quick)
    print(json.dumps([r.as_dict() for r in rows], indent=2) if args.json else format_table(rows))


if __name__ == "__main__":
    main()
