import numpy as np
import pytest
import torch

from tracking import DataError, Event, Particles
from tracking.event import lookup_rows


def make_particles(ids) -> Particles:
    n = len(ids)
    f32 = lambda values: np.asarray(values, np.float32)  # noqa: E731
    zeros = f32(np.zeros(n))
    return Particles(
        particle_id=np.asarray(ids, np.int64),
        pt=f32(np.arange(n) + 0.5),
        eta=zeros,
        phi=zeros,
        vx=zeros,
        vy=zeros,
        vz=zeros,
        q=np.ones(n, np.int32),
        nhits=np.ones(n, np.int32),
    )


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
    parts = make_particles([1, 2])
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


def test_particles_lookup_finds_rows_of_an_unsorted_table():
    parts = make_particles([40, 7, 1000, 3])
    rows, found = parts.lookup(np.array([3, 0, 1000, 41, 40, 7, 3, 5000]))
    np.testing.assert_array_equal(found, [True, False, True, False, True, True, True, False])
    np.testing.assert_array_equal(rows, [3, -1, 2, -1, 0, 1, 3, -1])
    np.testing.assert_array_equal(parts.pt[rows[found]], [3.5, 2.5, 0.5, 1.5, 3.5])


def test_particles_lookup_on_tensors_and_empty_inputs():
    parts = make_particles([5, 2]).to("cpu")
    rows, found = parts.lookup(torch.tensor([2, 9]))
    assert isinstance(rows, np.ndarray) and rows.dtype == np.int64 and found.dtype == np.bool_
    np.testing.assert_array_equal(rows, [1, -1])
    rows, found = make_particles([]).lookup(np.array([1, 2]))
    np.testing.assert_array_equal(rows, [-1, -1])
    assert not found.any()
    rows, found = parts.lookup(np.zeros(0, np.int64))
    assert rows.shape == found.shape == (0,)


def test_lookup_rows_takes_the_first_row_of_a_repeated_id():
    rows, found = lookup_rows(np.array([8, 4, 8, 4]), np.array([4, 8]))
    np.testing.assert_array_equal(rows, [1, 0])
    assert found.all()


@pytest.mark.parametrize("as_torch", [False, True])
def test_select_edges_keeps_every_per_edge_field_aligned(as_torch):
    edge_index = np.array([[0, 1, 2, 3], [1, 2, 3, 4]], dtype=np.int64)
    event = make_event(
        edge_index=edge_index,
        edge_scores=np.array([0.9, 0.1, 0.8, 0.2], dtype=np.float32),
        edge_truth=np.array([True, False, True, False]),
        edge_features=np.arange(8, dtype=np.float32).reshape(4, 2),
    )
    if as_torch:
        event = event.to("cpu")
    out = event.select_edges(np.array([True, False, True, False]))  # a numpy mask on either kind
    np.testing.assert_array_equal(np.asarray(out.edge_index), [[0, 2], [1, 3]])
    np.testing.assert_array_equal(np.asarray(out.edge_scores), np.array([0.9, 0.8], dtype=np.float32))
    np.testing.assert_array_equal(np.asarray(out.edge_truth), [True, True])
    np.testing.assert_array_equal(np.asarray(out.edge_features), [[0, 1], [4, 5]])
    with pytest.raises(DataError, match="no graph"):
        make_event().select_edges(np.zeros(0, dtype=bool))
