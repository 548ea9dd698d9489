"""``write_events``: store events in any format trackpipe reads, so that converting a new format is a loop that
builds :class:`~tracking.Event` objects (:func:`tracking.io.event_from_columns`) and one call."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

from ..errors import ConfigError
from ..event import Event

Format = Literal["parquet", "csv", "trackml", "acts_root"]
FORMATS: tuple[str, ...] = ("parquet", "csv", "trackml", "acts_root")


def write_events(events: Iterable[Event], path: str | os.PathLike, format: Format = "parquet") -> int:
    """Write ``events`` into the directory ``path``; return the number written. Every file is atomic.

    Formats, each read back by ``trackpipe run PATH`` / the reader named:

    - ``parquet`` / ``csv``: ``hits.<ext>`` and ``particles.<ext>``, one row per hit / particle with an
      ``event_id`` column (reader ``columnar``, no mapping needed);
    - ``trackml``: ``event#########-{hits,truth,particles}.csv`` (reader ``trackml_csv``);
    - ``acts_root``: ``measurements.root``, ``hits.root``, ``particles.root`` as ACTS writes them (reader
      ``acts_root``; needs volume/layer/module ids, particle ids and a particle table).
    """
    if format in ("parquet", "csv"):
        from .columnar import write_columnar

        return write_columnar(events, path, format=format)
    if format == "trackml":
        from .trackml_write import write_trackml_csv

        return write_trackml_csv(events, path)
    if format == "acts_root":
        from .acts_write import write_acts

        return write_acts(events, path)
    raise ConfigError(f"write_events: format must be one of {', '.join(FORMATS)}, got {format!r}")
