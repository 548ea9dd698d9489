"""Torch thread count of `trackpipe run`: default from free physical cores, --threads, OMP_NUM_THREADS."""

from __future__ import annotations

import os

import pytest
import torch

from tracking import runner
from tracking.errors import ConfigError


def test_default_threads_uses_free_physical_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner, "physical_cores", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert runner.default_threads() == 8
    assert runner.default_threads(processes=3) == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (5.7, 0.0, 0.0))
    assert runner.default_threads() == 3
    monkeypatch.setattr(os, "getloadavg", lambda: (40.0, 0.0, 0.0))
    assert runner.default_threads() == 1  # at least one
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert runner.default_threads() == 5


def test_physical_cores_is_positive_and_at_most_the_cpus():
    assert 1 <= runner.physical_cores() <= (os.cpu_count() or 1)


def test_set_threads():
    assert runner.set_threads(1) == 1 and torch.get_num_threads() == 1
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        runner.set_threads(0)
