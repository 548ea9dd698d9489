"""tracking.arrays: the one place numpy arrays and torch tensors are told apart and converted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracking.arrays import as_numpy, cuda_stream, dtype_name, is_array, is_torch


def test_as_numpy_shares_a_cpu_tensor_and_detaches():
    t = torch.arange(4, dtype=torch.float32, requires_grad=True) * 1.0
    a = as_numpy(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, [0, 1, 2, 3])
    plain = torch.zeros(3, dtype=torch.int64)
    as_numpy(plain)[0] = 7  # a CPU tensor is viewed, not copied
    assert int(plain[0]) == 7


def test_as_numpy_passes_arrays_and_converts_sequences():
    a = np.arange(3)
    assert as_numpy(a) is a
    np.testing.assert_array_equal(as_numpy([1, 2]), [1, 2])


def test_as_numpy_copies_off_the_device(device):
    t = torch.arange(5, device=device)
    a = as_numpy(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.int64
    np.testing.assert_array_equal(a, np.arange(5))


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (np.zeros(1, np.float32), "float32"),
        (torch.zeros(1, dtype=torch.float32), "float32"),
        (np.zeros(1, np.int64), "int64"),
        (torch.zeros(1, dtype=torch.int64), "int64"),
        (np.zeros(1, bool), "bool"),
        (torch.zeros(1, dtype=torch.bool), "bool"),
    ],
)
def test_dtype_name_spells_both_kinds_alike(value, name):
    assert dtype_name(value) == name


def test_kind_predicates():
    assert is_torch(torch.zeros(1)) and not is_torch(np.zeros(1))
    assert is_array(torch.zeros(1)) and is_array(np.zeros(1))
    assert not is_array([1.0]) and not is_torch(None)


@pytest.mark.gpu
def test_cuda_stream_is_the_current_stream():
    device = torch.device("cuda", 0)
    assert cuda_stream(device) == torch.cuda.current_stream(device).cuda_stream
    side = torch.cuda.Stream(device)
    with torch.cuda.stream(side):
        assert cuda_stream(device) == side.cuda_stream != 0
