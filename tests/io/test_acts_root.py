"""acts_root reader: small ACTS-schema files written here with uproot, checked against the values written."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from tracking import registry
from tracking.errors import ConfigError
from tracking.io.acts_root import ActsRootReader, read_acts_root
from tracking.io.barcode import FIELDS, encode_barcode

BARCODE = tuple(name for name, _, _ in FIELDS)


def make_events(seed: int, event_ids, sizes) -> list[dict]:
    """Synthetic events with barcodes that use every field (incl. the int64 sign bit), noise and
    measurements that carry two particles; ``sizes[i]`` measurements for ``event_ids[i]``."""
    rng = np.random.default_rng(seed)
    events = []
    for event_id, n_hits in zip(event_ids, sizes):
        n_particles = int(rng.integers(1, 6))
        barcodes = np.stack(
            [
                rng.integers(1, 4096, n_particles),
                rng.integers(0, 4096, n_particles),
                rng.integers(0, 65536, n_particles),
                rng.integers(0, 4096, n_particles),
                rng.integers(0, 4096, n_particles),
            ],
            axis=1,
        ).astype(np.uint32)
        barcodes[0, 0] = 4095  # top bits set: the packed id is a negative int64
        links = []
        for _ in range(n_hits):
            kind = rng.integers(0, 4)
            links.append([] if kind == 0 else [int(rng.integers(n_particles))] * (2 if kind == 3 else 1))
            if kind == 3:  # a merged measurement: a second, different particle after the first
                links[-1][1] = (links[-1][0] + 1) % n_particles
        events.append(
            {
                "event_id": event_id,
                "x": rng.normal(0, 300, n_hits).astype(np.float32),
                "y": rng.normal(0, 300, n_hits).astype(np.float32),
                "z": rng.normal(0, 1000, n_hits).astype(np.float32),
                "volume_id": rng.integers(7, 19, n_hits).astype(np.uint32),
                "layer_id": rng.integers(2, 15, n_hits).astype(np.uint32),
                "surface_id": rng.integers(1, 3000, n_hits).astype(np.uint32),
                "links": links,
                "barcodes": barcodes,
                "pt": rng.uniform(0.1, 10, n_particles).astype(np.float32),
                "eta": rng.uniform(-4, 4, n_particles).astype(np.float32),
                "phi": rng.uniform(-np.pi, np.pi, n_particles).astype(np.float32),
                "vx": rng.normal(0, 0.01, n_particles).astype(np.float32),
                "vy": rng.normal(0, 0.01, n_particles).astype(np.float32),
                "vz": rng.normal(0, 50, n_particles).astype(np.float32),
                "q": rng.choice([-1.0, 1.0], n_particles).astype(np.float32),
                "number_of_hits": rng.integers(0, 20, n_particles).astype(np.uint32),
            }
        )
    return events


def packed_ids(barcodes: np.ndarray) -> np.ndarray:
    return encode_barcode(*barcodes.T) if len(barcodes) else np.zeros(0, np.int64)


def expected_particle_id(event: dict) -> np.ndarray:
    ids = packed_ids(event["barcodes"])
    return np.array([ids[link[0]] if link else 0 for link in event["links"]], np.int64)


def jagged(lists, dtype) -> ak.Array:
    counts = [len(x) for x in lists]
    flat = np.array([v for x in lists for v in x], dtype=dtype)
    return ak.unflatten(flat, np.array(counts, np.int64))


def write_tree(rootfile, name: str, types: dict, batches: list[dict]) -> None:
    tree = rootfile.mktree(name, types)
    for batch in batches:
        tree.extend(batch)


def write_acts(
    directory: Path,
    events: list[dict],
    *,
    schema: str = "barcode",
    rename: dict | None = None,
    trees=("measurements", "particles"),
    per_basket: int = 2,
    with_particles: bool = True,
    measurement_events=None,
    particle_id_jagged: bool = True,
) -> Path:
    """Write measurements.root / particles.root the way ACTS does (``schema`` 'barcode' = v44+, 'particle_id'
    = older single-id files); ``rename`` renames branches; ``per_basket`` events go into one basket."""
    rename = rename or {}
    directory.mkdir(parents=True, exist_ok=True)
    name = lambda n: rename.get(n, n)  # noqa: E731
    in_measurements = [e for e in events if measurement_events is None or e["event_id"] in measurement_events]

    mtypes = {
        name("event_nr"): np.uint32,
        name("volume_id"): np.uint32,
        name("layer_id"): np.uint32,
        name("surface_id"): np.uint32,
        name("rec_gx"): np.float32,
        name("rec_gy"): np.float32,
        name("rec_gz"): np.float32,
        "true_x": np.float32,
    }
    if schema == "barcode":
        mtypes.update({name(f"particles_{f}"): "var * uint32" for f in BARCODE})
    elif particle_id_jagged:
        mtypes[name("particle_id")] = "var * uint64"
    else:
        mtypes[name("particle_id")] = np.int64
    batches = []
    for i in range(0, len(in_measurements), per_basket):
        group = in_measurements[i : i + per_basket]
        batch = {
            name("event_nr"): np.concatenate([np.full(len(e["x"]), e["event_id"], np.uint32) for e in group]),
            name("rec_gx"): np.concatenate([e["x"] for e in group]),
            name("rec_gy"): np.concatenate([e["y"] for e in group]),
            name("rec_gz"): np.concatenate([e["z"] for e in group]),
            "true_x": np.concatenate([e["x"] for e in group]),
        }
        for f in ("volume_id", "layer_id", "surface_id"):
            batch[name(f)] = np.concatenate([e[f] for e in group])
        if schema == "barcode":
            for k, f in enumerate(BARCODE):
                batch[name(f"particles_{f}")] = jagged(
                    [[e["barcodes"][p, k] for p in link] for e in group for link in e["links"]], np.uint32
                )
        elif particle_id_jagged:
            batch[name("particle_id")] = jagged(
                [packed_ids(e["barcodes"])[link].view(np.uint64) for e in group for link in e["links"]], np.uint64
            )
        else:
            batch[name("particle_id")] = np.concatenate([expected_particle_id(e) for e in group])
        batches.append(batch)
    with uproot.recreate(directory / "measurements.root") as f:
        write_tree(f, trees[0], mtypes, batches)

    if with_particles:
        ptypes = {name("event_id"): np.uint32}
        kin = ("pt", "eta", "phi", "vx", "vy", "vz", "q")
        ptypes.update({name(k): "var * float32" for k in kin})
        ptypes[name("number_of_hits")] = "var * uint32"
        if schema == "barcode":
            ptypes.update({name(f): "var * uint32" for f in BARCODE})
        else:
            ptypes[name("particle_id")] = "var * uint64"
        batch = {name("event_id"): np.array([e["event_id"] for e in events], np.uint32)}
        for k in (*kin, "number_of_hits"):
            batch[name(k)] = jagged([e[k] for e in events], events[0][k].dtype)
        if schema == "barcode":
            for j, f in enumerate(BARCODE):
                batch[name(f)] = jagged([e["barcodes"][:, j] for e in events], np.uint32)
        else:
            batch[name("particle_id")] = jagged([packed_ids(e["barcodes"]).view(np.uint64) for e in events], np.uint64)
        with uproot.recreate(directory / "particles.root") as f:
            write_tree(f, trees[1], ptypes, [batch])
    return directory


def check_event(event, expected: dict, *, truth: bool = True, particles: bool = True) -> None:
    n = len(expected["x"])
    assert event.event_id == expected["event_id"]
    np.testing.assert_array_equal(event.hit_id, np.arange(n))
    for field in ("x", "y", "z"):
        np.testing.assert_array_equal(getattr(event, field), expected[field])
        assert getattr(event, field).dtype == np.float32
    for field, source in (("volume_id", "volume_id"), ("layer_id", "layer_id"), ("module_id", "surface_id")):
        np.testing.assert_array_equal(getattr(event, field), expected[source].astype(np.int32))
        assert getattr(event, field).dtype == np.int32
    if truth:
        np.testing.assert_array_equal(event.particle_id, expected_particle_id(expected))
    else:
        assert event.particle_id is None
    if particles:
        p = event.particles
        np.testing.assert_array_equal(p.particle_id, packed_ids(expected["barcodes"]))
        for field in ("pt", "eta", "phi", "vx", "vy", "vz"):
            np.testing.assert_array_equal(getattr(p, field), expected[field])
        np.testing.assert_array_equal(p.q, expected["q"].astype(np.int32))
        np.testing.assert_array_equal(p.nhits, expected["number_of_hits"].astype(np.int32))
    else:
        assert event.particles is None


EVENT_IDS = [3, 1, 7, 4, 12]  # written in this order (as a multi-threaded ACTS job may)
SIZES = [5, 7, 1, 4, 9]


@pytest.fixture
def events():
    return make_events(0, EVENT_IDS, SIZES)


@pytest.mark.parametrize("chunk_entries", [1, 3, 4, 1000])
def test_barcode_schema_in_event_order_any_chunk_size(tmp_path, events, chunk_entries):
    write_acts(tmp_path, events)
    reader = ActsRootReader(ActsRootReader.Config(chunk_entries=chunk_entries))
    out = list(reader(tmp_path))
    assert [e.event_id for e in out] == sorted(EVENT_IDS)
    by_id = {e["event_id"]: e for e in events}
    for event in out:
        check_event(event, by_id[event.event_id])
    assert reader.count(tmp_path) == len(EVENT_IDS)


def test_path_to_measurements_file_and_registry(tmp_path, events):
    write_acts(tmp_path, events)
    reader = registry.create("reader", "acts_root", {"events": [7, 1], "chunk_entries": 2})
    out = list(reader(tmp_path / "measurements.root"))
    assert [e.event_id for e in out] == [1, 7]
    assert reader.count(tmp_path) == 2
    check_event(out[1], events[2])
    assert out[0].meta["source"].endswith("measurements.root")


@pytest.mark.parametrize("jagged", [True, False])
def test_older_particle_id_schema(tmp_path, events, jagged):
    write_acts(tmp_path, events, schema="particle_id", particle_id_jagged=jagged)
    by_id = {e["event_id"]: e for e in events}
    out = list(read_acts_root(tmp_path, chunk_entries=3))
    assert len(out) == len(events)
    for event in out:
        check_event(event, by_id[event.event_id])


def test_branch_and_tree_mapping(tmp_path, events):
    rename = {
        "rec_gx": "gx",
        "rec_gy": "gy",
        "rec_gz": "gz",
        "surface_id": "module",
        "event_nr": "evt",
        "particles_particle": "bc_particle",
        "pt": "pT",
        "event_id": "evt_id",
        "particle": "p_particle",
    }
    write_acts(tmp_path, events, rename=rename, trees=("meas", "parts"))
    measurement_map = {
        k: v
        for k, v in rename.items()
        if k in ("rec_gx", "rec_gy", "rec_gz", "surface_id", "event_nr", "particles_particle")
    }
    particle_map = {"pt": "pT", "event_id": "evt_id", "particle": "p_particle"}
    reader = registry.create(
        "reader",
        "acts-root",
        {
            "measurement_branches": measurement_map,
            "particle_branches": particle_map,
            "measurements_tree": "meas",
            "particles_tree": "parts",
        },
    )
    by_id = {e["event_id"]: e for e in events}
    for event in reader(tmp_path):
        check_event(event, by_id[event.event_id])


def test_unknown_mapping_key_is_a_config_error():
    with pytest.raises(ConfigError, match="rec_x"):
        registry.create("reader", "acts_root", {"measurement_branches": {"rec_x": "x"}})


def test_truth_is_optional(tmp_path, events):
    write_acts(tmp_path, events, with_particles=False)
    by_id = {e["event_id"]: e for e in events}
    for event in read_acts_root(tmp_path):
        check_event(event, by_id[event.event_id], particles=False)
    for event in read_acts_root(tmp_path, truth=False):
        check_event(event, by_id[event.event_id], truth=False, particles=False)


def test_measurements_without_truth_branches(tmp_path, events):
    directory = write_acts(tmp_path, events, with_particles=False)
    with uproot.open(directory / "measurements.root") as f:
        data = f["measurements"].arrays(
            ["event_nr", "volume_id", "layer_id", "surface_id", "rec_gx", "rec_gy", "rec_gz"], library="np"
        )
    with uproot.recreate(directory / "measurements.root") as f:
        f.mktree("measurements", {k: v.dtype for k, v in data.items()}).extend(data)
    by_id = {e["event_id"]: e for e in events}
    out = list(read_acts_root(directory))
    for event in out:
        check_event(event, by_id[event.event_id], truth=False, particles=False)


def test_event_without_measurements_is_empty(tmp_path, events):
    write_acts(tmp_path, events, measurement_events={1, 3, 12})
    out = {e.event_id: e for e in read_acts_root(tmp_path)}
    assert sorted(out) == sorted(EVENT_IDS)
    for empty in (4, 7):
        assert out[empty].num_hits == 0
        assert out[empty].x.dtype == np.float32 and out[empty].particle_id.dtype == np.int64
        assert len(out[empty].particles) == len(next(e for e in events if e["event_id"] == empty)["barcodes"])
    check_event(out[12], events[4])


def test_nhits_counted_when_number_of_hits_is_absent(tmp_path, events):
    write_acts(tmp_path, events)
    reader = ActsRootReader(ActsRootReader.Config(particle_branches={"number_of_hits": "absent"}))
    for event in reader(tmp_path):
        pid = event.particle_id
        expected = [(pid == p).sum() for p in event.particles.particle_id]
        np.testing.assert_array_equal(event.particles.nhits, expected)


def test_momentum_branches_replace_missing_pt_eta_phi(tmp_path):
    (event_dict,) = make_events(1, [5], [3])
    event_dict["barcodes"] = np.array([[1, 0, 1, 0, 0], [1, 0, 2, 0, 0], [2, 0, 1, 0, 0]], np.uint32)
    event_dict["links"] = [[0], [1], []]
    write_acts(tmp_path, [event_dict], with_particles=False)
    px = np.array([1.0, -0.5, 0.0], np.float32)
    py = np.array([0.0, 0.5, 2.0], np.float32)
    pz = np.array([1.0, 0.0, -3.0], np.float32)
    types = {
        "event_id": np.uint32,
        **{k: "var * float32" for k in ("px", "py", "pz", "vx", "vy", "vz", "q")},
        **{f: "var * uint32" for f in BARCODE},
    }
    batch = {
        "event_id": np.array([5], np.uint32),
        "px": jagged([px], np.float32),
        "py": jagged([py], np.float32),
        "pz": jagged([pz], np.float32),
        "q": jagged([np.ones(3)], np.float32),
        **{k: jagged([np.zeros(3)], np.float32) for k in ("vx", "vy", "vz")},
        **{f: jagged([event_dict["barcodes"][:, j]], np.uint32) for j, f in enumerate(BARCODE)},
    }
    with uproot.recreate(tmp_path / "particles.root") as f:
        write_tree(f, "particles", types, [batch])
    (event,) = read_acts_root(tmp_path)
    pt = np.hypot(px.astype(np.float64), py)
    np.testing.assert_allclose(event.particles.pt, pt, rtol=1e-6)
    np.testing.assert_allclose(event.particles.phi, np.arctan2(py, px), rtol=1e-6)
    np.testing.assert_allclose(event.particles.eta, np.arcsinh(pz / pt), rtol=1e-6)
    # no number_of_hits branch: counted from the measurements' truth links
    np.testing.assert_array_equal(event.particles.nhits, [1, 1, 0])


def test_reads_bounded_entry_ranges(tmp_path, monkeypatch):
    """Never the whole file: every branch read spans at most max(chunk_entries, one event)."""
    sizes = [30, 5, 80, 12, 40, 7, 60, 25]
    events = make_events(2, list(range(len(sizes))), sizes)
    write_acts(tmp_path, events, per_basket=3)
    spans = []
    original = uproot.TBranch.array

    def spy(self, *args, entry_start=None, entry_stop=None, **kwargs):
        start = 0 if entry_start is None else entry_start
        stop = self.num_entries if entry_stop is None else entry_stop
        if self.tree.name == "measurements":
            spans.append(stop - start)
        return original(self, *args, entry_start=entry_start, entry_stop=entry_stop, **kwargs)

    monkeypatch.setattr(uproot.TBranch, "array", spy)
    out = list(read_acts_root(tmp_path, chunk_entries=50))
    assert [e.num_hits for e in out] == sizes
    assert spans and max(spans) <= 80 < sum(sizes)
    for event, expected in zip(out, events):
        check_event(event, expected)


def test_larger_file_against_reference(tmp_path):
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 400, 25).tolist()
    ids = rng.permutation(1000)[:25].tolist()
    events = make_events(3, ids, sizes)
    write_acts(tmp_path, events, per_basket=4)
    by_id = {e["event_id"]: e for e in events}
    out = list(read_acts_root(tmp_path, chunk_entries=333))
    assert [e.event_id for e in out] == sorted(ids)
    for event in out:
        check_event(event, by_id[event.event_id])


# -- round trip: simulator -> ACTS ROOT / TrackML CSV writers -> readers ---------------------------------


@pytest.fixture(scope="module")
def simulated():
    """Three small simulated events written out of order, and an event with particles but no hits."""
    from tracking.event import Event
    from tracking.simulation import simulate_event

    events = [simulate_event(mu=3, seed=11, event_id=i) for i in (2, 0, 1)]
    donor = events[0].numpy()
    empty = Event(
        event_id=9,
        hit_id=np.zeros(0, np.int64),
        x=np.zeros(0, np.float32),
        y=np.zeros(0, np.float32),
        z=np.zeros(0, np.float32),
        volume_id=np.zeros(0, np.int32),
        layer_id=np.zeros(0, np.int32),
        module_id=np.zeros(0, np.int32),
        particle_id=np.zeros(0, np.int64),
        particles=donor.particles,
    )
    return {e.event_id: e.numpy() for e in [*events, empty]}


def assert_same_hits_and_truth(got, expected, *, hit_ids: bool, exact_kinematics: bool) -> None:
    assert got.event_id == expected.event_id and got.num_hits == expected.num_hits
    fields = ["x", "y", "z", "volume_id", "layer_id", "module_id", "particle_id"] + (["hit_id"] if hit_ids else [])
    for field in fields:
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field), err_msg=field)
    for field in ("particle_id", "vx", "vy", "vz", "q", "nhits"):
        np.testing.assert_array_equal(getattr(got.particles, field), getattr(expected.particles, field), err_msg=field)
    for field in ("pt", "eta", "phi"):
        a, b = getattr(got.particles, field), getattr(expected.particles, field)
        if exact_kinematics:
            np.testing.assert_array_equal(a, b, err_msg=field)
        else:  # the CSV holds px, py, pz; pt, eta, phi are recomputed from them
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6, err_msg=field)


def test_round_trip_simulation_root(tmp_path, simulated):
    from tracking.io.acts_write import write_acts

    write_acts(simulated.values(), tmp_path)
    reader = ActsRootReader(ActsRootReader.Config(chunk_entries=500))
    assert reader.count(tmp_path) == 4
    out = list(reader(tmp_path))
    assert [e.event_id for e in out] == [0, 1, 2, 9]
    for event in out:
        expected = simulated[event.event_id]
        np.testing.assert_array_equal(event.hit_id, np.arange(expected.num_hits))  # ROOT: index in event
        assert_same_hits_and_truth(event, expected, hit_ids=False, exact_kinematics=True)


@pytest.mark.parametrize("gzip", [False, True])
def test_round_trip_simulation_csv_and_root_agree(tmp_path, simulated, gzip):
    from tracking.io.acts_write import write_acts
    from tracking.io.trackml_write import write_trackml_csv

    write_trackml_csv(simulated.values(), tmp_path / "csv", gzip=gzip)
    write_acts(simulated.values(), tmp_path / "root")
    from_csv = list(registry.create("reader", "trackml_csv")(tmp_path / "csv"))
    from_root = list(read_acts_root(tmp_path / "root"))
    assert [e.event_id for e in from_csv] == [e.event_id for e in from_root] == [0, 1, 2, 9]
    for csv_event, root_event in zip(from_csv, from_root):
        expected = simulated[csv_event.event_id]
        assert_same_hits_and_truth(csv_event, expected, hit_ids=True, exact_kinematics=False)
        assert_same_hits_and_truth(csv_event, root_event, hit_ids=False, exact_kinematics=False)
