"""Trace every missed target particle (pT > 1 GeV, >= 3 hits) of one TrackML CSV event through a pipeline:
its truth segments in the graph, after the filter, their GNN scores, and its track labels; when the walk
alone had built its track and the short-track rule dropped it, that track's hits and its quality probability
(or mean edge score) against the rule's cut, with the track-quality features.

    python dev/diag_missed.py EVENT_DIR [PIPELINE_YAML]   (default: the shipped pipeline)
"""
import sys, numpy as np, torch
torch.set_num_threads(1)
from tracking.io.trackml_csv import read_trackml_csv
from tracking.pipeline import Pipeline
from tracking.truth import truth_segments, edge_truth
from tracking.arrays import as_numpy
from tracking.quality import FEATURE_NAMES, track_features
from importlib.resources import files
path = sys.argv[1]
pipe_yaml = sys.argv[2] if len(sys.argv) > 2 else str(files("tracking.resources") / "default_pipeline.yaml")
ev = next(iter(read_trackml_csv(path)))
pipe = Pipeline.from_yaml(pipe_yaml, device="cpu")
pid = as_numpy(ev.particle_id).astype(np.int64)
seg = truth_segments(ev)
P = ev.particles.numpy()
rows, found = P.lookup(pid)
pt = np.where(found, as_numpy(P.pt)[rows], 0)
nh = np.bincount(np.unique(pid, return_inverse=True)[1])
u, inv = np.unique(pid, return_inverse=True)
cnt = np.bincount(inv)
targets = [p for p, c in zip(u, cnt) if p != 0 and c >= 3 and pt[pid == p][0] > 1.0]
print("targets", len(targets))
e = ev
states = []
for i in range(len(pipe.stages)):
    e, t = pipe.run_stage(i, e)
    states.append(e)
    lab = pipe.labels[i] if hasattr(pipe, "labels") else i
    if e.edge_index is not None:
        print(i, lab, "edges", e.num_edges)
# per particle: segments present after graph builder, after filter, after gnn (score), track labels
g = states[0]; f = states[1]; gn = states[2]; tb = states[3]
def seg_in(ei, s):
    return edge_truth(ei, s, ev.num_hits)
lab = as_numpy(tb.track_labels)
builder = pipe.stages[3]
cfg = builder.config
walk = as_numpy(builder.walk(gn))
walk_features = track_features(gn.x, gn.y, gn.z, gn.edge_index, gn.edge_scores, walk)
r = np.sqrt(as_numpy(ev.x)**2 + as_numpy(ev.y)**2); z = as_numpy(ev.z)
vol = as_numpy(ev.volume_id); lay = as_numpy(ev.layer_id)
for p in targets:
    s = seg[:, pid[seg[0]] == p]
    hits = np.flatnonzero(pid == p)
    inmap = seg_in(g.edge_index, s)
    inf = seg_in(f.edge_index, s)
    # gnn scores for the segments
    ei = as_numpy(gn.edge_index); sc = as_numpy(gn.edge_scores)
    n = ev.num_hits
    key = np.minimum(ei[0], ei[1]) * n + np.maximum(ei[0], ei[1])
    d = dict(zip(key.tolist(), sc.tolist()))
    gs = [d.get(min(a, b) * n + max(a, b), -1) for a, b in s.T]
    tl = lab[hits]
    vals, c = np.unique(tl, return_counts=True)
    best = vals[np.argmax(c)]; frac = c.max() / len(hits)
    trk_size = (lab == best).sum() if best >= 0 else 0
    ok = best >= 0 and frac > 0.5 and ((pid[lab == best] == p).sum() / trk_size > 0.5)
    if not ok:
        print(f"MISSED pid {p} pt {pt[pid==p][0]:.2f} nhits {len(hits)} map {inmap.sum()}/{s.shape[1]} filter {inf.sum()} gnn {np.round(gs,2).tolist()} labels {tl.tolist()} best {best} size {trk_size}")
        o = np.argsort(np.hypot(r[hits], z[hits]))
        print("   vol/lay", [(int(vol[h]), int(lay[h])) for h in hits[o]], "r", np.round(r[hits[o]]).tolist(), "z", np.round(z[hits[o]]).tolist())
        wl = walk[hits]
        wbest = np.bincount(wl[wl >= 0]).argmax() if (wl >= 0).any() else -1
        if wbest >= 0 and (lab[walk == wbest] < 0).all():
            members = np.flatnonzero(walk == wbest)
            judged = "quality probability" if builder.quality_model is not None else "mean edge score"
            value = (builder.quality_model.predict(walk_features[wbest:wbest + 1])[0] if builder.quality_model is not None
                     else float(walk_features[wbest, FEATURE_NAMES.index("edge_score_mean")]))
            print(f"   the walk built it ({len(members)} hits, {(pid[members] == p).sum()} of this particle); the short-track "
                  f"rule dropped it: {judged} {value:.3f}, needs > {cfg.short_score_cut} below {cfg.short_hits} hits")
            print("   features", dict(zip(FEATURE_NAMES, np.round(walk_features[wbest], 3).tolist())))
