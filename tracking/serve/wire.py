"""The wire format of ``trackpipe serve``: one event of hits in, its track labels out (docs/serving.md).

Request: ``POST /v1/reconstruct`` with either

- ``Content-Type: application/x-npz``: a numpy ``.npz`` archive (``np.savez``; compressed or not) of 1-d
  arrays, one per hit column, plus an optional 0-d ``event_id``;
- ``Content-Type: application/json``: ``{"event_id": 7, "hits": {"x": [...], "y": [...], ...}}``, for
  small events (every number spelled out in decimal is ~5x the bytes of the binary form).

Hit columns: ``x, y, z`` (mm; any float dtype, sent to the pipeline as float32), ``volume_id, layer_id,
module_id`` (any integer dtype that fits int32) and optionally ``hit_id`` (int64, unique; default
``0..N-1``). Response (``Accept`` picks the form; default: the request's): JSON ``{"event_id", "num_hits",
"num_tracks", "hit_id": [...], "track_id": [...], "timings": {...}}`` or an ``.npz`` with arrays
``event_id, hit_id, track_id`` and ``timings`` (a JSON string); ``track_id`` is -1 for a hit on no track.

Errors come back as JSON ``{"error": <trackpipe error name>, "status": <HTTP status>, "message": ...}``.
Nothing here imports Ray: clients and tests use this module without the ``serve`` extra.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import closest
from ..errors import TrackpipeError

NPZ = "application/x-npz"
JSON = "application/json"
RECONSTRUCT_PATH = "/v1/reconstruct"
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"

#: Hit column -> dtype the pipeline gets. Coordinates accept any float, ids any integer that fits.
FLOAT_COLUMNS = ("x", "y", "z")
ID_COLUMNS = ("volume_id", "layer_id", "module_id")
REQUIRED_COLUMNS = FLOAT_COLUMNS + ID_COLUMNS
OPTIONAL_COLUMNS = ("hit_id",)
COLUMN_DTYPES: dict[str, np.dtype] = {
    **{name: np.dtype(np.float32) for name in FLOAT_COLUMNS},
    **{name: np.dtype(np.int32) for name in ID_COLUMNS},
    "hit_id": np.dtype(np.int64),
}
DEFAULT_MAX_HITS = 1_000_000


class RequestError(TrackpipeError, ValueError):
    """A request the server cannot take; ``status`` is its HTTP status (4xx), the class name its ``error``."""

    status = 400


class MalformedBody(RequestError):
    """The body is not a readable ``.npz`` archive or JSON document of the documented layout."""


class ColumnError(RequestError):
    """A hit column is missing, unknown, of the wrong type or length, or holds NaN / infinite values."""


class EmptyEvent(RequestError):
    """The event has no hits."""


class EventTooLarge(RequestError):
    """The event has more hits (or the body more bytes) than the server's limit."""

    status = 413


class UnsupportedMediaType(RequestError):
    """The ``Content-Type`` is neither ``application/x-npz`` nor ``application/json``."""

    status = 415


class NotFound(RequestError):
    """No such endpoint."""

    status = 404


class MethodNotAllowed(RequestError):
    """The endpoint exists but not for this HTTP method."""

    status = 405


def max_body_bytes(max_hits: int) -> int:
    """The largest body accepted for ``max_hits`` hits: JSON spelling of 7 columns, with headroom."""
    return 64 * 1024 + max_hits * 7 * 32


@dataclass
class HitRequest:
    """One decoded request: the event id and its hit columns, typed as :data:`COLUMN_DTYPES`."""

    event_id: int
    columns: dict[str, np.ndarray]
    response_type: str = JSON

    @property
    def num_hits(self) -> int:
        return len(self.columns["x"])


@dataclass
class TrackResponse:
    """One answer: the track id of every hit (aligned with ``hit_id``) and where the time went."""

    event_id: int
    hit_id: np.ndarray
    track_id: np.ndarray
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tracks(self) -> int:
        return len(np.unique(self.track_id[self.track_id >= 0]))


# -- requests -----------------------------------------------------------------------------------------


def media_type(header: str | None) -> str:
    """``"application/json; charset=utf-8"`` -> ``"application/json"``."""
    return (header or "").split(";", 1)[0].strip().lower()


def encode_request(columns: Mapping[str, Any], event_id: int = 0, *, form: str = NPZ) -> tuple[bytes, str]:
    """The body and ``Content-Type`` of a request carrying ``columns`` (name -> 1-d array)."""
    if form == NPZ:
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in columns.items()}
        np.savez(buffer, event_id=np.int64(event_id), **arrays)
        return buffer.getvalue(), NPZ
    if form == JSON:
        hits = {k: np.asarray(v).tolist() for k, v in columns.items()}
        return json.dumps({"event_id": int(event_id), "hits": hits}).encode(), JSON
    raise ValueError(f"form must be {NPZ!r} or {JSON!r}, got {form!r}")


def _read_npz(body: bytes) -> tuple[Any, dict[str, Any]]:
    if not body.startswith(b"PK"):
        raise MalformedBody("body is not an .npz archive (a zip file, as np.savez writes)")
    try:
        archive = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise MalformedBody(f"body is not a readable .npz archive: {err}") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise MalformedBody("body is a single .npy array; send an .npz archive with one array per hit column")
    arrays: dict[str, Any] = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                # Object arrays (which would need pickle) land here too: never unpickle a client's bytes.
                raise MalformedBody(f".npz member {name!r} cannot be read: {err}") from err
    return arrays.pop("event_id", None), arrays


def _read_json(body: bytes) -> tuple[Any, dict[str, Any]]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedBody(f"body is not valid JSON: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("hits"), dict):
        raise MalformedBody('JSON body must be an object {"event_id": N, "hits": {"x": [...], ...}}')
    unknown = set(document) - {"event_id", "hits"}
    if unknown:
        raise MalformedBody(f"unknown top-level JSON key(s) {sorted(unknown)}; expected 'event_id' and 'hits'")
    arrays = {}
    for name, values in document["hits"].items():
        if not isinstance(values, list):
            raise ColumnError(f"column {name!r} must be a JSON list of numbers, got {type(values).__name__}")
        try:
            arrays[name] = np.asarray(values)
        except ValueError as err:
            raise ColumnError(f"column {name!r} is not a flat list of numbers: {err}") from err
    return document.get("event_id"), arrays


def _event_id(value: Any) -> int:
    if value is None:
        return 0
    array = np.asarray(value)
    if isinstance(value, bool) or array.shape != () or array.dtype.kind not in "iu":
        raise MalformedBody(f"event_id must be one integer, got {value!r}")
    number = int(array)
    if not 0 <= number < 2**63:
        raise MalformedBody(f"event_id must be >= 0, got {number}")
    return number


def _column(name: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ColumnError(f"column {name!r} must be 1-d, got shape {array.shape}")
    if len(array) != n:
        raise ColumnError(f"column {name!r} has {len(array)} entries, column 'x' has {n}")
    want = COLUMN_DTYPES[name]
    if name in FLOAT_COLUMNS:
        if array.dtype.kind not in "fiu" or array.dtype.kind == "b":
            raise ColumnError(f"column {name!r} must hold numbers (mm), got dtype {array.dtype}")
        bad = ~np.isfinite(array.astype(np.float64))
        if bad.any():
            raise ColumnError(
                f"column {name!r} has {int(bad.sum())} NaN or infinite value(s), first at row {int(np.argmax(bad))}"
            )
        return np.ascontiguousarray(array, dtype=want)
    if array.dtype.kind not in "iu":
        raise ColumnError(f"column {name!r} must hold integers, got dtype {array.dtype}")
    info = np.iinfo(want)
    if len(array) and (array.min() < info.min or array.max() > info.max):
        raise ColumnError(f"column {name!r} has values outside the {want.name} range")
    return np.ascontiguousarray(array, dtype=want)


def decode_request(
    body: bytes,
    content_type: str | None,
    *,
    accept: str | None = None,
    max_hits: int = DEFAULT_MAX_HITS,
) -> HitRequest:
    """Parse and validate a request body; raises a :class:`RequestError` subclass naming what is wrong."""
    kind = media_type(content_type)
    if kind in ("", "application/octet-stream") and body[:2] == b"PK":
        kind = NPZ  # a zip archive sent without a type: the npz form
    if len(body) > max_body_bytes(max_hits):
        raise EventTooLarge(f"body of {len(body)} bytes is over the limit of {max_body_bytes(max_hits)} (--max-hits)")
    if kind == NPZ:
        raw_id, arrays = _read_npz(body)
    elif kind == JSON:
        raw_id, arrays = _read_json(body)
    else:
        raise UnsupportedMediaType(f"Content-Type {content_type!r} is not supported; send {NPZ} or {JSON}")
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    for name in arrays:
        if name not in known:
            raise ColumnError(f"unknown column {name!r}{closest(name, known)}; columns are {', '.join(known)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in arrays]
    if missing:
        raise ColumnError(f"missing column(s) {', '.join(map(repr, missing))}; required: {', '.join(REQUIRED_COLUMNS)}")
    x = np.asarray(arrays["x"])
    n = len(x) if x.ndim == 1 else -1
    if n == 0:
        raise EmptyEvent("the event has no hits")
    if n > max_hits:
        raise EventTooLarge(f"the event has {n} hits, over the server's limit of {max_hits} (--max-hits)")
    columns = {name: _column(name, arrays[name], n) for name in known if name in arrays}
    if "hit_id" not in columns:
        columns["hit_id"] = np.arange(n, dtype=np.int64)
    elif len(np.unique(columns["hit_id"])) != n:
        raise ColumnError("column 'hit_id' has repeated ids; each hit needs its own")
    want = media_type(accept)
    response_type = want if want in (NPZ, JSON) else kind
    return HitRequest(_event_id(raw_id), columns, response_type)


# -- responses ----------------------------------------------------------------------------------------


def encode_response(response: TrackResponse, form: str = JSON) -> tuple[bytes, str]:
    """The body and ``Content-Type`` of an answer."""
    if form == NPZ:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            event_id=np.int64(response.event_id),
            hit_id=np.asarray(response.hit_id, dtype=np.int64),
            track_id=np.asarray(response.track_id, dtype=np.int64),
            timings=np.array(json.dumps(response.timings)),
        )
        return buffer.getvalue(), NPZ
    document = {
        "event_id": response.event_id,
        "num_hits": len(response.hit_id),
        "num_tracks": response.num_tracks,
        "hit_id": np.asarray(response.hit_id).tolist(),
        "track_id": np.asarray(response.track_id).tolist(),
        "timings": response.timings,
    }
    return json.dumps(document).encode(), JSON


def decode_response(body: bytes, content_type: str | None) -> TrackResponse:
    """Parse an answer of :func:`encode_response` (the client's side)."""
    if media_type(content_type) == NPZ:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            return TrackResponse(
                int(archive["event_id"]),
                archive["hit_id"],
                archive["track_id"],
                json.loads(str(archive["timings"])),
            )
    document = json.loads(body)
    return TrackResponse(
        int(document["event_id"]),
        np.asarray(document["hit_id"], dtype=np.int64),
        np.asarray(document["track_id"], dtype=np.int64),
        document.get("timings", {}),
    )


def error_body(error: BaseException, status: int) -> bytes:
    """The JSON body of an error answer: the trackpipe error's name, the status and the message."""
    return json.dumps({"error": type(error).__name__, "status": status, "message": str(error)}).encode()


__all__ = [
    "COLUMN_DTYPES",
    "HEALTH_PATH",
    "JSON",
    "METRICS_PATH",
    "NPZ",
    "RECONSTRUCT_PATH",
    "REQUIRED_COLUMNS",
    "ColumnError",
    "EmptyEvent",
    "EventTooLarge",
    "HitRequest",
    "MalformedBody",
    "MethodNotAllowed",
    "NotFound",
    "RequestError",
    "TrackResponse",
    "UnsupportedMediaType",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "error_body",
    "max_body_bytes",
]
