"""Shared fixtures: devices (cpu, and cuda marked ``gpu``, skipped without a GPU), paths to the real data in
../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tracking import accel

# Python subprocesses of the tests (python -c, -m) must import the installed trackpipe, never the source
# tree of the working directory (which has no compiled _core in CI): no cwd on their sys.path.
os.environ["PYTHONSAFEPATH"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TRACKML_DIR = SHARED_DATA / "trackml"

CUDA = accel.cuda_available()
NO_CUDA_REASON = "needs a CUDA device and a CUDA build of trackpipe and torch"

# The one way to mark a GPU test: `@pytest.mark.gpu` on a test that needs CUDA throughout, or the `device`
# fixture for a test that runs on every device. Either way the test carries the `gpu` marker (select with
# `-m gpu`, leave out with `-m "not gpu"`) and is skipped, visibly, where CUDA is not usable.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Parametrises a test over cpu and cuda (PyG's ``withCUDA``); the cuda case is marked ``gpu``."""
    return request.param


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CUDA:
        return
    skip = pytest.mark.skip(reason=NO_CUDA_REASON)
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def trackml_dir() -> Path:
    if not TRACKML_DIR.is_dir():
        pytest.skip(f"real TrackML data not found at {TRACKML_DIR} (../shared/data/trackml)")
    return TRACKML_DIR


@pytest.fixture(autouse=True)
def single_torch_thread():
    """One intra-op torch thread: the tests use small tensors, and OpenMP oversubscription on a
    shared 2-core machine made them several times slower (63 s instead of 2.5 s for one nn test)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
