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
    """Turns a file or directory into events, one at a time (never a whole file in memory)."""

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
