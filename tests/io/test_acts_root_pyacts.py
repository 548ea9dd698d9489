"""trackpipe's ACTS ROOT files read by ACTS itself, and the ROOT reader's branch names against ACTS' writers.

pyacts ships uproot-based readers of the formats of ACTS' RootParticleWriter and RootSimHitWriter
(``acts.examples.uproot``). Our ``hits.root`` and ``particles.root`` go through them into ACTS' event store, out
through ACTS' CSV writers, and back through our ACTS CSV reader: the particles and sim hits must survive.
``measurements.root`` has no reader in pyacts; its branch names are checked against the list that ACTS'
RootMeasurementWriter and RootMeasurementIo (``Plugins/Root/src/RootMeasurementIo.cpp``, v48) write.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.conftest import require_pyacts
from tracking.io.acts_root.branches import MEASUREMENT_BRANCHES, PARTICLE_BRANCHES
from tracking.io.acts_write import write_acts
from tracking.io.barcode import encode_barcode
from tracking.simulation import simulate_event

BARCODE = ["particle_id_pv", "particle_id_sv", "particle_id_part", "particle_id_gen", "particle_id_subpart"]

# RootMeasurementWriter (ACTS v48): its own truth branches, then RootMeasurementIo::connectForWrite's
# (rec_/var_/true_/residual_/pull_ of the bound parameters and cluster branches left out)
ACTS_MEASUREMENT_BRANCHES = {
    "particles_vertex_primary", "particles_vertex_secondary", "particles_particle", "particles_generation",
    "particles_sub_particle", "event_nr", "volume_id", "layer_id", "surface_id", "extra_id", "rec_gx", "rec_gy",
    "rec_gz", "true_x", "true_y", "true_z",
}  # fmt: skip
# RootParticleWriter (ACTS v48) without the optional helix parameters
ACTS_PARTICLE_BRANCHES = {
    "event_id", "particle_hash", "particle_type", "process", "vx", "vy", "vz", "vt", "px", "py", "pz", "m", "q",
    "eta", "phi", "pt", "p", "q_over_p", "theta", "vertex_primary", "vertex_secondary", "particle", "generation",
    "sub_particle", "e_loss", "total_x0", "total_l0", "number_of_hits", "outcome",
}  # fmt: skip


def test_reader_branch_names_are_those_acts_writes():
    # "particle_id" is the single packed id of older ACTS, read when the barcode branches are absent
    assert set(MEASUREMENT_BRANCHES) - {"particle_id"} <= ACTS_MEASUREMENT_BRANCHES
    assert set(PARTICLE_BRANCHES) - {"particle_id"} <= ACTS_PARTICLE_BRANCHES


def test_actss_uproot_readers_read_our_root_files(tmp_path):
    acts = require_pyacts()
    import acts.examples as ex
    from acts.examples.uproot import UprootParticleReader, UprootSimHitReader

    event = simulate_event(mu=3, seed=4)
    write_acts([event], tmp_path / "root")
    level = acts.logging.WARNING
    out = tmp_path / "csv"
    out.mkdir()
    seq = ex.Sequencer(events=1, numThreads=1, outputDir=str(out), trackFpes=False, logLevel=level)
    seq.addReader(UprootParticleReader(tmp_path / "root" / "particles.root", outputParticles="particles", level=level))
    seq.addReader(UprootSimHitReader(tmp_path / "root" / "hits.root", outputSimHits="simhits", level=level))
    seq.addWriter(ex.CsvParticleWriter(level=level, inputParticles="particles", outputDir=str(out), outputStem="p"))
    seq.addWriter(ex.CsvSimHitWriter(level=level, inputSimHits="simhits", outputDir=str(out), outputStem="hits"))
    seq.run()

    particles = pd.read_csv(out / "event000000000-p.csv")
    ids = encode_barcode(*(particles[c].to_numpy() for c in BARCODE))
    ours = event.particles.numpy()
    np.testing.assert_array_equal(np.sort(ids), np.sort(np.asarray(ours.particle_id)))
    row = {p: i for i, p in enumerate(np.asarray(ours.particle_id))}
    order = [row[p] for p in ids]
    np.testing.assert_allclose(np.hypot(particles["px"], particles["py"]), np.asarray(ours.pt)[order], rtol=1e-4)
    np.testing.assert_allclose(particles["vz"], np.asarray(ours.vz)[order], atol=1e-3)
    np.testing.assert_array_equal(particles["q"], np.asarray(ours.q)[order])

    hits = pd.read_csv(out / "event000000000-hits.csv")
    signal = event.particle_id != 0
    assert len(hits) == int(signal.sum())
    hit_ids = encode_barcode(*(hits[c].to_numpy() for c in BARCODE))
    np.testing.assert_array_equal(np.sort(hit_ids), np.sort(event.particle_id[signal]))
    geometry = [acts.GeometryIdentifier(int(g)) for g in hits["geometry_id"]]
    assert {g.volume for g in geometry} <= set(np.unique(event.volume_id).tolist())
