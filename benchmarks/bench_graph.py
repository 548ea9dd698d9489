"""Graph building: our doublet builder vs a vectorised pandas join of the same map (the ACORN way),
our fixed-radius neighbours vs ``scipy.spatial.cKDTree.query_pairs``, and the native triplet kernel of
the edge features vs its vectorised torch form, side by side in one run.

    python -m benchmarks.bench_graph [--quick] [--threads 2]
    python -m benchmarks.bench_graph --physics [--mu 200 --train 20 --test 5]   # edge efficiency / purity

The doublet comparison uses a module map learned from simulated events and a simulated event of
another seed; both sides produce the same edge set (checked).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd
import torch
from scipy.spatial import cKDTree

from tracking import accel
from tracking._native import core
from tracking.modulemap import MapLearner, ModuleMap
from tracking.ops import CUT_VARIABLES, build_doublets, doublet_cut_variables, radius_graph, triplet_best
from tracking.simulation import simulate_events
from tracking.truth import edge_truth, truth_segments

from .common import Row, best_time, format_table


def pandas_doublets(event, group: np.ndarray, m: ModuleMap) -> np.ndarray:
    """The same doublets by joining hits to map entries to hits (ACORN's module-map builder)."""
    hits = pd.DataFrame({"hit": np.arange(event.num_hits), "group": group})
    hits = hits[hits.group >= 0]
    entries = pd.DataFrame({"entry": np.arange(m.num_entries), "src_group": m.src, "dst_group": m.dst})
    pairs = hits.rename(columns={"hit": "a", "group": "src_group"}).merge(entries, on="src_group")
    pairs = pairs.merge(hits.rename(columns={"hit": "b", "group": "dst_group"}), on="dst_group")
    a, b, entry = (pairs[c].to_numpy() for c in ("a", "b", "entry"))
    values = doublet_cut_variables(event.r, event.phi, event.z, event.eta, a, b)
    keep = np.all((values >= m.cut_min[entry]) & (values <= m.cut_max[entry]), axis=1)
    return np.stack([a[keep], b[keep]])


def clustered_embedding(n: int, dim: int, rng: np.random.Generator, sigma: float = 0.02) -> np.ndarray:
    """Like a trained embedding: tight clusters of 5-15 points (one per particle) + 10% background."""
    sizes = []
    while sum(sizes) < 0.9 * n:
        sizes.append(int(rng.integers(5, 16)))
    centres = rng.uniform(0.1, 0.9, (len(sizes), dim))
    clusters = np.repeat(centres, sizes, axis=0) + rng.normal(0, sigma, (sum(sizes), dim))
    background = rng.uniform(0, 1, (n - len(clusters), dim)) if n > len(clusters) else np.zeros((0, dim))
    return np.concatenate([clusters, background])[:n].astype(np.float32)


def _edge_set(edges: np.ndarray) -> np.ndarray:
    return np.unique(edges[0].astype(np.int64) * (1 << 32) + edges[1])


def doublet_rows(quick: bool) -> list[Row]:
    mu, n_train = (50, 3) if quick else (200, 5)
    learner = MapLearner("module", 0.0)
    for event in simulate_events(n_train, mu=mu, seed=11):
        learner.add(event)
    m = learner.finish(0.1)
    event = next(iter(simulate_events(1, mu=mu, seed=12))).numpy()
    group = m.group_index(event)

    def ours():
        return build_doublets(
            event.r,
            event.phi,
            event.z,
            event.eta,
            group,
            m.src,
            m.dst,
            m.cut_min,
            m.cut_max,
            n_groups=m.num_groups,
        )

    edges = ours()
    reference = pandas_doublets(event, group, m)
    assert np.array_equal(_edge_set(edges), _edge_set(reference)), "doublets differ from the pandas join"
    size = f"mu={mu}: {event.num_hits} hits, {m.num_entries} map entries, {edges.shape[1]} edges"
    rows = [
        Row(
            f"doublets, module map ({core.max_threads()} threads)",
            size,
            best_time(ours),
            "pandas join",
            best_time(lambda: pandas_doublets(event, group, m), repeat=2),
        )
    ]
    if accel.cuda_available():
        gpu = event.to("cuda")
        g = torch.from_numpy(group).cuda()
        arrays = [torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in (m.src, m.dst, m.cut_min, m.cut_max)]

        def on_gpu():
            out = build_doublets(gpu.r, gpu.phi, gpu.z, gpu.eta, g, *arrays, n_groups=m.num_groups)
            torch.cuda.synchronize()
            return out

        assert np.array_equal(on_gpu().cpu().numpy(), edges), "GPU doublets differ from CPU"
        t = best_time(on_gpu, repeat=10)
        rows.append(
            Row(
                "doublets, module map (GPU)",
                size,
                t,
                "CPU kernel",
                rows[0].ours_s,
                extra={"events_per_s": 1 / t, "edges_per_s": edges.shape[1] / t},
            )
        )
    return rows


def neighbour_rows(quick: bool) -> list[Row]:
    """Ours (directed edges, both directions, ordered by (i, j)) vs cKDTree built from the points and
    ``query_pairs(r, output_type="ndarray")`` (its fastest form: each unordered pair once, unordered).
    Both timings include building the search structure; the pair counts are checked to agree."""
    rng = np.random.default_rng(0)
    n = 20_000 if quick else 100_000
    cases = [
        ("clustered embedding, 8-d", clustered_embedding(n, 8, rng), 0.1),
        ("uniform, 3-d", rng.random((n, 3), dtype=np.float32), (5 * 3 / (4 * math.pi * n)) ** (1 / 3)),
    ]
    rows = []
    for name, points, r in cases:
        ours = lambda: radius_graph(points, r)  # noqa: E731
        edges, _ = ours()
        tree = lambda: cKDTree(points).query_pairs(r, output_type="ndarray")  # noqa: E731 - tree build included
        pairs = tree()
        # float32 (ours) vs float64 (cKDTree) distances may disagree on a pair at the boundary
        assert abs(edges.shape[1] - 2 * len(pairs)) <= 2e-4 * edges.shape[1] + 2, "edge counts differ"
        size = f"{len(points)} points, r={r:.4g}, {edges.shape[1] / len(points):.1f} neighbours/point"
        rows.append(
            Row(
                f"radius graph, {name} ({core.max_threads()} threads)",
                size,
                best_time(ours),
                'cKDTree + query_pairs(output_type="ndarray")',
                best_time(tree, repeat=2),
                extra={"directed_edges": int(edges.shape[1]), "ckdtree_pairs": len(pairs)},
            )
        )
        if accel.cuda_available():
            gpu_points = torch.from_numpy(points).cuda()

            def on_gpu():
                out = radius_graph(gpu_points, r)
                torch.cuda.synchronize()
                return out

            assert np.array_equal(on_gpu()[0].cpu().numpy(), edges), "GPU neighbours differ from CPU"
            t = best_time(on_gpu, repeat=10)
            rows.append(
                Row(
                    f"radius graph, {name} (GPU)",
                    size,
                    t,
                    "CPU kernel",
                    rows[-1].ours_s,
                    extra={"edges_per_s": edges.shape[1] / t},
                )
            )
    return rows


def triplet_rows(quick: bool) -> list[Row]:
    """``tracking.ops.triplet_best`` (the best-match search behind the triplet edge features) on a
    module-map graph: the native CPU kernel vs the vectorised torch path (chunked triplet enumeration,
    ``scatter_reduce``), which is what runs on CUDA. Outputs are checked equal."""
    from tracking import registry
    from tracking.nn.features import TRIPLET_CHI2_MAX, TRIPLET_KAPPA_SCALE, TRIPLET_THETA_SCALE, _segment_shape

    mu = 50 if quick else 200
    event = registry.create("graph_builder", "module_map", {})(next(iter(simulate_events(1, mu=mu, seed=12)))).to("cpu")
    ei = event.edge_index
    xyz = [torch.as_tensor(getattr(event, k), dtype=torch.float64) for k in ("x", "y", "z")]
    kappa, theta = _segment_shape(*xyz, ei)
    args = (ei, event.num_hits, kappa, theta, TRIPLET_KAPPA_SCALE, TRIPLET_THETA_SCALE, TRIPLET_CHI2_MAX)
    native = triplet_best(*args, backend="native")
    vectorised = triplet_best(*args, backend="torch")
    assert all(torch.equal(a, b) for a, b in zip(native, vectorised)), "triplet kernel differs from torch"
    n_triplets = int(torch.bincount(ei[0], minlength=event.num_hits)[ei[1]].sum())
    size = f"mu={mu} module-map graph: {ei.shape[1]} edges, {n_triplets} triplets"
    return [
        Row(
            "triplet best-match (1 thread)",
            size,
            best_time(lambda: triplet_best(*args, backend="native")),
            "torch vectorised (scatter_reduce)",
            best_time(lambda: triplet_best(*args, backend="torch"), repeat=2),
            extra={"triplets": n_triplets},
        )
    ]


def run(quick: bool = False) -> list[Row]:
    return doublet_rows(quick) + neighbour_rows(quick) + triplet_rows(quick)


# -- physics: edge efficiency and purity of the learned maps -----------------------------------------


def evaluate_maps(maps: dict[str, ModuleMap], events, pt_cut: float = 1.0) -> dict[str, dict]:
    """Per map: efficiency on truth segments of particles with pT > pt_cut, purity, edges per event."""
    totals = {name: dict(edges=0, true_edges=0, segments=0, found=0, seconds=0.0) for name in maps}
    for event in events:
        seg = truth_segments(event)
        rows, found = event.particles.lookup(event.particle_id[seg[0]])
        high = seg[:, found & (event.particles.pt[np.maximum(rows, 0)] > pt_cut)]
        for name, m in maps.items():
            start = time.perf_counter()
            edges = m.build(event)
            s = totals[name]
            s["seconds"] += time.perf_counter() - start
            s["edges"] += edges.shape[1]
            s["true_edges"] += int(edge_truth(edges, seg, event.num_hits).sum())
            s["segments"] += high.shape[1]
            s["found"] += int(edge_truth(high, edges, event.num_hits).sum())
    n = max(len(events), 1)
    return {
        name: dict(
            efficiency_pt1=s["found"] / max(s["segments"], 1),
            purity=s["true_edges"] / max(s["edges"], 1),
            edges_per_event=s["edges"] / n,
            build_s_per_event=s["seconds"] / n,
            entries=maps[name].num_entries,
            groups=maps[name].num_groups,
        )
        for name, s in totals.items()
    }


def physics(
    mu: float,
    n_train: int,
    n_test: int,
    margin: float,
    module_pt_mins: list[float],
    layer_pt_mins: list[float],
    save_dir=None,
) -> dict:
    """Module maps: connectivity from particles above each of ``module_pt_mins``, dilated to the 4 and
    8 nearest modules, windows of the layer pair learned from pT >= 0.5 GeV; layer-pair maps above
    each of ``layer_pt_mins``. Learned on seed 1000, evaluated on seed 2000."""
    learners = {("module", pt): MapLearner("module", pt, window_pt_min=0.5) for pt in module_pt_mins}
    learners.update({("layer", pt): MapLearner("layer", pt) for pt in layer_pt_mins})
    for event in simulate_events(n_train, mu=mu, seed=1000):
        for learner in learners.values():
            learner.add(event)
    maps = {}
    for (g, pt), learner in learners.items():
        if g == "module":
            for k in (4, 8):
                maps[f"module_pt{pt}_k{k}"] = learner.finish(margin, neighbours=k, windows="layer")
        else:
            maps[f"layer_pt{pt}"] = learner.finish(margin)
    if save_dir is not None:
        for name, m in maps.items():
            m.save(f"{save_dir}/{name}.npz")
    test = list(simulate_events(n_test, mu=mu, seed=2000))  # a seed the maps never saw
    return dict(
        mu=mu,
        train_events=n_train,
        train_seed=1000,
        test_events=n_test,
        test_seed=2000,
        margin=margin,
        cut_variables=CUT_VARIABLES,
        results=evaluate_maps(maps, test),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--physics", action="store_true", help="edge efficiency / purity instead of timings")
    ap.add_argument("--mu", type=float, default=200)
    ap.add_argument("--train", type=int, default=20)
    ap.add_argument("--test", type=int, default=5)
    ap.add_argument("--margin", type=float, default=0.1)
    ap.add_argument("--module-pt-min", type=float, nargs="+", default=[0.0])
    ap.add_argument("--layer-pt-min", type=float, nargs="+", default=[0.8])
    ap.add_argument("--save-dir", default=None)
    args = ap.parse_args()
    core.set_max_threads(args.threads)
    if args.physics:
        print(
            json.dumps(
                physics(
                    args.mu, args.train, args.test, args.margin, args.module_pt_min, args.layer_pt_min, args.save_dir
                ),
                indent=2,
            )
        )
        return
    rows = run(args.quick)
    print(json.dumps([r.as_dict() for r in rows], indent=2) if args.json else format_table(rows))


if __name__ == "__main__":
    main()
