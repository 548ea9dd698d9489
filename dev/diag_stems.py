"""Trace the fake stems of a pipeline (pure tracks holding less than half of their particle's hits: fakes under
double majority) on events with truth: each truth segment of the particle, whether the map builds it, its filter
score (nan: cut) and its GNN score, and which of its hits the stem holds (T).

    python dev/diag_stems.py EVENTS PIPELINE [MAX_EVENTS]
"""
import sys, numpy as np, torch
from tracking import registry
from tracking.io.detect import reader_for
from tracking.pipeline import Pipeline
from tracking.arrays import as_numpy
from tracking.truth import truth_segments
pipe = Pipeline.from_yaml(sys.argv[2], device="cpu")
n_max = int(sys.argv[3]) if len(sys.argv) > 3 else 99
for k, ev in enumerate(registry.create("reader", reader_for(sys.argv[1]))(sys.argv[1])):
    if k >= n_max: break
    st = []; e = ev
    for i in range(len(pipe.stages)):
        e, _ = pipe.run_stage(i, e); st.append(e)
    lab = as_numpy(e.track_labels); pid = as_numpy(ev.particle_id)
    seg = truth_segments(ev); n = ev.num_hits
    def emap(x):
        ei = as_numpy(x.edge_index); key = np.minimum(ei[0], ei[1]) * n + np.maximum(ei[0], ei[1])
        return dict(zip(key.tolist(), as_numpy(x.edge_scores).tolist() if x.edge_scores is not None else [1.0] * len(key)))
    g = emap(st[0]); f = emap(st[1]); gn = emap(st[2])
    r = np.hypot(as_numpy(ev.x), as_numpy(ev.y)); z = as_numpy(ev.z); vol = as_numpy(ev.volume_id); lay = as_numpy(ev.layer_id)
    cnt = {p: c for p, c in zip(*np.unique(pid, return_counts=True))}
    for t in np.unique(lab[lab >= 0]):
        h = np.flatnonzero(lab == t); ps, c = np.unique(pid[h], return_counts=True); j = np.argmax(c); p = ps[j]
        if p == 0 or c[j] != len(h) or 2 * c[j] > cnt[p]: continue
        s = seg[:, pid[seg[0]] == p]
        print(f"event {ev.event_id} track {t}: {len(h)} of {cnt[p]} hits")
        for a, b in s.T:
            kk = min(a, b) * n + max(a, b)
            print(f"   {'T' if lab[a]==t else '-'}{'T' if lab[b]==t else '-'} vol/lay {vol[a]}/{lay[a]} -> {vol[b]}/{lay[b]} z {z[a]:.0f}->{z[b]:.0f} r {r[a]:.0f}->{r[b]:.0f} "
                  f"map {'Y' if kk in g else 'n'} filter {f.get(kk, float('nan')):.3f} gnn {gn.get(kk, float('nan')):.3f}")
