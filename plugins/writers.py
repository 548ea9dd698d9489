"""Writers: events with tracks, or their track records -> tracks.root / parquet (issue 3).

Both write every item the iterable yields (an Event with ``track_labels`` or a
:class:`tracking.io.tracks.TrackRecord`) and make the file appear only when the iterable is exhausted
(atomic rename). A caller that wants to keep the events done before a failing one catches the failure
in its own generator and stops it cleanly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tracking.event import Event
from tracking.io.tracks import DEFAULT_BATCH_HITS, TrackRecord, write_tracks_parquet, write_tracks_root
from tracking.registry import register
from tracking.stages import Writer


@register("writer", "root_tracks")
class RootTracksWriter(Writer):
    """tracks.root: tree `tracks`, one entry per event (event_nr, measurement_id[], track_id[])."""

    @dataclass
    class Config:
        batch_hits: int = DEFAULT_BATCH_HITS  # events are buffered up to this many hits per basket

    def write(self, events: Iterable[Event | TrackRecord], path: str | os.PathLike) -> int:
        return write_tracks_root(events, path, batch_hits=self.config.batch_hits)


@register("writer", "parquet_tracks")
class ParquetTracksWriter(Writer):
    """Parquet tracks (needs pyarrow): one row per event, the columns of tracks.root."""

    @dataclass
    class Config:
        batch_hits: int = DEFAULT_BATCH_HITS  # events are buffered up to this many hits per row group

    def write(self, events: Iterable[Event | TrackRecord], path: str | os.PathLike) -> int:
        return write_tracks_parquet(events, path, batch_hits=self.config.batch_hits)
