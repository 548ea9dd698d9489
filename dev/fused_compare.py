"""The edge classifiers' CPU inference with trackpipe's fused kernels against torch's operators alone
(``TRACKPIPE_FUSED=0``), on the graphs of one simulated mu = 200 event (seed 20200): best-of-3 seconds and
the largest score difference.

    python dev/fused_compare.py [THREADS]
"""

import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
from tracking.nn import fused  # noqa: E402
from tracking.nn.features import edge_features, node_features  # noqa: E402
from tracking.pipeline import Pipeline  # noqa: E402
from tracking.runner import DEFAULT_PIPELINE  # noqa: E402
from tracking.simulation import simulate_event  # noqa: E402

event = simulate_event(mu=200, seed=20200)
graph, filt, gnn, _ = Pipeline.from_yaml(DEFAULT_PIPELINE, device="cpu").stages
built = graph(event)
filtered = filt(built)
x = node_features(built, detector=filt.detector)


def best_of(label, fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:28s} {best:.3f} s", flush=True)
    return out


with torch.inference_mode():
    for name, stage, g in (("filter", filt, built), ("gnn", gnn, filtered)):
        attr = edge_features(g, g.edge_index, width=stage.model.edge_features, detector=stage.detector)
        print(f"{name}: {g.edge_index.shape[1]} edges, {torch.get_num_threads()} thread(s)")
        with fused.enabled(False):
            reference = best_of("  torch operators", lambda: stage.model.infer(x, g.edge_index, attr))
        got = best_of("  fused kernels", lambda: stage.model.infer(x, g.edge_index, attr))
        print(f"  largest score difference {(torch.sigmoid(got) - torch.sigmoid(reference)).abs().max().item():.2e}")
