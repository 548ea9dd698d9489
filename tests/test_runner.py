"""tracking.runner: an event that fails while being read follows --on-error like a stage failure;
outputs are checked before anything runs; the progress bar counts finished events."""

from __future__ import annotations

import pytest

from tracking import ConfigError
from tracking.io.acts_write import write_acts
from tracking.io.tracks import TracksFile
from tracking.pipeline import Pipeline
from tracking.runner import resolve_output, run
from tracking.simulation import simulate_events

from .site_plugins import load_site_plugins, unload_site_plugins


@pytest.fixture(scope="module")
def acts_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("acts")
    write_acts(simulate_events(4, mu=3, seed=5, first_event=10), out)
    return out


@pytest.fixture
def site_plugins():
    load_site_plugins()
    yield
    unload_site_plugins()


@pytest.fixture
def truth_pipeline():
    return Pipeline.from_config({"device": "cpu", "stages": [{"track_builder": "truth", "min_hits": 1}]})


@pytest.mark.parametrize("reader", ["test_flaky", "test_flaky_iter"])
@pytest.mark.parametrize(("on_error", "written"), [("skip", [10, 12, 13]), ("stop", [10])])
def test_an_event_the_reader_rejects_follows_on_error(
    tmp_path, acts_dir, site_plugins, truth_pipeline, monkeypatch, reader, on_error, written
):
    monkeypatch.setenv("TRACKPIPE_TEST_BAD_EVENTS", "11")
    out = tmp_path / "tracks.root"
    report = run(acts_dir, out, truth_pipeline, on_error=on_error, progress=False, reader=reader)
    assert [r.event_nr for r in TracksFile(out)] == written
    assert [event for event, _ in report.failed] == [11]
    assert report.failed[0][1].startswith("reading: DataError: test: coordinates are NaN")
    assert report.stopped_early == (on_error == "stop")


@pytest.mark.parametrize(("shard", "written", "failed"), [((0, 2), [10, 12], []), ((1, 2), [13], [11])])
def test_reader_errors_in_a_shard(
    tmp_path, acts_dir, site_plugins, truth_pipeline, monkeypatch, shard, written, failed
):
    monkeypatch.setenv("TRACKPIPE_TEST_BAD_EVENTS", "11")
    out = tmp_path / "part.root"
    report = run(acts_dir, out, truth_pipeline, on_error="skip", shard=shard, progress=False, reader="test_flaky")
    assert [r.event_nr for r in TracksFile(out)] == written
    assert [event for event, _ in report.failed] == failed


def test_a_reader_that_cannot_go_on_says_so(tmp_path, acts_dir, site_plugins, truth_pipeline, monkeypatch):
    """A generator without event numbers ends at its error: the events before it are kept and the
    report says the later ones were not read (rather than claiming they did not exist)."""
    monkeypatch.setenv("TRACKPIPE_TEST_BAD_EVENTS", "12")
    out = tmp_path / "tracks.root"
    report = run(acts_dir, out, truth_pipeline, on_error="skip", progress=False, reader="test_flaky_unlisted")
    assert [r.event_nr for r in TracksFile(out)] == [10, 11]
    ((event, message),) = report.failed
    assert event == 12 and "later events were not read" in message


def test_progress_counts_finished_events(tmp_path, acts_dir, truth_pipeline, monkeypatch):
    """The bar advances when an event is written, never when it is only read."""
    import tqdm.auto

    updates: list[tuple[int, int]] = []  # (bar position after update, events finished by the pipeline)
    finished = []

    class Bar:
        def __init__(self, *args, **kwargs):
            self.n = 0

        def update(self, k):
            self.n += k
            updates.append((self.n, len(finished)))

        def write(self, *args, **kwargs):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    truth_pipeline.add_hook(lambda label, event, seconds: finished.append(event.event_id))
    run(acts_dir, tmp_path / "t.root", truth_pipeline, progress=True)
    assert updates == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_output_path_chooses_the_format_or_refuses(tmp_path, monkeypatch):
    assert resolve_output(tmp_path / "t.root") == tmp_path / "t.root"
    assert resolve_output(f"{tmp_path}/new/") == tmp_path / "new" / "tracks.root"
    assert resolve_output(tmp_path) == tmp_path / "tracks.root"  # an existing directory
    with pytest.raises(ConfigError, match=r"unknown tracks format '.txt'; use one of .root, .parquet, .pq"):
        resolve_output(tmp_path / "tracks.txt")
    with pytest.raises(ConfigError, match="no suffix"):
        resolve_output(tmp_path / "tracks")


def test_parquet_output_needs_pyarrow_before_anything_runs(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an install without pyarrow imports
    with pytest.raises(ImportError, match=r'pip install "trackpipe\[parquet\]"'):
        resolve_output(tmp_path / "t.parquet")


def test_negative_max_events_is_refused(tmp_path, acts_dir, truth_pipeline):
    with pytest.raises(ConfigError, match="max_events"):
        run(acts_dir, tmp_path / "t.root", truth_pipeline, max_events=-1, progress=False)
