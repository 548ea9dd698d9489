#!/usr/bin/env bash
# Physics figures of the default pipeline on fresh simulated events (seeds never used for the map
# (1000) or training (11, 12)): efficiency, fake and duplicate rates, TrackML score at mu = 20, 50, 200.
#   bash configs/evaluate_default.sh [OUTDIR]
set -euo pipefail
out=${1:-runs/evaluate_default}
for spec in "20 10" "50 10" "200 10"; do
  set -- $spec
  mu=$1 n=$2
  dir="$out/mu$mu"
  trackpipe simulate -n "$n" --mu "$mu" --seed $((5000 + mu)) -o "$dir/events" --no-progress
  trackpipe run "$dir/events" -o "$dir/tracks.root" --quiet
  trackpipe evaluate "$dir/tracks.root" --truth "$dir/events" --json "$dir/metrics.json" --plots "$dir/plots"
done
