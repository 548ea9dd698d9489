"""Trace the missed LHCb "velo" particles (has_velo, no electrons, >= 3 hits; not matched by a track with >= 70 %
of its hits from them) of VELO validation events 800-805 through a fitted VELO pipeline (graph, filter, walk):
are their segments in the graph, what does the last edge classifier score them, which tracks took their hits.

    [VELO_EVENTS=800-806] python dev/velo_missed.py [PIPELINE_YAML]   (needs `pip install -e examples/velo`; data in ../shared/data/velo)
"""
import sys, numpy as np, torch, collections
torch.set_num_threads(1)
sys.path.insert(0, "examples/velo")
import velo_reader
from tracking import registry
from tracking.pipeline import Pipeline
from tracking.truth import truth_segments, edge_truth
from tracking.arrays import as_numpy
pipe = Pipeline.from_yaml(sys.argv[1] if len(sys.argv) > 1 else "runs/velo-fit-v5/pipeline.yaml", device="cpu")
import os
first, last = map(int, os.environ.get("VELO_EVENTS", "800-806").split("-"))
reader = registry.create("reader", "velo_json", {"events": list(range(first, last))})
stats = collections.Counter()
cut = pipe.stages[-1].config.score_cut
rows = []
for ev in reader("../shared/data/velo/minibias"):
    pid = as_numpy(ev.particle_id).astype(np.int64)
    P = ev.particles.numpy()
    ex = P.extra
    ids = as_numpy(P.particle_id)
    has_velo = np.asarray(ex["has_velo"]).astype(bool)
    pdg = np.abs(np.asarray(ex["pdg"]))
    p = np.asarray(ex["p"])
    e = ev; states = []
    for i in range(len(pipe.stages)):
        e, _ = pipe.run_stage(i, e); states.append(e)
    g, f, tb = states[0], states[-2], states[-1]  # f: the last edge classifier (GNN scores when there is one)
    lab = as_numpy(tb.track_labels)
    seg = truth_segments(ev)
    gi = as_numpy(g.edge_index); fs = as_numpy(f.edge_scores); fi = as_numpy(f.edge_index)
    # map segment -> filter score
    n = ev.num_hits
    key_f = fi[0].astype(np.int64) * n + fi[1]
    order = np.argsort(key_f); key_sorted = key_f[order]
    for k, part in enumerate(ids):
        if not has_velo[k] or pdg[k] == 11: continue
        hits = np.nonzero(pid == part)[0]
        if len(hits) < 3: continue
        # reconstructed? a track with >= 70% hits from it and
        tl = lab[hits]; tl = tl[tl >= 0]
        ok = False
        for t in np.unique(tl):
            th = np.nonzero(lab == t)[0]
            if np.mean(pid[th] == part) >= 0.7: ok = True
        stats["targets"] += 1
        if ok: continue
        stats["missed"] += 1
        s = seg[:, np.isin(seg[0], hits)]
        ks = s[0].astype(np.int64) * n + s[1]
        pos = np.searchsorted(key_sorted, ks); pos = np.minimum(pos, len(key_sorted) - 1)
        present = key_sorted[pos] == ks
        scores = np.where(present, fs[order[pos]], -1)
        rows.append((len(hits), round(float(p[k]), 2), int(present.sum()), s.shape[1], np.round(np.sort(scores), 2).tolist(), np.unique(lab[hits]).tolist()))
        if present.sum() < s.shape[1]: stats["segments missing from graph"] += 1
        elif (scores <= cut).any(): stats[f"a segment scored <= {cut} (walk cut)"] += 1
        else: stats[f"all segments > {cut}, walk/quality lost it"] += 1
print(stats)
nh = collections.Counter(r[0] for r in rows); print("missed by hits", sorted(nh.items()))
for r in rows[:40]: print(r)
