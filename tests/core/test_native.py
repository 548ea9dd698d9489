import pytest

import tracking
from tracking import accel
from tracking._native import core


def test_native_module_imports_and_reports_version():
    assert core.__version__ == tracking.__version__


def test_cuda_flags_consistent():
    assert accel.CUDA_COMPILED == core.cuda_compiled()
    count = core.cuda_device_count()
    assert count >= 0
    if not accel.CUDA_COMPILED:
        assert count == 0
        with pytest.raises(RuntimeError, match="built without CUDA"):
            core.cuda_device_description(0)


def test_threads_roundtrip():
    before = core.max_threads()
    try:
        core.set_max_threads(1)
        assert core.max_threads() == 1 or not core.openmp_compiled()
    finally:
        core.set_max_threads(before)
    with pytest.raises(ValueError):
        core.set_max_threads(0)
