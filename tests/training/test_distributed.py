"""Multi-process runs (2 CPU ranks, gloo): DDP training through ``--nproc`` and torchrun with a
restart, and sharded inference whose output equals the single-process one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tracking.io.tracks import read_tracks

pytestmark = pytest.mark.distributed

CRASH_ONCE = Path(__file__).with_name("crash_once.py")


def _env():
    # One intra-op thread per rank: two ranks share this machine's cores.
    return dict(os.environ, OMP_NUM_THREADS="1")


def _run(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


def test_two_process_training_loss_falls_and_ranks_agree(write_config, tmp_path):
    config = write_config(
        schedule={"epochs": 3, "kind": "constant"},
        data={
            "train": {"simulate": {"n": 4, "mu": 5, "seed": 11}},
            "val": {"simulate": {"n": 3, "mu": 5, "seed": 12}},  # odd: one rank validates more events
        },
    )
    _run([sys.executable, "-m", "tracking", "train", str(config), "--nproc", "2", "--quiet"], tmp_path)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 3
    assert len(summary["param_digests"]) == 2 and summary["params_in_sync"]
    history = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[0]["val_true_edges"] > 0


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_torchrun_restart_resumes_from_the_checkpoint(write_config, tmp_path):
    config = write_config(schedule={"epochs": 2, "kind": "constant"})
    proc = _run(
        ["torchrun", "--standalone", "--nproc-per-node", "2", "--max-restarts", "1", str(CRASH_ONCE), str(config), "1"],
        tmp_path,
    )
    assert "crashed after epoch 1 on the first attempt" in proc.stderr  # the first attempt did crash
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["resumed_from"] == 1 and summary["epochs"] == 2 and summary["params_in_sync"]
    history = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2]


def test_sharded_inference_writes_what_one_process_writes(tmp_path):
    from tracking.io.acts_write import write_acts
    from tracking.simulation import simulate_events

    data = tmp_path / "events"
    write_acts(simulate_events(5, mu=3, seed=4, first_event=10), data)
    pipeline = tmp_path / "truth.yaml"
    pipeline.write_text(yaml.safe_dump({"device": "cpu", "stages": [{"track_builder": "truth", "min_hits": 3}]}))
    base = [sys.executable, "-m", "tracking", "run", str(data), "--pipeline", str(pipeline), "--quiet"]
    _run([*base, "-o", str(tmp_path / "one.root")], tmp_path)
    proc = _run([*base, "-o", str(tmp_path / "two.root"), "--nproc", "2"], tmp_path)
    assert "wrote 5 event(s)" in proc.stdout
    one, two = list(read_tracks(tmp_path / "one.root")), list(read_tracks(tmp_path / "two.root"))
    assert [r.event_nr for r in two] == [r.event_nr for r in one] == [10, 11, 12, 13, 14]
    for a, b in zip(one, two):
        assert np.array_equal(a.measurement_id, b.measurement_id) and np.array_equal(a.track_id, b.track_id)
    assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []


@pytest.mark.slow
def test_a_killed_job_resumes_from_its_last_checkpoint(write_config, tmp_path):
    """SIGKILL the whole job (launcher and ranks, as a batch system does) once epoch 1 is saved;
    the rerun continues from that epoch."""
    import signal
    import time

    from tracking.nn import read_checkpoint

    # many epochs: on a fast machine the tiny model saved all of 4 epochs between two polls of the loop below
    epochs = 30
    config = write_config(schedule={"epochs": epochs, "kind": "constant"})
    checkpoint = tmp_path / "out" / "checkpoint.pt"
    job = subprocess.Popen(
        [sys.executable, "-m", "tracking", "train", str(config), "--nproc", "2", "--quiet"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not checkpoint.exists() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.poll() is None, "the job ended before it could be killed"
        os.killpg(job.pid, signal.SIGKILL)
    finally:
        job.wait()
    saved = read_checkpoint(checkpoint)["extra"]["epoch"]
    assert 1 <= saved < epochs
    _run([sys.executable, "-m", "tracking", "train", str(config), "--nproc", "2", "--quiet"], tmp_path)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["resumed_from"] == saved and summary["epochs"] == epochs and summary["params_in_sync"]
