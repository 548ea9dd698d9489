"""Atomic file output: every file trackpipe writes appears complete or not at all.

A writer writes to a temporary file beside the target; only when the block succeeds is the file
flushed to disk (``fsync``), renamed onto the target (``os.replace``, atomic on POSIX within one file
system) and the directory entry itself synced, so that neither an exception, a kill nor a power cut
leaves a half-written output or loses a finished one. Several files that belong together (an ACTS
event directory) are committed together by :func:`atomic_outputs`.

Temporary files are named ``.<target name>.trackpipe-tmp.<pid>.<rest>`` (:func:`scratch_path`): a
process killed with SIGKILL cannot remove its own, so every new output first removes the temporaries
in its directory whose owning process is gone (:func:`remove_stale_temporaries`). The pid in the name
is what makes that safe beside a live job writing into the same directory.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "TEMP_MARKER",
    "atomic_output",
    "atomic_outputs",
    "fsync_path",
    "is_temporary",
    "remove_stale_temporaries",
    "scratch_path",
    "temporary_owner",
]

TEMP_MARKER = ".trackpipe-tmp."
# the first marker in a name carries the owner's pid (a nested temporary keeps its outer owner's)
_OWNER = re.compile(r"^\..*?" + re.escape(TEMP_MARKER) + r"(\d+)\.")


def scratch_path(target: str | os.PathLike[str], tag: str, *, pid: int | None = None) -> Path:
    """A hidden path beside ``target`` owned by this process (or ``pid``): part files, flags, temporaries.

    It is removed by :func:`remove_stale_temporaries` once its owner is gone; ``tag`` ends the name
    (keep the output's suffix there when a writer chooses the format by it).
    """
    target = Path(target)
    return target.parent / f".{target.name}{TEMP_MARKER}{os.getpid() if pid is None else pid}.{tag}"


def temporary_owner(name: str) -> int | None:
    """The pid that owns a temporary named ``name``, None when it is not a trackpipe temporary."""
    match = _OWNER.match(name)
    return int(match.group(1)) if match else None


def is_temporary(path: str | os.PathLike[str]) -> bool:
    return temporary_owner(Path(path).name) is not None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the trackpipe temporaries in ``directory`` whose owning process no longer runs.

    They are what a killed process (SIGKILL, OOM killer, power cut) leaves behind. A temporary whose
    pid is alive is kept, even if the pid was reused by an unrelated process: keeping debris is
    better than deleting a live job's file. Returns the paths removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed  # no directory yet: nothing to clean
    for entry in entries:
        pid = temporary_owner(entry.name)
        if pid is None or _alive(pid):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # another process cleaned it first
        except OSError:
            continue  # e.g. a read-only directory: the write that follows reports that
        removed.append(Path(entry.path))
    return removed


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
    prefix = scratch_path(target, "").name
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix or target.suffix + ".tmp", dir=target.parent)
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
    for parent in {t.parent for t in targets.values()}:
        remove_stale_temporaries(parent)
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
