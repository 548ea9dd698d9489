"""A bad event costs only itself: both readers raise its DataError (file, event, column/branch) and the
iteration goes on; coordinates beyond any detector and event numbers beyond uint32 are refused at the
reader; TrackML ``module_id`` is needed only by the stages that use it, which say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tracking import registry
from tracking.errors import DataError
from tracking.event import Event
from tracking.io.acts_root import ActsRootReader
from tracking.io.columns import ColumnError, coordinate_column, float_column
from tracking.io.pending import EventStream, PendingEvent, pending_events
from tracking.io.trackml_csv import TrackmlCsvReader

from .test_bad_input import HITS, measurement_columns, write_hits, write_measurements


def drain(stream) -> tuple[list[int], list[DataError]]:
    """Event ids read and errors met, calling next() again after each error (what a runner does)."""
    ids, errors = [], []
    while True:
        try:
            ids.append(next(stream).event_id)
        except StopIteration:
            return ids, errors
        except DataError as err:
            errors.append(err)


# -- columns ---------------------------------------------------------------------------------------------


def test_float_column_refuses_values_beyond_float32():
    with pytest.raises(ColumnError, match="float32") as err:
        float_column(np.array([1.0, 1e39]))
    assert err.value.index == 1
    np.testing.assert_array_equal(float_column(np.array([np.nan])), np.array([np.nan], np.float32))


@pytest.mark.parametrize("value", [1e20, -2e6, np.nan, np.inf, 1e300])
def test_coordinate_column_bounds(value):
    with pytest.raises(ColumnError) as err:
        coordinate_column(np.array([0.0, 1.0, value]))
    assert err.value.index == 2
    coordinate_column(np.array([-1e6, 3e5, 0.0]))


# -- ACTS ROOT -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("branch", "dtype", "value", "message"),
    [
        ("rec_gx", np.float64, 1e20, "bound on hit coordinates"),
        ("rec_gy", np.float32, np.nan, "non-finite"),
        ("rec_gz", np.float64, 1e39, "float32"),
        ("volume_id", np.float64, 2.5, "not an integer"),
    ],
)
@pytest.mark.parametrize("chunk_entries", [1, 1000])
def test_acts_bad_event_in_the_middle(tmp_path, branch, dtype, value, message, chunk_entries):
    columns = measurement_columns({0: 3, 1: 2, 2: 4, 3: 1})
    columns[branch] = columns[branch].astype(dtype)
    columns[branch][4] = value  # the second measurement of event 1
    write_measurements(tmp_path, columns)
    reader = ActsRootReader(ActsRootReader.Config(chunk_entries=chunk_entries))
    ids, errors = drain(reader(tmp_path))
    assert ids == [0, 2, 3]
    (err,) = errors
    assert message in str(err)
    assert (err.event, err.branch, err.tree) == (1, branch, "measurements")
    assert err.file.endswith("measurements.root")


def test_acts_good_events_equal_an_undamaged_read(tmp_path):
    columns = measurement_columns({0: 3, 1: 2, 2: 4})
    write_measurements(tmp_path / "good", columns)
    columns["rec_gx"] = columns["rec_gx"].astype(np.float64)
    columns["rec_gx"][3] = np.inf
    write_measurements(tmp_path / "bad", columns)
    good = {e.event_id: e for e in ActsRootReader()(tmp_path / "good")}
    for event_id, read in ActsRootReader().pending_events(tmp_path / "bad"):
        if event_id == 1:
            with pytest.raises(DataError, match="non-finite"):
                read()
            continue
        event = read()
        np.testing.assert_array_equal(event.x, good[event_id].x)
        np.testing.assert_array_equal(event.module_id, good[event_id].module_id)


@pytest.mark.parametrize(("dtype", "bad"), [(np.int32, -1), (np.int64, 2**32)])
def test_acts_event_number_out_of_uint32(tmp_path, dtype, bad):
    columns = measurement_columns({0: 2, 7: 3, 9: 1})
    columns["event_nr"] = columns["event_nr"].astype(dtype)
    columns["event_nr"][2:5] = bad
    write_measurements(tmp_path, columns)
    ids, errors = drain(ActsRootReader()(tmp_path))
    assert ids == [0, 9]
    (err,) = errors
    assert (err.event, err.branch) == (bad, "event_nr")
    assert "negative" in str(err) if bad < 0 else "uint32" in str(err)


def test_acts_file_level_errors_come_before_the_first_event(tmp_path):
    columns = measurement_columns({0: 2})
    del columns["rec_gz"]
    write_measurements(tmp_path, columns)
    with pytest.raises(DataError, match="missing branch"):
        ActsRootReader().pending_events(tmp_path)


# -- TrackML CSV -----------------------------------------------------------------------------------------


def three_events(directory: Path, bad: str | None = None) -> None:
    for event_id in (1, 2, 3):
        write_hits(directory, bad if (bad is not None and event_id == 2) else HITS, event_id=event_id)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (HITS.replace("4.0,5.0", "1e20,5.0"), "x", "bound on hit coordinates"),
        (HITS.replace("4.0,5.0", "4.0,nan"), "y", "non-finite"),
        (HITS.replace("5.0,6.0", "5.0,1e39"), "z", "float32"),
        (HITS.replace(",z,", ",zz,"), "z", "missing column"),
    ],
)
def test_csv_bad_event_in_the_middle(tmp_path, text, column, message):
    three_events(tmp_path, text)
    ids, errors = drain(TrackmlCsvReader()(tmp_path))
    assert ids == [1, 3]
    (err,) = errors
    assert message in str(err)
    assert (err.event, err.branch) == (2, column)
    assert err.file.endswith("event000000002-hits.csv")


def test_csv_event_number_beyond_uint32(tmp_path):
    write_hits(tmp_path, event_id=1)
    (tmp_path / "event4294967296-hits.csv").write_text(HITS)
    ids, errors = drain(TrackmlCsvReader()(tmp_path))
    assert ids == [1]
    assert errors[0].event == 2**32 and "uint32" in str(errors[0])


def test_csv_module_id_is_optional(tmp_path):
    text = "hit_id,x,y,z,volume_id,layer_id\n1,1.0,2.0,3.0,8,2\n2,4.0,5.0,6.0,8,4\n"
    write_hits(tmp_path, text)
    (event,) = TrackmlCsvReader()(tmp_path)
    assert event.module_id is None
    np.testing.assert_array_equal(event.layer_id, [2, 4])
    detectors = tmp_path / "detectors.csv"
    detectors.write_text("volume_id,layer_id,module_id\n8,2,1\n8,4,2\n")
    reader = TrackmlCsvReader(TrackmlCsvReader.Config(detectors=str(detectors)))
    with pytest.raises(DataError, match="detectors.*needs the hits' module_id") as err:
        list(reader(tmp_path))
    assert (err.value.event, err.value.branch) == (5, "module_id")


def test_module_map_names_itself_when_module_id_is_absent(tmp_path):
    text = "hit_id,x,y,z,volume_id,layer_id\n1,40.0,2.0,3.0,8,2\n2,80.0,5.0,6.0,8,4\n"
    write_hits(tmp_path, text)
    (event,) = TrackmlCsvReader()(tmp_path)
    event = event.to(torch.device("cpu"))
    strict = registry.create("graph_builder", "module_map", {"module_ids": "file"})
    with pytest.raises(DataError, match=r"graph_builder module_map needs the hits' module_id.*module_ids: file") as err:
        strict(event)
    assert (err.value.event, err.value.branch) == (5, "module_id")
    assert err.value.file.endswith("event000000005-hits.csv")
    # the default map is keyed on the real TrackML ids: auto keeps them, and the error says what needs none
    with pytest.raises(DataError, match=r"keyed on the module ids of numbering 'trackml'.*layer_pairs"):
        registry.create("graph_builder", "module_map", {"module_ids": "auto"})(event)
    assert registry.create("graph_builder", "layer_pairs")(event).edge_index is not None


# -- the interface ---------------------------------------------------------------------------------------


def test_pending_events_wraps_a_plain_reader():
    class Plain:
        def __call__(self, source):
            yield Event(
                event_id=4,
                hit_id=np.arange(1),
                x=np.zeros(1, np.float32),
                y=np.zeros(1, np.float32),
                z=np.zeros(1, np.float32),
            )

    (item,) = pending_events(Plain(), "anything")
    assert isinstance(item, PendingEvent) and item.event_id == 4 and item.read().event_id == 4


def test_event_stream_stops_a_for_loop_at_the_first_error(tmp_path):
    three_events(tmp_path, HITS.replace("4.0,5.0", "inf,5.0"))
    stream = TrackmlCsvReader()(tmp_path)
    assert isinstance(stream, EventStream)
    seen = []
    with pytest.raises(DataError):
        for event in stream:
            seen.append(event.event_id)
    assert seen == [1]
    assert [e.event_id for e in stream] == [3]  # the same iterator goes on after the bad event
