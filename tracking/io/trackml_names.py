"""TrackML file names: an event's files share the prefix ``event<N>`` and are ``<prefix>-<kind>.csv[.gz]``
with kind ``hits``, ``truth``, ``particles`` or ``cells``.

The rule, for every reader and writer in trackpipe:

- **readers accept any number of digits**: ``event1-hits.csv`` and ``event000000001-hits.csv`` are both
  event 1, as TrackML's own ``load_event`` reads any ``event<digits>`` prefix (its ``load_dataset``
  lists only nine-digit names; files named by hand often have fewer). Two files that name the same
  event in one directory are an error in the reader, never a silent choice;
- **writers write nine digits** (``event000000001``), the challenge's own names, so that every TrackML
  tool finds the files; an event number that does not fit nine digits cannot be written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KINDS",
    "TrackmlName",
    "event_file_name",
    "event_prefix",
    "find_event_file",
    "is_hits_file",
    "parse_name",
    "part_file_names",
]

KINDS: tuple[str, ...] = ("hits", "truth", "particles", "cells")
WRITTEN_DIGITS = 9

# a bare prefix (event000000001) or one of its files (event000000001-hits.csv.gz)
_NAME = re.compile(rf"^(event(\d+))(?:-({'|'.join(KINDS)})\.csv(?:\.gz)?)?$")


@dataclass(frozen=True)
class TrackmlName:
    """What a TrackML file (or prefix) name says: ``prefix`` ``event000000001``, ``event_id`` 1, and
    ``kind`` (``"hits"``...; None for a bare prefix)."""

    prefix: str
    event_id: int
    kind: str | None


def parse_name(name: str) -> TrackmlName | None:
    """The parts of a TrackML file or prefix name (no directory), or None when it is not one."""
    match = _NAME.match(name)
    if match is None:
        return None
    return TrackmlName(match.group(1), int(match.group(2)), match.group(3))


def is_hits_file(name: str) -> bool:
    """Whether ``name`` is an event's hits file, ``event<digits>-hits.csv[.gz]``."""
    parsed = parse_name(name)
    return parsed is not None and parsed.kind == "hits"


def part_file_names(prefix: str, kind: str) -> tuple[str, str]:
    """The plain and the gzipped name of the ``kind`` file of the event with ``prefix``."""
    return f"{prefix}-{kind}.csv", f"{prefix}-{kind}.csv.gz"


def event_prefix(event_id: int) -> str:
    """``event000000042`` for event 42: the nine-digit prefix writers use."""
    if event_id < 0 or event_id >= 10**WRITTEN_DIGITS:
        raise ValueError(f"event_id {event_id} does not fit TrackML's {WRITTEN_DIGITS}-digit file names")
    return f"event{event_id:0{WRITTEN_DIGITS}d}"


def event_file_name(event_id: int, kind: str, *, gzip: bool = False) -> str:
    """The name writers give the ``kind`` file of event ``event_id``: ``event000000042-hits.csv[.gz]``."""
    if kind not in KINDS:
        raise ValueError(f"TrackML file kind must be one of {', '.join(KINDS)}, got {kind!r}")
    plain, gzipped = part_file_names(event_prefix(event_id), kind)
    return gzipped if gzip else plain


def find_event_file(directory: str | Path, event_id: int, kind: str) -> Path | None:
    """The ``kind`` file of event ``event_id`` in ``directory`` under any digit count, plain or gzipped;
    None when there is none. Two files for that event and kind are an error (which one is meant?)."""
    found = [
        path
        for path in Path(directory).iterdir()
        if (parsed := parse_name(path.name)) is not None and parsed.event_id == event_id and parsed.kind == kind
    ]
    if len(found) > 1:
        raise ValueError(
            f"event {event_id} has several {kind} files in {directory}: {', '.join(sorted(p.name for p in found))}"
        )
    return found[0] if found else None
