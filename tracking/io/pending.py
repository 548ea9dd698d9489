"""Events as (event number, read) pairs, so that one bad event does not end the iteration over a file.

A reader that can locate its events without decoding them (ACTS ROOT: one entry range per event;
TrackML CSV: one file set per event) offers ``pending_events(source)``: an iterator of
:class:`PendingEvent`. Advancing the iterator only locates the next event; ``read()`` decodes it and
raises a :class:`~tracking.errors.DataError` naming file, event and column/branch when that event is
bad. The iterator is untouched by such a failure, so the caller reports the event and goes on to the
next one (``--on-error skip``) or stops (``stop``). An error raised by the iterator itself (directory
listing, file header, missing tree or branch) concerns every event: nothing after it can be read.

Contract for ``read()``: call it at most once, before advancing the iterator (a reader may free or reuse
what it holds for an event once the iterator moves on).

:func:`pending_events` gives the same interface for any reader: it wraps a reader without the method so
that each event it yields is a :class:`PendingEvent` whose ``read()`` returns it; an error there comes
from the iterator (so it ends the iteration, as with any plain generator).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ..errors import DataError
from ..event import Event

__all__ = ["EventStream", "PendingEvent", "pending_events"]


class PendingEvent(NamedTuple):
    """One located event: its number and the function that decodes it (DataError when it is bad)."""

    event_id: int
    read: Callable[[], Event]


def _ready(event: Event) -> Callable[[], Event]:
    return lambda: event


def pending_events(reader: Any, source: str | os.PathLike) -> Iterator[PendingEvent]:
    """``reader.pending_events(source)`` when the reader has it, else its events wrapped as already read."""
    method = getattr(reader, "pending_events", None)
    if method is not None:
        return method(source)
    return (PendingEvent(event.event_id, _ready(event)) for event in reader(source))


class EventStream:
    """The events of a :class:`PendingEvent` iterator, as a plain iterator that survives a bad event.

    Each ``next()`` reads one event: it returns it, or raises the event's ``DataError`` having already
    moved past it, so that the next ``next()`` reads the following event. A ``for`` loop stops at the
    first error as with any iterator; a caller that catches it may call ``next()`` again.
    """

    def __init__(self, pending: Iterator[PendingEvent]) -> None:
        self._pending = pending

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        return next(self._pending).read()

    def close(self) -> None:
        """Release the files the underlying iterator holds open (also done when it is exhausted)."""
        close = getattr(self._pending, "close", None)
        if close is not None:
            close()


def select_events(available: dict[int, Any], wanted: list[int] | None, file: str) -> list[tuple[int, Any]]:
    """``(event number, what locates it)`` for the ``wanted`` event numbers (all when None), in order; a
    wanted number absent from ``available`` is a :class:`DataError` naming ``file`` and the event (the
    readers' ``events:`` config)."""
    ids = sorted(available)
    if wanted is not None:
        missing = sorted(set(wanted) - set(ids))
        if missing:
            raise DataError(
                f"requested event not found; available: {ids[:10]}{' ...' if len(ids) > 10 else ''}",
                file=file,
                event=missing[0],
            )
        ids = sorted(set(wanted))
    return [(i, available[i]) for i in ids]
