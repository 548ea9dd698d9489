"""The nn tests use tiny tensors: one intra-op thread avoids OpenMP oversubscription on a shared
machine, which otherwise makes them several times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
