"""The small interfaces that plugins implement.

- processing stages (``graph_builder``, ``edge_classifier``, ``track_builder``): ``__call__(event) ->
  event``, returning ``event.replace(...)`` with the fields they add; ``to(device)`` moves weights;
- readers: ``__call__(source) -> Iterator[Event]`` (events in file order), ``count(source)`` for
  progress bars;
- writers: ``write(events, path) -> int``, consuming an iterable and writing atomically.

Subclassing these is optional (registration checks only for ``Config``) but gives the defaults.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
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


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or exception leaves any previous ``path`` untouched and no partial file behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give the output the usual umask-based mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
