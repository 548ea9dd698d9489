#!/usr/bin/env bash
# Physics figures of the default pipeline on fresh simulated events (seeds never used for the map (1000),
# training (1000) or the choice of cuts (40)): efficiency, fake and duplicate rates, TrackML score at
# mu = 20, 50, 200, for pT > 1 GeV and pT > 0.5 GeV particles, and mu = 200 with particles that stop in the
# material (hadronic interactions); then, zero-shot, the real TrackML sample
# event 1 (with truth) and the full real event 1000 (120,939 hits; per-stage times).
#   bash configs/evaluate_default.sh [OUTDIR]          (TRACKML=dir of the TrackML files)
set -euo pipefail
out=${1:-runs/evaluate_default}
trackml=${TRACKML:-$(dirname "$0")/../../shared/data/trackml}
for spec in "20 10" "50 10" "200 10"; do
  set -- $spec
  mu=$1 n=$2
  dir="$out/mu$mu"
  trackpipe simulate -n "$n" --mu "$mu" --seed $((5000 + mu)) -o "$dir/events" --no-progress
  trackpipe run "$dir/events" -o "$dir/tracks.root" --quiet
  trackpipe evaluate "$dir/tracks.root" --truth "$dir/events" --json "$dir/metrics.json" --plots "$dir/plots"
  trackpipe evaluate "$dir/tracks.root" --truth "$dir/events" --pt-min 0.5 --json "$dir/metrics_pt05.json"
done
# the same mu = 200 seed with hadronic interactions at real TrackML's rate (particles stop in the material:
# real event 1000 has 2.8 % of its pT > 1 GeV primaries with 3-4 hits; the default simulation none)
dir="$out/mu200_hadronic"
trackpipe simulate -n 10 --mu 200 --seed 5200 --hadronic 0.01 -o "$dir/events" --no-progress
trackpipe run "$dir/events" -o "$dir/tracks.root" --quiet
trackpipe evaluate "$dir/tracks.root" --truth "$dir/events" --json "$dir/metrics.json"
real="$out/real"
mkdir -p "$real/event1"
for f in "$trackml"/event000000001-*.csv.gz; do ln -sf "$(realpath "$f")" "$real/event1/"; done
trackpipe run "$real/event1" -o "$real/event1_tracks.root"
trackpipe evaluate "$real/event1_tracks.root" --truth "$real/event1" --json "$real/event1_metrics.json"
trackpipe evaluate "$real/event1_tracks.root" --truth "$real/event1" --pt-min 0.5 --json "$real/event1_metrics_pt05.json"
mkdir -p "$real/event1000"
for f in "$trackml"/event000001000-*.csv.gz; do ln -sf "$(realpath "$f")" "$real/event1000/"; done
trackpipe run "$real/event1000" -o "$real/event1000_tracks.root"   # prints the per-stage times
