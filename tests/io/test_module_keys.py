"""Module keys: volume << 40 | layer << 20 | module, 20 bits per id, shared by the readers and module maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracking.errors import DataError
from tracking.io.module_keys import FIELD_MAX, layer_keys, pack_keys, unpack_keys
from tracking.io.trackml_csv import TrackmlCsvReader


def test_round_trip_order_and_layer_keys():
    volume = np.array([7, 8, 8, 8, 18])
    layer = np.array([2, 2, 2, 4, 12])
    module = np.array([5, 1, FIELD_MAX - 1, 0, 3])
    keys = pack_keys(volume, layer, module)
    assert keys.dtype == np.int64 and np.all(np.diff(keys) > 0)  # sorted by volume, layer, module
    for got, want in zip(unpack_keys(keys), (volume, layer, module)):
        np.testing.assert_array_equal(got, want)
    assert layer_keys(keys)[1] == layer_keys(keys)[2] != layer_keys(keys)[3]
    np.testing.assert_array_equal(layer_keys(keys), pack_keys(volume, layer, 0) >> 20)


@pytest.mark.parametrize(("field", "value"), [("volume_id", -1), ("layer_id", FIELD_MAX), ("module_id", 2**31 - 1)])
def test_ids_that_do_not_fit_are_named(field, value):
    ids = {"volume_id": [8], "layer_id": [2], "module_id": [1]}
    ids[field] = [value]
    with pytest.raises(ValueError, match=f"{field} must lie in"):
        pack_keys(ids["volume_id"], ids["layer_id"], ids["module_id"])


def test_trackml_module_id_beyond_the_key_is_an_error_not_another_module(tmp_path):
    # module 2^20 + 1 of layer 2 would otherwise alias module 1 of layer 3
    hits = tmp_path / "event000000005-hits.csv"
    hits.write_text(f"hit_id,x,y,z,volume_id,layer_id,module_id\n1,1.0,2.0,3.0,8,2,{FIELD_MAX + 1}\n")
    detectors = tmp_path / "detectors.csv"
    pd.DataFrame({"volume_id": [8], "layer_id": [3], "module_id": [1]}).to_csv(detectors, index=False)
    with pytest.raises(DataError, match="module_id must lie in") as err:
        list(TrackmlCsvReader(TrackmlCsvReader.Config(detectors=str(detectors)))(tmp_path))
    assert (err.value.file, err.value.event) == (str(hits), 5)
