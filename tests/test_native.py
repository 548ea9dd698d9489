import re

import pytest
import torch

import tracking
from tracking import accel
from tracking._native import core


def test_native_module_imports_and_reports_version():
    assert core.__version__ == tracking.__version__


def test_cuda_flags_consistent():
    assert core.cuda_compiled() == accel.CUDA_COMPILED
    count = core.cuda_device_count()
    if not accel.CUDA_COMPILED:
        assert count == 0
        with pytest.raises(RuntimeError, match="built without CUDA"):
            core.cuda_device_description(0)
    # usable GPUs are those both our kernels and torch see; the native count honours CUDA_VISIBLE_DEVICES as torch does
    expected = min(count, torch.cuda.device_count()) if torch.cuda.is_available() else 0
    assert accel.cuda_device_count() == expected


@pytest.mark.gpu
def test_cuda_devices_are_described():
    count = core.cuda_device_count()
    assert count == torch.cuda.device_count()
    for index in range(count):
        assert re.fullmatch(r".+ \(sm_\d+, \d+ MiB\)", core.cuda_device_description(index))
    with pytest.raises(RuntimeError):
        core.cuda_device_description(count)


def test_threads_roundtrip():
    before = core.max_threads()
    try:
        core.set_max_threads(1)
        assert core.max_threads() == 1 or not core.openmp_compiled()
    finally:
        core.set_max_threads(before)
    with pytest.raises(ValueError):
        core.set_max_threads(0)
