"""Atomic file output: every file trackpipe writes appears complete or not at all.

A writer writes to a temporary file beside the target; only when the block succeeds is the file
flushed to disk (``fsync``), renamed onto the target (``os.replace``, atomic on POSIX within one file
system) and the directory entry itself synced, so that neither an exception, a kill nor a power cut
leaves a half-written output or loses a finished one. Several files that belong together (an ACTS
event directory) are committed together by :func:`atomic_outputs`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output", "atomic_outputs", "fsync_path"]


def fsync_path(path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Flush ``path`` (a file, or with ``directory=True`` a directory's entries) to stable storage.

    File systems that cannot sync a directory (some network mounts) are tolerated.
    """
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _temporary_beside(target: Path, suffix: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix + ".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp)


def _finish(tmp: Path) -> None:
    # mkstemp makes the file private (0600); give the output the usual umask-based mode
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    fsync_path(tmp)


@contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    A crash or exception leaves any previous ``path`` untouched and no partial file behind.
    ``suffix`` is the temporary file's ending, for writers that choose the format by it.
    """
    with atomic_outputs({"out": path}, suffix=suffix) as temps:
        yield temps["out"]


@contextmanager
def atomic_outputs(paths: Mapping[str, str | os.PathLike[str]], suffix: str = "") -> Iterator[dict[str, Path]]:
    """:func:`atomic_output` for several files: ``{key: target}`` -> ``{key: temporary path}``.

    All of them are synced before the first is renamed, so a failure in the block leaves every
    target as it was. (The renames themselves are one per file: a kill between two of them can leave
    a new file beside an old one, never a partial file.)
    """
    targets = {key: Path(p) for key, p in paths.items()}
    temps: dict[str, Path] = {}
    try:
        for key, target in targets.items():
            temps[key] = _temporary_beside(target, suffix)
        yield temps
        for tmp in temps.values():
            _finish(tmp)
        for key, target in targets.items():
            os.replace(temps[key], target)
        for parent in {t.parent for t in targets.values()}:
            fsync_path(parent, directory=True)
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()
