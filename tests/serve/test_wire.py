"""The wire format: round trips, and every kind of bad request -> its named error and HTTP status."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tracking.serve import wire
from tracking.serve.wire import JSON, NPZ


def columns(n=5):
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=n).astype(np.float32),
        "y": rng.normal(size=n).astype(np.float32),
        "z": rng.normal(size=n).astype(np.float32),
        "volume_id": np.full(n, 8, np.int32),
        "layer_id": np.arange(n, dtype=np.int32),
        "module_id": np.arange(n, dtype=np.int32) + 100,
    }


@pytest.mark.parametrize("form", [NPZ, JSON])
def test_request_round_trip(form):
    cols = columns()
    body, content_type = wire.encode_request(cols, 42, form=form)
    request = wire.decode_request(body, content_type)
    assert request.event_id == 42 and request.response_type == form
    for name, values in cols.items():
        assert request.columns[name].dtype == wire.COLUMN_DTYPES[name]
        np.testing.assert_array_equal(request.columns[name], values)
    np.testing.assert_array_equal(request.columns["hit_id"], np.arange(5))


def test_float64_and_int64_columns_are_converted_and_accept_picks_the_answer_form():
    cols = {k: v.astype(np.float64 if v.dtype.kind == "f" else np.int64) for k, v in columns().items()}
    body, content_type = wire.encode_request(cols, form=NPZ)
    request = wire.decode_request(body, content_type, accept=JSON)
    assert request.columns["x"].dtype == np.float32 and request.columns["module_id"].dtype == np.int32
    assert request.response_type == JSON


@pytest.mark.parametrize("form", [NPZ, JSON])
def test_response_round_trip(form):
    answer = wire.TrackResponse(3, np.array([5, 6, 7]), np.array([0, -1, 0]), {"server_s": 0.1})
    body, content_type = wire.encode_response(answer, form)
    back = wire.decode_response(body, content_type)
    assert back.event_id == 3 and back.timings == {"server_s": 0.1} and back.num_tracks == 1
    np.testing.assert_array_equal(back.track_id, [0, -1, 0])
    np.testing.assert_array_equal(back.hit_id, [5, 6, 7])


def npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def bad_requests():
    """(name, body, content type, expected error, status, text in the message): one per kind of bad request."""
    good = columns()
    nan = dict(good, x=np.array([0, np.nan, 1, 2, 3], np.float32))
    mistyped = dict(good, module_id=np.array(["a", "b", "c", "d", "e"]))
    short = dict(good, y=good["y"][:3])
    empty = {k: v[:0] for k, v in good.items()}
    missing = {k: v for k, v in good.items() if k != "layer_id"}
    return [
        ("not an npz", b"garbage", NPZ, wire.MalformedBody, 400, "not an .npz"),
        ("truncated npz", npz(**good)[:50], NPZ, wire.MalformedBody, 400, ".npz"),
        ("bad JSON", b'{"hits": ', JSON, wire.MalformedBody, 400, "not valid JSON"),
        ("JSON without hits", b'{"event": 1}', JSON, wire.MalformedBody, 400, "hits"),
        ("object array", npz(x=np.array([object()]), allow_pickle=True), NPZ, wire.MalformedBody, 400, "'x'"),
        ("missing column", npz(**missing), NPZ, wire.ColumnError, 400, "missing column(s) 'layer_id'"),
        ("unknown column", npz(**good, modul_id=good["module_id"]), NPZ, wire.ColumnError, 400, "did you mean"),
        ("mistyped column", npz(**mistyped), NPZ, wire.ColumnError, 400, "'module_id' must hold integers"),
        ("short column", npz(**short), NPZ, wire.ColumnError, 400, "'y' has 3 entries"),
        ("NaN coordinate", npz(**nan), NPZ, wire.ColumnError, 400, "first at row 1"),
        ("int32 overflow", npz(**dict(good, volume_id=np.full(5, 2**40))), NPZ, wire.ColumnError, 400, "int32"),
        ("repeated hit_id", npz(**good, hit_id=np.zeros(5, np.int64)), NPZ, wire.ColumnError, 400, "repeated"),
        ("empty event", npz(**empty), NPZ, wire.EmptyEvent, 400, "no hits"),
        ("bad event_id", npz(**good, event_id=np.array([1, 2])), NPZ, wire.MalformedBody, 400, "event_id"),
        ("too many hits", npz(**columns(11)), NPZ, wire.EventTooLarge, 413, "11 hits, over the server's limit of 10"),
        ("wrong media type", b"x,y\n1,2\n", "text/csv", wire.UnsupportedMediaType, 415, "text/csv"),
    ]


@pytest.mark.parametrize("case", bad_requests(), ids=lambda case: case[0])
def test_bad_request_raises_its_named_error(case):
    _, body, content_type, error, status, text = case
    with pytest.raises(error, match=None) as caught:
        wire.decode_request(body, content_type, max_hits=10)
    assert caught.value.status == status
    assert text in str(caught.value)
    doc = json.loads(wire.error_body(caught.value, status))
    assert doc == {"error": error.__name__, "status": status, "message": str(caught.value)}


def test_body_over_the_byte_limit_is_refused_before_parsing():
    with pytest.raises(wire.EventTooLarge, match="bytes"):
        wire.decode_request(b"PK" + b"\0" * wire.max_body_bytes(1), NPZ, max_hits=1)
