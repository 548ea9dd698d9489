"""A client of ``trackpipe serve`` on the standard library's ``urllib`` (docs/serving.md).

::

    from tracking.client import TrackpipeClient

    client = TrackpipeClient("http://127.0.0.1:8000")
    answer = client.reconstruct(event)           # an Event, or a mapping of hit columns
    answer.track_id                              # int64 per hit, aligned with answer.hit_id; -1: no track
    client.health(), client.metrics()

The same call without trackpipe installed (numpy and the standard library only)::

    import io, json, urllib.request
    import numpy as np

    body = io.BytesIO()
    np.savez(body, event_id=7, x=x, y=y, z=z, volume_id=volume_id, layer_id=layer_id, module_id=module_id)
    request = urllib.request.Request(
        "http://127.0.0.1:8000/v1/reconstruct",
        data=body.getvalue(),
        headers={"Content-Type": "application/x-npz", "Accept": "application/x-npz"},
    )
    with urllib.request.urlopen(request) as response:
        answer = np.load(io.BytesIO(response.read()))
    track_id, timings = answer["track_id"], json.loads(str(answer["timings"]))

(``requests.post(url, data=body.getvalue(), headers=...)`` is the same with ``requests``.)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import TrackpipeError
from .serve.wire import (
    HEALTH_PATH,
    METRICS_PATH,
    NPZ,
    RECONSTRUCT_PATH,
    REQUIRED_COLUMNS,
    TrackResponse,
    decode_response,
    encode_request,
)


class ServeError(TrackpipeError, RuntimeError):
    """The server answered an error: ``status`` (HTTP), ``error`` (trackpipe's error name) and its message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        self.status, self.error, self.message = status, error, message
        super().__init__(f"HTTP {status} {error}: {message}")


def event_columns(event: Any) -> dict[str, np.ndarray]:
    """The hit columns a request carries, from an :class:`~tracking.Event` or a mapping of arrays."""
    if isinstance(event, Mapping):
        return {k: np.asarray(v) for k, v in event.items()}
    from .arrays import as_numpy

    columns = {"hit_id": as_numpy(event.hit_id)}
    for name in REQUIRED_COLUMNS:
        value = getattr(event, name)
        if value is None:
            raise ValueError(f"event {event.event_id} has no {name!r}; the server needs {', '.join(REQUIRED_COLUMNS)}")
        columns[name] = as_numpy(value)
    return columns


class TrackpipeClient:
    """One server's endpoints. ``timeout`` (seconds) bounds each call."""

    def __init__(self, url: str = "http://127.0.0.1:8000", *, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[bytes, str]:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                doc = json.loads(body)
                raise ServeError(err.code, doc.get("error", "HTTPError"), doc.get("message", "")) from None
            except (ValueError, AttributeError):
                raise ServeError(err.code, "HTTPError", body.decode(errors="replace")[:500]) from None

    def reconstruct(self, event: Any, *, event_id: int | None = None, form: str = NPZ) -> TrackResponse:
        """Track ids of every hit of ``event`` (an Event or a mapping of hit columns); raises :class:`ServeError`."""
        if event_id is None:
            event_id = int(getattr(event, "event_id", 0))
        body, content_type = encode_request(event_columns(event), event_id, form=form)
        payload, answer_type = self._call(
            RECONSTRUCT_PATH, body, {"Content-Type": content_type, "Accept": content_type}
        )
        return decode_response(payload, answer_type)

    def post(self, body: bytes, content_type: str) -> tuple[bytes, str]:
        """A raw request body (for tests of the server's validation)."""
        return self._call(RECONSTRUCT_PATH, body, {"Content-Type": content_type})

    def health(self) -> dict[str, Any]:
        return json.loads(self._call(HEALTH_PATH)[0])

    def metrics(self) -> dict[str, Any]:
        return json.loads(self._call(METRICS_PATH)[0])


__all__ = ["ServeError", "TrackpipeClient", "event_columns"]
