#!/usr/bin/env bash
# Reproduces the default pipeline's shipped files (tracking/resources/):
#   module_map_default.npz  - module map learned from 20 simulated mu = 200 events (seed 1000)
#   filter_default.pt       - MLP edge filter (doublet + triplet features) by configs/default_filter.yaml
#   gnn_default.pt          - InteractionGNN on the filtered graphs, by configs/default_gnn.yaml
# Evaluation and demo events use other seeds (demo: 424242; the figures in the notes: 5000+).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${WORK:-runs/default}
mkdir -p "$work"
trackpipe simulate -n 20 --mu 200 --seed 1000 -o "$work/map_events"
trackpipe build-map "$work/map_events" -o tracking/resources/module_map_default.npz --granularity module \
  --neighbours 8 --windows layer --window-pt-min 0.9 --margin 0.05
# The filter, then the GNN on the graphs it leaves. The filter's cut in default_gnn.yaml and in
# tracking/resources/default_pipeline.yaml (0.004) keeps 99.7 % of the pT > 1 GeV edges of the validation
# events (seed 12) and ~14 % of all edges.
trackpipe train configs/default_filter.yaml
cp runs/default_filter/model.pt tracking/resources/filter_default.pt
trackpipe train configs/default_gnn.yaml
cp runs/default_gnn/model.pt tracking/resources/gnn_default.pt
