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


def require_pyacts():
    """The ``acts`` module of pyacts, or a skip that gives the command installing it."""
    from tracking.extras import MissingExtraError, require

    try:
        return require("acts")
    except MissingExtraError as err:
        pytest.skip(str(err))


# volume 8 (the Generic detector's pixel barrel) digitised geometrically, so that it writes real cells; the
# module size and pixel count are those of ACTS' Examples/Configs/generic-digi-geometric-config.json
PIXEL_BARREL_GEOMETRIC = {
    "volume": 8,
    "value": {
        "geometric": {
            "digital": False,
            "indices": [0, 1],
            "segmentation": {
                "binningdata": [
                    {"bins": 336, "min": -8.4, "max": 8.4, "option": "open", "type": "equidistant", "value": "binX"},
                    {"bins": 1440, "min": -36.0, "max": 36.0, "option": "open", "type": "equidistant", "value": "binY"},
                ]
            },
            "thickness": 0.15,
            "threshold": 0.0,
            "charge-smearing": {"mean": 0.0, "stddev": 0.01, "type": "Gauss"},
        }
    },
}


@pytest.fixture(scope="session")
def acts_events(tmp_path_factory) -> Path:
    """Two small events simulated and written by ACTS itself (pyacts: Fatras, the Generic detector, ACTS' CSV
    writers); the pixel barrel is digitised geometrically (clusters of cells), the rest smeared."""
    require_pyacts()
    import json

    from tracking.simulation.acts_engine import ActsSimulationConfig, generic_smearing_config, simulate_acts

    out = tmp_path_factory.mktemp("acts_events")
    digi = generic_smearing_config()
    digi["entries"] = [PIXEL_BARREL_GEOMETRIC if e["volume"] == 8 else e for e in digi["entries"]]
    digi_path = out.parent / "acts-digi-mixed.json"
    digi_path.write_text(json.dumps(digi))
    config = ActsSimulationConfig(mu=4, particles_per_vertex=15, digi_config=str(digi_path))
    simulate_acts(2, out, seed=11, first_event=5, config=config)
    return out
