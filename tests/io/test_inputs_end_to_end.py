"""ACTS CSV and converted (write_events) inputs go through `run` and `evaluate` as they are: the reader is
detected, tracks are written, and the truth is read back for scoring."""

from __future__ import annotations

import pytest

from tracking import registry
from tracking.metrics.evaluation import evaluate_files, truth_reader_name
from tracking.pipeline import Pipeline
from tracking.runner import run

from .acts_csv_files import write_event


@pytest.mark.parametrize("converted", [None, "parquet", "csv"])
def test_run_and_evaluate_on_acts_csv_and_converted_tables(tmp_path, converted):
    data = tmp_path / "acts"
    for event in (1, 2):
        write_event(data, event, layout="current", n_particles=20)
    if converted is not None:
        from tracking.io import write_events

        write_events(registry.create("reader", "acts_csv")(data), tmp_path / "conv", format=converted)
        data = tmp_path / "conv"
    assert truth_reader_name(data) == ("acts_csv" if converted is None else "columnar")
    pipeline = Pipeline([registry.create("track_builder", "truth", {"min_hits": 3})], device="cpu")
    report = run(data, tmp_path / "tracks.root", pipeline, progress=False)
    assert report.events_written == 2
    result = evaluate_files(tmp_path / "tracks.root", data)
    assert result["efficiency"] == 1.0 and result["fake_rate"] == 0.0
