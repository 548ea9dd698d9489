import numpy as np
import pytest
import torch

from tracking import DataError, Event, Particles


def make_event(n=5, **kw):
    rng = np.random.default_rng(0)
    return Event(
        event_id=3,
        hit_id=np.arange(n, dtype=np.int64),
        x=rng.normal(size=n).astype(np.float32),
        y=rng.normal(size=n).astype(np.float32),
        z=rng.normal(size=n).astype(np.float32),
        **kw,
    )


def test_derived_coordinates():
    ev = make_event()
    np.testing.assert_allclose(ev.r, np.hypot(ev.x, ev.y), rtol=1e-6)
    np.testing.assert_allclose(ev.phi, np.arctan2(ev.y, ev.x), rtol=1e-6)
    np.testing.assert_allclose(ev.eta, np.arcsinh(ev.z / ev.r), rtol=1e-5)
    assert ev.r.dtype == np.float32


def test_to_torch_and_back():
    parts = Particles(
        particle_id=np.array([1, 2], np.int64), pt=np.ones(2, np.float32), eta=np.zeros(2, np.float32),
        phi=np.zeros(2, np.float32), vx=np.zeros(2, np.float32), vy=np.zeros(2, np.float32),
        vz=np.zeros(2, np.float32), q=np.ones(2, np.int32), nhits=np.ones(2, np.int32),
    )
    ev = make_event(particles=parts, particle_id=np.array([0, 1, 1, 2, 2], np.int64))
    t = ev.to("cpu")
    assert isinstance(t.x, torch.Tensor) and isinstance(t.particles.pt, torch.Tensor)
    assert t.device == torch.device("cpu")
    back = t.numpy()
    np.testing.assert_array_equal(back.particle_id, ev.particle_id)
    assert isinstance(back.particles.q, np.ndarray)


def test_replace_adds_fields_and_validates():
    ev = make_event().to("cpu")
    ei = torch.tensor([[0, 1], [1, 2]])
    ev2 = ev.replace(edge_index=ei, edge_scores=torch.tensor([0.1, 0.9]))
    assert ev2.num_edges == 2 and ev.edge_index is None
    with pytest.raises(DataError, match="edge_scores.*1 rows.*2 edges"):
        ev.replace(edge_index=ei, edge_scores=torch.tensor([0.1]))
    with pytest.raises(DataError, match="shape"):
        ev.replace(edge_index=torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(DataError, match="edge_index is not"):
        ev.replace(edge_scores=torch.tensor([0.1]))


def test_length_and_dtype_errors_name_the_field():
    with pytest.raises(DataError, match="'volume_id' has 2 entries.*event 3"):
        make_event(volume_id=np.zeros(2, np.int32))
    with pytest.raises(DataError, match="'layer_id' has dtype int64, expected int32"):
        make_event(layer_id=np.zeros(5, np.int64))
    with pytest.raises(DataError, match="'x'.*float64"):
        Event(event_id=0, hit_id=np.arange(2), x=np.zeros(2), y=np.zeros(2, np.float32), z=np.zeros(2, np.float32))


def test_empty_event():
    ev = make_event(n=0)
    assert ev.num_hits == 0 and ev.num_edges == 0
    assert "hits=0" in repr(ev.to("cpu"))


def test_read_only_arrays_convert_without_warning():
    ev = make_event()
    x = ev.x.copy()
    x.flags.writeable = False  # as pandas (copy-on-write) and uproot hand out
    t = ev.replace(x=x).to("cpu")
    t.x[0] = 1.0  # our own copy: writing cannot touch the reader's buffer
    assert x[0] != 1.0
