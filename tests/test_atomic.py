"""tracking.atomic: an output appears complete or not at all, and the previous one survives a failure."""

from __future__ import annotations

import os

import pytest

from tracking import atomic
from tracking.atomic import atomic_output, atomic_outputs


def test_exception_leaves_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="crash"), atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_exception_before_anything_is_written_creates_nothing(tmp_path):
    target = tmp_path / "new" / "out.txt"
    with pytest.raises(KeyboardInterrupt), atomic_output(target):
        raise KeyboardInterrupt  # not an Exception: the clean-up must not depend on catching one
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_success_replaces_the_target_with_the_usual_mode(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_output(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible until the block ends
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_suffix_names_the_temporary_file(tmp_path):
    with atomic_output(tmp_path / "tracks.root", suffix=".root") as tmp:
        assert tmp.name.endswith(".root") and tmp.name.startswith(".tracks.root.")
        tmp.write_bytes(b"x")
    with atomic_output(tmp_path / "table.parquet") as tmp:
        assert tmp.name.endswith(".parquet.tmp")
        tmp.write_bytes(b"x")


def test_file_and_directory_are_synced_before_and_after_the_rename(tmp_path, monkeypatch):
    calls: list[tuple[str, bool, bool]] = []
    real = atomic.fsync_path

    def record(path, *, directory=False):
        calls.append((os.fspath(path), directory, os.path.exists(tmp_path / "out.txt")))
        real(path, directory=directory)

    monkeypatch.setattr(atomic, "fsync_path", record)
    with atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("data")
    assert calls == [(os.fspath(tmp), False, False), (os.fspath(tmp_path), True, True)]


def test_atomic_outputs_all_or_nothing(tmp_path):
    paths = {"hits": tmp_path / "hits.root", "particles": tmp_path / "particles.root"}
    paths["hits"].write_text("old hits")
    with pytest.raises(ValueError, match="bad particle"), atomic_outputs(paths) as temps:
        temps["hits"].write_text("new hits")
        raise ValueError("bad particle")
    assert paths["hits"].read_text() == "old hits" and not paths["particles"].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.root"]

    with atomic_outputs(paths) as temps:
        assert set(temps) == {"hits", "particles"}
        for key, tmp in temps.items():
            tmp.write_text(f"new {key}")
    assert {k: p.read_text() for k, p in paths.items()} == {"hits": "new hits", "particles": "new particles"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.root", "particles.root"]


def test_atomic_outputs_syncs_every_file_before_the_first_rename(tmp_path, monkeypatch):
    renamed: list[str] = []
    synced_before_rename: list[int] = []
    real_replace, real_sync = os.replace, atomic.fsync_path
    synced: list[str] = []

    def replace(src, dst):
        synced_before_rename.append(len([p for p in synced if not os.path.isdir(p)]))
        renamed.append(os.fspath(dst))
        real_replace(src, dst)

    def sync(path, *, directory=False):
        synced.append(os.fspath(path))
        real_sync(path, directory=directory)

    monkeypatch.setattr(atomic.os, "replace", replace)
    monkeypatch.setattr(atomic, "fsync_path", sync)
    paths = {name: tmp_path / name / "f.txt" for name in ("a", "b", "c")}
    with atomic_outputs(paths) as temps:
        for tmp in temps.values():
            tmp.write_text("x")
    assert synced_before_rename == [3, 3, 3]
    assert renamed == [os.fspath(p) for p in paths.values()]
    assert {os.fspath(p.parent) for p in paths.values()} <= set(synced)  # each directory entry synced


def test_fsync_path_tolerates_directories_it_cannot_open(tmp_path):
    atomic.fsync_path(tmp_path / "missing", directory=True)
    with pytest.raises(FileNotFoundError):
        atomic.fsync_path(tmp_path / "missing")


def test_temporaries_of_dead_processes_are_removed_at_the_next_write(tmp_path):
    """A SIGKILLed writer cannot remove its temporary; the next output in that directory does, but
    never one whose owner still runs."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = atomic.scratch_path(tmp_path / "tracks.root", "abcd1234.root.tmp", pid=dead_pid)
    stale_part = atomic.scratch_path(tmp_path / "tracks.root", "part0of2.root", pid=dead_pid)
    live = atomic.scratch_path(tmp_path / "tracks.root", "part1of2.root", pid=os.getppid())
    unrelated = tmp_path / ".tracks.root.keep"
    for path in (stale, stale_part, live, unrelated):
        path.write_bytes(b"x")
    assert atomic.temporary_owner(stale.name) == dead_pid and atomic.is_temporary(live)
    assert not atomic.is_temporary(unrelated)
    with atomic_output(tmp_path / "other.txt") as tmp:
        assert atomic.temporary_owner(tmp.name) == os.getpid()
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, unrelated.name, "other.txt"])
