import pickle
import re

import numpy as np
import pytest
import torch

import tracking
from tracking import accel, ops
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


def test_kernels_accept_unpickled_arrays():
    # An unpickled array's dtype is an equal but distinct object (worker processes and caches pickle events);
    # the bindings once compared dtypes by identity and refused it with "wrong dtype".
    edges = np.array([[0, 1, 2], [1, 2, 3]], dtype=np.int64)
    scores = np.array([0.9, 0.8, 0.1], dtype=np.float32)
    order = np.arange(4, dtype=np.float32)
    copies = [pickle.loads(pickle.dumps(a)) for a in (edges, scores, order)]
    assert all(c.dtype is not a.dtype for c, a in zip(copies, (edges, scores, order), strict=True))
    expected = ops.walkthrough(edges, 4, scores, cut=0.5, min_hits=2, order=order)
    assert list(expected) == [0, 0, 0, -1]
    np.testing.assert_array_equal(
        ops.walkthrough(copies[0], 4, copies[1], cut=0.5, min_hits=2, order=copies[2]), expected
    )
    with pytest.raises(ValueError, match="scores: wrong dtype"):
        core.walkthrough_cpu(edges, scores.astype(np.float64), 0.5, 0.5, 4, None, 1, np.empty(4, np.int64))
