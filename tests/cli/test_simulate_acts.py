"""``trackpipe simulate --engine acts``: ACTS Fatras events that ``trackpipe run`` reads and ``evaluate`` scores,
seeds and event numbers as for the built-in engine, the Telescope detector, HepMC3 input, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
from click.testing import CliRunner

from tests.conftest import require_pyacts
from tracking.cli import main
from tracking.io.acts_csv import read_acts_csv
from tracking.simulation.acts_engine import TELESCOPE_POSITIONS

TRUTH_PIPELINE = "device: cpu\nstages:\n  - track_builder: truth\n    min_hits: 3\n"


def _invoke(args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_acts_events_run_and_evaluate_with_truth_tracks(tmp_path):
    require_pyacts()
    events = tmp_path / "ev"
    result = _invoke(["simulate", "--engine", "acts", "-n", 3, "--mu", 10, "-k", 10, "-o", events, "--no-progress"])
    assert "wrote 3 event(s)" in result.output
    assert sorted(p.name for p in events.glob("*-measurements.csv")) == [
        f"event00000000{i}-measurements.csv" for i in range(3)
    ]
    assert (events / "detectors.csv").is_file()
    assert not [p for p in events.iterdir() if p.name.startswith(".")]  # the scratch directory is gone
    pipeline = tmp_path / "truth.yaml"
    pipeline.write_text(TRUTH_PIPELINE)
    tracks = tmp_path / "t.root"
    _invoke(["run", events, "-o", tracks, "--pipeline", pipeline, "--quiet"])
    summary = tmp_path / "m.json"
    _invoke(["evaluate", tracks, "--truth", events, "--json", summary])
    metrics = json.loads(summary.read_text())
    assert metrics["n_events"] == 3
    assert metrics["n_reconstructable"] > 30  # pT > 1 GeV, >= 3 hits
    assert metrics["n_reconstructed"] == metrics["n_reconstructable"]
    assert metrics["efficiency"] == 1.0
    assert metrics["fake_rate"] == 0.0
    assert metrics["duplicate_rate"] == 0.0


def test_seeds_and_event_numbers_behave_as_for_the_builtin_engine(tmp_path):
    require_pyacts()
    common = ["simulate", "--engine", "acts", "--mu", 3, "-k", 5, "--no-progress"]
    _invoke([*common, "-n", 3, "--seed", 7, "-o", tmp_path / "a"])
    _invoke([*common, "-n", 2, "--seed", 7, "--first-event", 1, "-o", tmp_path / "b"])
    _invoke([*common, "-n", 1, "--seed", 8, "-o", tmp_path / "c"])
    name = "event000000001-measurements.csv"
    # an event depends on (seed, event number) only, not on where the run starts or how many it makes
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not (tmp_path / "b" / "event000000000-measurements.csv").exists()
    first = "event000000000-measurements.csv"
    assert (tmp_path / "a" / first).read_bytes() != (tmp_path / "c" / first).read_bytes()


def test_telescope_planes(tmp_path):
    require_pyacts()
    _invoke(["simulate", "--engine", "acts", "--detector", "telescope", "-n", 1, "--mu", 5, "-k", 5,
             "--bfield", 0, "-o", tmp_path, "--no-progress"])  # fmt: skip
    (event,) = read_acts_csv(tmp_path)
    assert event.num_hits > 50
    assert set(np.unique(event.volume_id).tolist()) == {1}
    assert len(np.unique(event.layer_id)) == len(TELESCOPE_POSITIONS)
    np.testing.assert_allclose(np.unique(np.round(event.z)), TELESCOPE_POSITIONS, atol=1.0)


def _write_hepmc3(path, n_events: int, per_event: int) -> None:
    """A HepMC3 file written by ACTS (a muon gun: 2 vertices x ``per_event // 2`` muons, |eta| < 1)."""
    acts = require_pyacts()
    import acts.examples as ex
    import acts.examples.hepmc3 as hepmc3

    level = acts.logging.WARNING
    seq = ex.Sequencer(events=n_events, numThreads=1, outputDir=str(path.parent), trackFpes=False, logLevel=level)
    gun = ex.ParametricParticleGenerator(p=(1.0 * acts.UnitConstants.GeV, 5.0 * acts.UnitConstants.GeV),
                                         pTransverse=True, eta=(-1.0, 1.0), numParticles=per_event // 2,
                                         pdg=acts.PdgParticle.eMuon, randomizeCharge=True)  # fmt: skip
    vertex = ex.GaussianVertexGenerator(mean=acts.Vector4(0, 0, 0, 0), stddev=acts.Vector4(0, 0, 10, 0))
    two = ex.FixedMultiplicityGenerator(n=2)
    generator = ex.EventGenerator.Generator(multiplicity=two, vertex=vertex, particles=gun)
    seq.addReader(ex.EventGenerator(level=level, randomNumbers=ex.RandomNumbers(seed=5), outputEvent="gun",
                                    generators=[generator]))  # fmt: skip
    seq.addWriter(hepmc3.HepMC3Writer(level=level, inputEvent="gun", outputPath=path))
    seq.run()


def test_hepmc3_input(tmp_path):
    require_pyacts()
    source = tmp_path / "gun.hepmc3"
    _write_hepmc3(source, n_events=2, per_event=8)
    out = tmp_path / "ev"
    result = _invoke(["simulate", "--engine", "acts", "-n", 3, "--hepmc3", source, "-o", out, "--no-progress"])
    assert "wrote 2 event(s)" in result.output  # the file holds two: said, not invented
    assert "holds only 2" in result.output
    for event in read_acts_csv(out):
        particles = pd.read_csv(out / f"event{event.event_id:09d}-particles_simulated.csv")
        primaries = particles[particles["particle_id_gen"] == 0]
        assert len(primaries) == 8 and set(primaries["particle_type"].abs()) == {13}
        assert event.num_hits >= 8 * 8  # muons with pT >= 1 GeV cross every barrel layer


def test_usage_errors(tmp_path):
    cases = [
        (["--engine", "acts", "--detector", "tiled"], "builtin-engine detector"),
        (["--engine", "acts", "--format", "root"], "ACTS CSV"),
        (["--engine", "acts", "--gzip"], "--gzip"),
        (["--detector", "generic"], "needs --engine acts"),
        (["-k", "3"], "--particles-per-vertex: only with --engine acts"),
        (["--bfield", "0"], "--bfield: only with --engine acts"),
        (["--engine", "acts", "--pt-range", "2", "1"], "pt_range"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, ["simulate", *args, "-o", str(tmp_path / "x"), "--no-progress"])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert not (tmp_path / "x").exists()


def test_without_pyacts_the_error_gives_the_install_command(tmp_path):
    code = f"""
        import sys
        sys.modules["acts"] = None
        from tracking.cli import main
        main(["simulate", "--help"], standalone_mode=False)  # help never imports ACTS
        main(["simulate", "--engine", "acts", "-o", {str(tmp_path / "x")!r}, "--no-progress"])
        """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert 'pip install "trackpipe[acts]"' in result.stderr + result.stdout
    assert not (tmp_path / "x").exists()
