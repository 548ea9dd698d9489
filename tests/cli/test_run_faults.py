"""`trackpipe run` under faults, in real processes: reader errors with --nproc, a killed rank, a
killed launcher, and SIGKILLs at seeded random points. Whatever happens, the output is absent or
complete, no temporary file survives the next run, and the rerun writes what an uninterrupted run writes.

The test plugins (a reader that rejects chosen events, a slow stage that marks its progress) reach
every process of a job through tests/cli/site/sitecustomize.py on PYTHONPATH.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tracking.atomic import is_temporary
from tracking.io.tracks import read_tracks

from ..site_plugins import SITE, load_site_plugins, unload_site_plugins

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

EVENTS = [10, 11, 12, 13]
SLOW_S = 0.3


@pytest.fixture(scope="module")
def acts_dir(tmp_path_factory):
    from tracking.io.acts_write import write_acts
    from tracking.simulation import simulate_events

    out = tmp_path_factory.mktemp("acts")
    write_acts(simulate_events(len(EVENTS), mu=5, seed=7, first_event=EVENTS[0]), out)
    return out


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "slow.yaml"
    path.write_text("device: cpu\nstages:\n  - graph_builder: test_slow\n  - track_builder: truth\n    min_hits: 3\n")
    return path


@pytest.fixture(scope="module")
def reference(acts_dir, pipeline, tmp_path_factory):
    """What an uninterrupted single-process run writes (computed in this process)."""
    from tracking.pipeline import Pipeline
    from tracking.runner import run

    load_site_plugins()
    try:
        out = tmp_path_factory.mktemp("reference") / "tracks.root"
        os.environ["TRACKPIPE_TEST_SLOW_S"] = "0"
        run(acts_dir, out, Pipeline.from_yaml(pipeline), progress=False)
    finally:
        os.environ.pop("TRACKPIPE_TEST_SLOW_S")
        unload_site_plugins()
    return list(read_tracks(out))


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    variables = dict(
        os.environ,
        # no empty entry: it would put the working directory (the source tree, without _core in CI) first
        PYTHONPATH=os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH", "")) if p),
        OMP_NUM_THREADS="1",
        TRACKPIPE_TEST_SLOW_S=str(SLOW_S),
        TRACKPIPE_TEST_MARKS=str(marks),
    )
    variables.update(extra)
    return variables


def command(acts_dir, pipeline, out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tracking", "run", str(acts_dir), "-o", str(out), "--pipeline", str(pipeline),
            "--quiet", *extra]  # fmt: skip


def same_tracks(path: Path, reference) -> bool:
    records = list(read_tracks(path))
    return [r.event_nr for r in records] == [r.event_nr for r in reference] and all(
        np.array_equal(a.measurement_id, b.measurement_id) and np.array_equal(a.track_id, b.track_id)
        for a, b in zip(records, reference)
    )


def marks(tmp_path: Path) -> list[tuple[int, int, int]]:
    """(rank, pid, event) of every event a slow stage started."""
    return [tuple(int(x) for x in p.name.split("-")) for p in (tmp_path / "marks").iterdir()]  # type: ignore[misc]


def wait_for(condition, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_reader_errors_follow_on_error_with_nproc(tmp_path, acts_dir, pipeline):
    """Event 11 (rank 1's first) is rejected by the reader: skipped, the others written in input order.
    (--on-error stop across shards is tested in-process in tests/cli/test_run_demo.py.)"""
    out = tmp_path / "tracks.root"
    proc = subprocess.run(
        command(acts_dir, pipeline, out, "--nproc", "2", "--on-error", "skip", "--reader", "test_flaky"),
        env=env(tmp_path, TRACKPIPE_TEST_BAD_EVENTS="11", TRACKPIPE_TEST_SLOW_S="0.5"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "event 11 failed: reading: DataError: test: coordinates are NaN" in proc.stderr
    assert [r.event_nr for r in read_tracks(out)] == [10, 12, 13]
    assert [p.name for p in tmp_path.iterdir() if is_temporary(p)] == []


@pytest.mark.parametrize("nproc", [1, 2])
def test_killed_at_random_points_then_rerun(tmp_path, acts_dir, pipeline, reference, nproc):
    """SIGKILL the command twice at seeded random points, then rerun. With --nproc 2 the first kill
    hits rank 1 (the launcher must name it, its signal and what was kept) and the second the launcher
    (its ranks must die with it)."""
    rng = random.Random(1300 + nproc)
    out = tmp_path / "out" / "tracks.root"
    cmd = command(acts_dir, pipeline, out, "--nproc", str(nproc))
    for attempt in range(2):
        for mark in (tmp_path / "marks").glob("*") if (tmp_path / "marks").exists() else []:
            mark.unlink()
        proc = subprocess.Popen(cmd, env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            if nproc == 2 and attempt == 0:  # one rank dies while it works on an event
                wait_for(lambda p=proc: any(rank == 1 for rank, _, _ in marks(tmp_path)) or p.poll() is not None)
                time.sleep(rng.uniform(0, SLOW_S))
                (victim,) = {pid for rank, pid, _ in marks(tmp_path) if rank == 1}
                os.kill(victim, signal.SIGKILL)
                _, stderr = proc.communicate(timeout=120)
                assert proc.returncode == 128 + signal.SIGKILL, stderr
                assert f"rank 1 of 2 (pid {victim}) was killed by SIGKILL" in stderr
                assert f"kept: nothing: {out} is written only when every rank finishes" in stderr
            else:
                if attempt == 0:  # anywhere from start-up to the end of the events
                    time.sleep(rng.uniform(0.5, 4.0))
                else:  # while events are processed or written
                    wait_for(lambda p=proc: bool(marks(tmp_path)) or p.poll() is not None)
                    time.sleep(rng.uniform(0, len(EVENTS) * SLOW_S / nproc))
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=60)
        finally:
            proc.kill()
        # no rank outlives its launcher
        workers = {pid for _, pid, _ in marks(tmp_path)}
        wait_for(lambda w=workers: not any(alive(pid) for pid in w), timeout=30)
        assert not out.exists() or same_tracks(out, reference)  # absent or complete, never partial
    rerun = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert same_tracks(out, reference)
    assert sorted(p.name for p in out.parent.iterdir()) == ["tracks.root"]  # no temporary survives
