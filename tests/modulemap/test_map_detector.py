"""Maps know their detector: the numbering they were learned on is recorded, ``module_ids: auto`` never
switches a foreign map to the built-in detector's ids, and an event mostly outside a map is a named error."""

from __future__ import annotations

import numpy as np
import pytest

from tracking.detector import BUILTIN_NUMBERING
from tracking.errors import ConfigError, DataError
from tracking.event import Event, Particles
from tracking.modulemap import ModuleIdResolver, ModuleMap, learn_module_map
from tracking.registry import create


def planes_event(event_id: int = 1, n_tracks: int = 40, seed: int = 0) -> Event:
    """A VELO-like event built by hand: straight tracks from the origin through 10 planes along z,
    two modules (half planes) per plane, volume 1."""
    rng = np.random.default_rng(seed)
    planes = np.arange(100.0, 350.0, 25.0)
    tan_theta = rng.uniform(0.03, 0.12, n_tracks)
    phi = rng.uniform(-np.pi, np.pi, n_tracks)
    r = planes[None, :] * tan_theta[:, None]
    x, y = (r * np.cos(phi)[:, None]).ravel(), (r * np.sin(phi)[:, None]).ravel()
    n = len(x)
    pid = np.repeat(np.arange(1, n_tracks + 1), len(planes))
    zeros = np.zeros(n_tracks, np.float32)
    return Event(
        event_id=event_id,
        hit_id=np.arange(1, n + 1, dtype=np.int64),
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        z=np.tile(planes, n_tracks).astype(np.float32),
        volume_id=np.ones(n, np.int32),
        layer_id=np.tile(np.arange(1, len(planes) + 1), n_tracks).astype(np.int32),
        module_id=(1 + (y > 0)).astype(np.int32),
        particle_id=pid.astype(np.int64),
        particles=Particles(
            particle_id=np.arange(1, n_tracks + 1, dtype=np.int64),
            pt=np.full(n_tracks, 1.0, np.float32),
            eta=zeros,
            phi=phi.astype(np.float32),
            vx=zeros,
            vy=zeros,
            vz=zeros,
            q=np.ones(n_tracks, np.int32),
            nhits=np.full(n_tracks, len(planes), np.int32),
        ),
    )


@pytest.fixture(scope="module")
def velo_map(tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "velo.npz"
    learn_module_map([planes_event(seed=s) for s in range(3)]).save(path)
    return path


def test_map_records_its_numbering(velo_map):
    m = ModuleMap.load(velo_map)
    assert m.numbering.startswith("ids-") and m.numbering != BUILTIN_NUMBERING
    builtin = create("graph_builder", "module_map", {}).map
    assert builtin.numbering == "trackml"  # the real TrackML ids, which the simulation now gives too


def test_auto_keeps_the_file_ids_for_a_foreign_map(velo_map):
    assert ModuleIdResolver("auto", ModuleMap.load(velo_map).numbering).mode == "file"
    stage = create("graph_builder", "module_map", {"map": str(velo_map)})
    out = stage(planes_event(seed=7))
    assert out.num_edges > 0 and "module_ids" not in out.meta
    with pytest.raises(ConfigError, match="geometric.*numbering"):
        create("graph_builder", "module_map", {"map": str(velo_map), "module_ids": "geometric"})


def test_events_of_another_detector_are_a_named_error(velo_map):
    # the built-in (TrackML-like) map on VELO-like planes: positional ids fall off the built-in detector
    builtin = create("graph_builder", "module_map", {})
    with pytest.raises(DataError, match=r"100% of the hits.*module_map_default.npz.*event 5"):
        builtin(planes_event(event_id=5))
    # and the VELO map on an event numbered otherwise (the planes renumbered as volume 2)
    stage = create("graph_builder", "module_map", {"map": str(velo_map)})
    other = planes_event(event_id=6)
    other = other.replace(volume_id=np.full(other.num_hits, 2, np.int32))
    with pytest.raises(DataError, match=r"velo.npz.*ids-.*event 6"):
        stage(other)
    # accepted when asked
    lenient = create("graph_builder", "module_map", {"map": str(velo_map), "max_outside": 1.0})
    assert lenient(other).num_edges == 0
