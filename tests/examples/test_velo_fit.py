"""``trackpipe fit`` on a second detector: a tiny pipeline fitted on a few real LHCb VELO events (no field,
planes along z) through the example's reader, and its directory run on an event it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tracking import registry
from tracking.arrays import as_numpy
from tracking.fit import fit, load_fit_config
from tracking.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[2]
VELO_DIR = REPO.parent / "shared" / "data" / "velo" / "minibias"
READER = REPO / "examples" / "velo" / "velo_reader.py"


@pytest.mark.slow
def test_tiny_velo_fit_runs_on_unseen_events(tmp_path):
    if not VELO_DIR.is_dir():
        pytest.skip(f"VELO data not found at {VELO_DIR} (../shared/data/velo/minibias)")
    spec = {
        "train": {"path": str(VELO_DIR), "first": 0, "n": 12, "reader": "velo_json"},
        "val": {"path": str(VELO_DIR), "first": 800, "n": 4, "reader": "velo_json"},
        "imports": [str(READER)],
        "output": "velo-fit",
        "budget_minutes": 0.05,
        "device": "cpu",
        "field_tesla": 0.0,
        "matching": {"kind": "lhcb", "category": "velo"},
        "map": {"granularity": "module", "margins": [0.1], "min_segments": [1], "neighbours": [1]},
        "filter": {"max_epochs": 1, "model": {"name": "edge_filter", "hidden": 16, "n_layers": 2}},
        "gnn": {"max_epochs": 1, "model": {"name": "interaction_gnn", "hidden": 8, "n_iterations": 2}},
        "cuts": {"score_cuts": [0.3, 0.6], "min_hits": [3], "track_builders": ["walkthrough"]},
    }
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = fit(load_fit_config(path), progress=False, log=lambda message: None)

    out = tmp_path / "velo-fit"
    assert result.directory == out
    report = json.loads((out / "report.json").read_text())
    assert report["steps"]["detector"]["field_tesla"] == 0.0  # straight tracks: straight-line features
    assert report["steps"]["map"]["chosen"]["efficiency"] > 0.5  # the map connects most VELO segments
    assert 0.0 <= report["validation"]["categories"]["velo"]["efficiency"] <= 1.0

    reader = registry.create("reader", "velo_json", {"events": [950]})
    event = next(iter(reader(VELO_DIR)))
    labels = as_numpy(Pipeline.from_yaml(out, device="cpu")(event).track_labels)
    assert labels.shape == (event.num_hits,) and np.issubdtype(labels.dtype, np.integer)
