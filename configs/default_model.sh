#!/usr/bin/env bash
# Reproduces the default pipeline's shipped files (tracking/data/):
#   module_map_default.npz  - module map learned from 20 simulated mu = 200 events (seed 1000)
#   gnn_default.pt          - InteractionGNN trained by configs/default_gnn.yaml
# Evaluation and demo events use other seeds (demo: 424242; the figures in the notes: 5000+).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${WORK:-runs/default}
mkdir -p "$work"
trackpipe simulate -n 20 --mu 200 --seed 1000 -o "$work/map_events"
trackpipe build-map "$work/map_events" -o tracking/data/module_map_default.npz --granularity module \
  --neighbours 8 --windows layer --window-pt-min 0.9 --margin 0.05
# the shipped model: 6 epochs as configured, then resumed to 10 (the cosine schedule restarts at epoch 7)
trackpipe train configs/default_gnn.yaml
trackpipe train configs/default_gnn.yaml --epochs 10
cp runs/default_gnn/model.pt tracking/data/gnn_default.pt
