"""GNN scores of the truth segments of particles under the target pT (0.9 GeV) and of the target ones, through
the shipped map and filter, for each GNN checkpoint given (the median, and the share above the walk's cut 0.3).

    python dev/soft_scores.py EVENTS GNN.pt [GNN.pt ...] [--events N]   (default: the first 2 events)
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from tracking import registry
from tracking.arrays import as_numpy
from tracking.io.detect import reader_for
from tracking.pipeline import Pipeline, build_stage
from tracking.truth import segments_above_pt, truth_segments

parser = argparse.ArgumentParser()
parser.add_argument("events")
parser.add_argument("gnn", nargs="+")
parser.add_argument("--events", dest="n", type=int, default=2)
args = parser.parse_args()
resources = Path(__file__).resolve().parents[1] / "tracking" / "resources"
default = Pipeline.from_yaml(resources / "default_pipeline.yaml", device="cpu")
torch.set_num_threads(2)


def keys(pairs, n):
    return (np.minimum(pairs[0], pairs[1]) * n + np.maximum(pairs[0], pairs[1])).tolist()


for gnn in args.gnn:
    spec = {"edge_classifier": "interaction_gnn", "checkpoint": str(Path(gnn).resolve()), "prune": False}
    gnn_stage = build_stage(spec, index=2)[1]
    soft, hard = [], []
    for k, event in enumerate(registry.create("reader", reader_for(args.events))(args.events)):
        if k >= args.n:
            break
        scored = gnn_stage(default.stages[1](default.stages[0](event)))
        n = event.num_hits
        score = dict(zip(keys(as_numpy(scored.edge_index), n), as_numpy(scored.edge_scores).tolist(), strict=True))
        segments = truth_segments(event)
        target = set(keys(segments_above_pt(event, segments, 0.9), n))
        for key in keys(segments, n):
            if key in score:
                (hard if key in target else soft).append(score[key])
    soft, hard = np.array(soft), np.array(hard)
    print(
        f"{gnn}: {len(soft)} segments under 0.9 GeV in the graph: median {np.median(soft):.3f}, "
        f"above 0.3 {100 * np.mean(soft > 0.3):.1f} %; {len(hard)} target segments: median {np.median(hard):.3f}"
    )
