"""TrackML file names: one rule for every reader (any digit count) and writer (nine digits)."""

from __future__ import annotations

import pandas as pd
import pytest

from tracking.errors import DataError
from tracking.io.detect import reader_for
from tracking.io.trackml_csv import read_trackml_csv
from tracking.io.trackml_names import TrackmlName, event_file_name, event_prefix, is_hits_file, parse_name
from tracking.metrics.evaluation import truth_reader_name

HITS = {
    "hit_id": [1, 2],
    "x": [1.0, 2.0],
    "y": [0.0, 1.0],
    "z": [3.0, 4.0],
    "volume_id": [8, 8],
    "layer_id": [2, 4],
    "module_id": [1, 2],
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("event000000042-hits.csv", TrackmlName("event000000042", 42, "hits")),
        ("event42-truth.csv.gz", TrackmlName("event42", 42, "truth")),
        ("event1234567890-particles.csv", TrackmlName("event1234567890", 1234567890, "particles")),
        ("event000000007", TrackmlName("event000000007", 7, None)),
        ("event7-cells.csv", TrackmlName("event7", 7, "cells")),
        ("event-hits.csv", None),
        ("event7-hits.txt", None),
        ("event7-tracks.csv", None),
        ("xevent7-hits.csv", None),
        ("detectors.csv", None),
    ],
)
def test_parse_name(name, expected):
    assert parse_name(name) == expected
    assert is_hits_file(name) == (expected is not None and expected.kind == "hits")


def test_writers_use_nine_digits():
    assert event_prefix(42) == "event000000042"
    assert event_file_name(42, "hits") == "event000000042-hits.csv"
    assert event_file_name(0, "particles", gzip=True) == "event000000000-particles.csv.gz"
    for bad in (-1, 10**9):
        with pytest.raises(ValueError, match="9-digit"):
            event_prefix(bad)
    with pytest.raises(ValueError, match="kind"):
        event_file_name(1, "tracks")


def test_short_names_are_read_and_detected_everywhere(tmp_path):
    pd.DataFrame(HITS).to_csv(tmp_path / "event7-hits.csv", index=False)
    assert reader_for(tmp_path) == "trackml_csv"
    assert reader_for(tmp_path / "event7") == "trackml_csv"
    assert truth_reader_name(tmp_path) == "trackml_csv"
    (event,) = read_trackml_csv(tmp_path)
    assert event.event_id == 7
    (event,) = read_trackml_csv(tmp_path / "event7-hits.csv")
    assert event.event_id == 7


def test_two_names_for_one_event_are_refused(tmp_path):
    pd.DataFrame(HITS).to_csv(tmp_path / "event7-hits.csv", index=False)
    pd.DataFrame(HITS).to_csv(tmp_path / "event000000007-hits.csv", index=False)
    with pytest.raises(DataError, match="remove one") as err:
        list(read_trackml_csv(tmp_path))
    assert err.value.event == 7
