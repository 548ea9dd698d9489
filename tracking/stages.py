"""The small interfaces that plugins implement.

- processing stages (``graph_builder``, ``edge_classifier``, ``track_builder``): ``__call__(event) ->
  event``, returning ``event.replace(...)`` with the fields they add; ``to(device)`` moves weights;
- readers: ``__call__(source) -> Iterator[Event]`` (events in file order), ``count(source)`` for
  progress bars;
- writers: ``write(events, path) -> int``, consuming an iterable and writing atomically
  (:mod:`tracking.atomic`).

Subclassing these is optional (registration checks only for ``Config``) but gives the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from .event import Event


class Stage:
    """A processing stage: graph builder, edge classifier or track builder."""

    Config: type

    def __init__(self, config: Any) -> None:
        self.config = config
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> Stage:
        self.device = torch.device(device)
        return self

    def __call__(self, event: Event) -> Event:  # pragma: no cover - interface
        raise NotImplementedError


class Reader:
    """Turns a file or directory into events, one at a time (never a whole file in memory).

    One bad event must not cost the others. A reader whose format locates events without decoding
    them also offers ``pending_events(source) -> Iterator[tracking.io.pending.PendingEvent]``:
    ``(event_id, read)`` pairs where advancing the iterator only locates the next event and ``read()``
    decodes it, raising a ``DataError`` (file, event, column/branch) for a bad event and leaving the
    iterator intact. Errors raised by the iterator itself concern every event (unreadable file,
    missing tree or column) and end it. Call ``read()`` at most once, before advancing. A runner
    that honours ``--on-error`` iterates ``tracking.io.pending.pending_events(reader, source)``, which
    falls back to ``__call__`` for readers without the method::

        for event_id, read in pending_events(reader, source):   # an error here: nothing more to read
            try:
                event = read()
            except DataError as err:                            # this event only: skip or stop
                ...

    The first-party readers' ``__call__`` returns a :class:`tracking.io.pending.EventStream` over the
    same pairs: its ``next()`` raises a bad event's DataError and the following ``next()`` reads the
    next event.
    """

    Config: type

    def __init__(self, config: Any) -> None:
        self.config = config

    def __call__(self, source: str | os.PathLike) -> Iterator[Event]:  # pragma: no cover - interface
        raise NotImplementedError

    def count(self, source: str | os.PathLike) -> int | None:
        """Number of events in ``source`` when cheap to know, else None."""
        return None


class Writer:
    """Consumes events and writes one output file atomically."""

    Config: type

    def __init__(self, config: Any) -> None:
        self.config = config

    def write(self, events: Iterable[Event], path: str | os.PathLike) -> int:  # pragma: no cover
        """Write every event of ``events`` to ``path``; return the number written."""
        raise NotImplementedError
