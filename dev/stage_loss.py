"""Where target particles (pT > 1 GeV, >= 3 hits) are lost, primaries, displaced (vertex 1-200 mm from the
beam line) and produced at >= 200 mm apart (the groups of `trackpipe evaluate`'s production-radius row):
their truth segments in the graph, after the filter, scored >= the walk cut by the GNN,
whether the particle is found, and for each missed one the first stage that lost one of its segments
(``builder``: every segment passed and the track builder or its quality rule lost it; how many of those
the walk alone, without the quality rule, would have found).

    python dev/stage_loss.py EVENTS_DIR [PIPELINE_YAML|-] [N_EVENTS]     (VERB=1: every builder miss)
"""
import collections
import os
import sys
from importlib.resources import files

import numpy as np
import torch

from tracking import registry
from tracking.arrays import as_numpy
from tracking.metrics.tracks import match_tracks
from tracking.pipeline import Pipeline
from tracking.truth import truth_segments

torch.set_num_threads(1)
path = sys.argv[1]
given = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
pipe = Pipeline.from_yaml(given or str(files("tracking.resources") / "default_pipeline.yaml"), device="cpu")
n_max = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
verbose = bool(os.environ.get("VERB"))
builder = pipe.stages[3]
cut = builder.config.score_cut
stats = collections.defaultdict(collections.Counter)



for index, event in enumerate(registry.create("reader", "acts_root")(path)):
    if index >= n_max:
        break
    n = event.num_hits
    pid = as_numpy(event.particle_id).astype(np.int64)
    seg = truth_segments(event)
    rows, known = event.particles.lookup(pid)
    vr = np.where(known, np.hypot(as_numpy(event.particles.vx)[rows], as_numpy(event.particles.vy)[rows]), 0)
    states, e = [], event
    for i in range(len(pipe.stages)):
        e, _ = pipe.run_stage(i, e)
        states.append(e)
    graph, filtered, scored, tracks = states[:4]
    seg_key = np.minimum(seg[0], seg[1]) * n + np.maximum(seg[0], seg[1])

    def present(edge_index):
        ei = as_numpy(edge_index)
        return np.isin(seg_key, np.minimum(ei[0], ei[1]) * n + np.maximum(ei[0], ei[1]))

    in_map, in_filter = present(graph.edge_index), present(filtered.edge_index)
    ei, sc = as_numpy(scored.edge_index), as_numpy(scored.edge_scores)
    key = np.minimum(ei[0], ei[1]) * n + np.maximum(ei[0], ei[1])
    order = np.argsort(key)
    pos = np.clip(np.searchsorted(key[order], seg_key), 0, len(key) - 1)
    seg_score = np.where(key[order][pos] == seg_key, sc[order][pos], -1.0)
    labels = as_numpy(tracks.track_labels)
    walk_only = as_numpy(builder.walk(scored))
    seg_pid = pid[seg[0]]
    # the evaluation's own matching (double majority, pT > 1 GeV, >= 3 hits), of the pipeline and of the walk alone
    matching, walk_matching = match_tracks(event, labels), match_tracks(event, walk_only)
    targets = np.flatnonzero(matching.particle_reconstructable)
    for p, ok, walk_ok in zip(matching.particle_id[targets], matching.particle_matched[targets],
                              walk_matching.particle_matched[targets]):
        hits = np.flatnonzero(pid == p)
        r0 = vr[hits[0]]
        st = stats["primary" if r0 <= 1.0 else ("displaced < 200 mm" if r0 < 200.0 else "produced >= 200 mm")]
        mine = seg_pid == p
        st["n"] += 1
        st["found"] += ok
        st["segments"] += mine.sum()
        st["map"] += in_map[mine].sum()
        st["filter"] += in_filter[mine].sum()
        st["gnn"] += (seg_score[mine] >= cut).sum()
        if ok:
            continue
        if in_map[mine].sum() < mine.sum():
            st["missed: map lost a segment"] += 1
        elif in_filter[mine].sum() < mine.sum():
            st["missed: filter lost a segment"] += 1
        elif (seg_score[mine] < cut).any():
            st["missed: GNN lost a segment"] += 1
        else:
            st["missed: builder"] += 1
            st["  of which the walk alone finds"] += walk_ok
            if verbose:
                print("builder miss", p, "hits", len(hits), "labels", labels[hits].tolist(),
                      "walk alone", walk_only[hits].tolist(), "scores", np.round(seg_score[mine], 2).tolist())
for kind, st in stats.items():
    print(f"{kind}: {st['n']} particles, found {100 * st['found'] / st['n']:.2f} %; segments in map "
          f"{100 * st['map'] / st['segments']:.2f} %, after filter {100 * st['filter'] / st['segments']:.2f} %, "
          f"GNN >= {cut} {100 * st['gnn'] / st['segments']:.2f} %")
    for name in ("map lost a segment", "filter lost a segment", "GNN lost a segment", "builder"):
        print(f"   missed, {name}: {st['missed: ' + name]}")
    print(f"      of which the walk alone finds: {st['  of which the walk alone finds']}")
