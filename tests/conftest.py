"""Shared fixtures: devices (cuda only when present), paths to the real data in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tracking import accel

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TRACKML_DIR = SHARED_DATA / "trackml"

DEVICES = ["cpu"] + (["cuda"] if accel.cuda_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Parametrises a test over cpu and, when a GPU is usable, cuda."""
    return request.param


requires_cuda = pytest.mark.skipif(
    not accel.cuda_available(),
    reason="needs a CUDA device and a CUDA build of trackpipe and torch",
)


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
