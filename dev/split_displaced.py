"""Efficiency of primaries and of displaced particles (vertex > 1 mm from the beam line) separately, for a
directory of configs/evaluate_default.sh (events/ + tracks.root).

    python dev/split_displaced.py runs/evaluate_default/mu200
"""
import sys, numpy as np, dataclasses
from tracking import registry
from tracking.io.tracks import TracksFile
from tracking.metrics.evaluation import paired_events
from tracking.metrics import TrackMetrics
from tracking.io.barcode import decode_barcode
d = sys.argv[1]
events = list(registry.create("reader", "acts_root")(f"{d}/events"))
tracks = TracksFile(f"{d}/tracks.root")
for which in ("primary", "displaced"):
    m = TrackMetrics()
    for ev in paired_events(iter(events), tracks, []):
        p = ev.particles
        r = np.hypot(p.vx, p.vy)
        drop = (r > 1.0) if which == "primary" else (r <= 1.0)
        pt = p.pt.copy(); pt[drop] = 0
        ev = ev.replace(particles=dataclasses.replace(p, pt=pt))
        m.add(ev, ev.track_labels)
    res = m.result()
    print(d, which, res["n_reconstructable"], round(100 * res["efficiency"], 2))
