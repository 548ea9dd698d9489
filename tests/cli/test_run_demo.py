"""`trackpipe run` and `trackpipe demo` end to end, with the shipped default pipeline."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tracking import registry
from tracking.cli import main
from tracking.config import resolve_path
from tracking.io.acts_write import write_acts
from tracking.io.tracks import TracksFile
from tracking.runner import DEFAULT_PIPELINE
from tracking.simulation import simulate_events
from tracking.stages import Stage


@pytest.fixture(scope="module")
def acts_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("acts")
    write_acts(simulate_events(3, mu=5, seed=99), out)
    return out


@pytest.fixture
def failing_builder():
    @registry.register("graph_builder", "test_fail_on_event_1")
    class FailOnOne(Stage):
        """Fails on event 1 only."""

        @dataclass
        class Config:
            pass

        def __call__(self, event):
            if event.event_id == 1:
                raise RuntimeError("boom")
            return event

    yield
    registry.unregister("graph_builder", "test_fail_on_event_1")


def write_pipeline(path, first_stage="graph_builder: test_fail_on_event_1"):
    path.write_text(f"device: cpu\nstages:\n  - {first_stage}\n  - track_builder: truth\n    min_hits: 3\n")
    return path


def test_default_pipeline_files_are_shipped():
    for name in ("default_pipeline.yaml", "module_map_default.npz", "gnn_default.pt"):
        assert resolve_path(f"builtin:{name}", None).is_file(), name
    assert DEFAULT_PIPELINE.startswith("builtin:")


@pytest.mark.parametrize("on_error, code, events", [("skip", 1, [0, 2]), ("stop", 1, [0])])
def test_bad_event_is_reported_and_finished_events_kept(tmp_path, acts_dir, failing_builder, on_error, code, events):
    pipe = write_pipeline(tmp_path / "p.yaml")
    out = tmp_path / "tracks.root"
    result = CliRunner().invoke(
        main, ["run", str(acts_dir), "-o", str(out), "--pipeline", str(pipe), "--on-error", on_error, "--quiet"]
    )
    assert result.exit_code == code, result.output
    assert "event 1 failed: RuntimeError: boom" in result.output
    assert TracksFile(out).event_numbers == events


def test_run_default_pipeline_on_real_trackml_sample(tmp_path, trackml_dir):
    out = tmp_path / "tracks.root"
    result = CliRunner().invoke(
        main, ["run", str(trackml_dir / "event000000001"), "-o", str(out), "--quiet", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "graph_builder:module_map" in result.output and "mean per event" in result.output
    (record,) = list(TracksFile(out))
    assert len(record.measurement_id) == 5527
    labels = np.asarray(record.track_id)
    assert labels.max() >= 10  # the sample holds hundreds of particles: tracks must come out
    # every track id is used by >= min_hits hits (the default pipeline's track builder's)
    spec = yaml.safe_load(resolve_path(DEFAULT_PIPELINE, None).read_text())
    assert np.bincount(labels[labels >= 0]).min() >= spec["stages"][-1]["min_hits"]


def test_demo_end_to_end_small(tmp_path):
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path), "-n", "1", "--mu", "10", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_events"] == 1 and metrics["n_reconstructable"] > 0
    # the shipped pipeline (98-99 % efficiency, 1-2 % fakes on unseen seeds at mu = 20-200) on one
    # small event: a regression guard with room for the statistics of ~100 particles
    assert metrics["efficiency"] > 0.9 and metrics["fake_rate"] < 0.08
    assert (tmp_path / "plots" / "efficiency_vs_pt.png").is_file()
    assert "efficiency" in result.output and "mean per event" in result.output


@pytest.mark.parametrize("fmt", ["acts", "csv"])
@pytest.mark.parametrize(
    ("shard", "max_events", "positions"),
    [((0, 2), None, [0, 2, 4]), ((1, 2), None, [1, 3]), ((1, 3), 4, [1]), ((4, 5), 3, [])],
)
def test_a_shard_reads_only_its_own_events(tmp_path, monkeypatch, fmt, shard, max_events, positions):
    """Rank r of w processes input positions r, r + w, ... (within --max-events) and reads nothing else."""
    from tracking.io.trackml_write import write_trackml_csv
    from tracking.pipeline import Pipeline
    from tracking.runner import run

    events = list(simulate_events(5, mu=2, seed=8, first_event=20))
    data = tmp_path / "events"
    (write_acts if fmt == "acts" else write_trackml_csv)(iter(events), data)
    read: list[int] = []
    original = registry.create

    def counting_create(kind, name, config=None):
        stage = original(kind, name, config)
        if kind != "reader":
            return stage

        def reading(source):
            for event in stage(source):
                read.append(event.event_id)
                yield event

        reading.count = stage.count
        if hasattr(stage, "event_numbers"):
            reading.event_numbers = stage.event_numbers
        return reading

    monkeypatch.setattr(registry, "create", counting_create)
    pipeline = Pipeline.from_config({"device": "cpu", "stages": [{"track_builder": "truth", "min_hits": 1}]})
    report = run(data, tmp_path / "part.root", pipeline, shard=shard, max_events=max_events, progress=False)
    assert report.input_indices == positions
    assert read == [20 + p for p in positions]  # no other event was read
    assert [r.event_nr for r in TracksFile(tmp_path / "part.root")] == [20 + p for p in positions]


def test_on_error_stop_in_one_shard_stops_the_others(tmp_path, acts_dir, failing_builder):
    """Shards of one job share a stop flag: the shard that stops on a bad event raises it and the
    others stop before their next event (what they finished is kept); without it they go on."""
    from tracking.pipeline import Pipeline
    from tracking.runner import run

    pipeline = Pipeline.from_yaml(write_pipeline(tmp_path / "p.yaml"), device="cpu")
    flag = tmp_path / ".stop"
    failing = run(acts_dir, tmp_path / "a.root", pipeline, shard=(1, 2), stop_flag=flag, progress=False)
    assert failing.stopped_early and [f[0] for f in failing.failed] == [1] and flag.exists()
    other = run(acts_dir, tmp_path / "b.root", pipeline, shard=(0, 2), stop_flag=flag, progress=False)
    assert other.stopped_early and other.events_written == 0 and not other.failed
    flag.unlink()
    goes_on = run(acts_dir, tmp_path / "c.root", pipeline, shard=(0, 2), stop_flag=flag, progress=False)
    assert not goes_on.stopped_early and goes_on.input_indices == [0, 2]
