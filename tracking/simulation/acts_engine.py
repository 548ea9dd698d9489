"""ACTS as a simulation engine: Fatras and smearing digitisation on ACTS' Generic or Telescope detector.

``simulate_acts(n, outdir, ...)`` runs the ACTS Examples framework of ``pyacts`` (the ``acts`` extra; imported
only here) and writes what ACTS' own CSV writers write, one set of files per event
(``event#########-{particles_simulated,hits,measurements,measurement-simhit-map,cells}.csv``) and the
detector's modules (``detectors.csv``, CsvTrackingGeometryWriter), which
:class:`tracking.io.acts_csv.ActsCsvReader` reads. The chain is the one of ACTS' ``full_chain_*`` scripts:

- a source: ``Poisson(mu)`` vertices per event (Gaussian, sigma_z = ``vertex_sigma_z``, sigma_xy = 12.5 µm), each with
  ``particles_per_vertex`` charged pions of log-uniform pT and uniform η, or the events of a HepMC3 file;
- Fatras with interactions (multiple scattering, energy loss, photon conversion) in a constant solenoid field;
- smearing digitisation: Gaussian smearing of the true local position, per volume, from a digitisation JSON
  (ACTS' ``GeometryHierarchyMap`` format). The built-in one for the Generic detector uses the published
  pitches of ACTS' example configuration (pixels 50 x 50 µm in volumes 7/8/9, short strips 80 µm x 1.2 mm in
  12/13/14, long strips 120 µm x 10.8 mm in 16/17/18; sigma = pitch / √12).

Seeds: ACTS derives every event's random stream from ``(seed, event number)``, so an event does not depend on
how many events a run makes or where it starts. Each finished event's files are moved from a scratch
directory into ``outdir`` together, so an interrupted run leaves only complete events.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..atomic import fsync_path, scratch_path, temporary_owner
from ..errors import ConfigError
from ..extras import require

__all__ = [
    "ACTS_DETECTORS",
    "ActsSimulationConfig",
    "ActsSimulationResult",
    "generic_smearing_config",
    "simulate_acts",
    "telescope_smearing_config",
]

ActsDetector = Literal["generic", "telescope"]
ACTS_DETECTORS: tuple[str, ...] = ("generic", "telescope")

# Generic detector pitches (mm) per volume, (loc0, loc1): ACTS Examples/Configs/generic-digi-smearing-config.json
GENERIC_PITCHES: dict[int, tuple[float, float]] = {
    **dict.fromkeys((7, 8, 9), (0.05, 0.05)),  # pixels
    **dict.fromkeys((12, 13, 14), (0.08, 1.2)),  # short strips
    **dict.fromkeys((16, 17, 18), (0.12, 10.8)),  # long strips
}
# Telescope: planes perpendicular to the beam (z) at these z (mm), square, ± TELESCOPE_HALF_SIZE mm
TELESCOPE_POSITIONS: tuple[float, ...] = (50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0)
TELESCOPE_HALF_SIZE = 200.0
TELESCOPE_RESOLUTION = (0.025, 0.1)  # ACTS Examples/Configs/telescope-digi-smearing-config.json
TELESCOPE_VOLUME = 1
# files ACTS writes per event; an event is moved into the output once all of them exist
EVENT_STEMS: tuple[str, ...] = ("particles_simulated", "hits", "measurements", "measurement-simhit-map", "cells")


@dataclass
class ActsSimulationConfig:
    """Args:
    detector: ``generic`` (ACTS' Generic detector: pixels, short and long strips, barrel and endcaps, |η| ≲ 2.7)
        or ``telescope`` (nine planes across the beam line from z = 50 to 450 mm).
    mu: mean number of vertices per event (Poisson); unused with ``hepmc3``.
    particles_per_vertex: charged pions per vertex (random charge).
    pt_range: (min, max) transverse momentum, GeV, log-uniform.
    eta_range: (min, max) pseudorapidity, uniform; default (-2.5, 2.5) for generic, (2.0, 4.0) for telescope.
    vertex_sigma_z: Gaussian vertex spread along the beam, mm (the telescope uses a tenth of it).
    bfield: solenoid field along z, tesla.
    digi_config: the user's digitisation JSON (ACTS format); default the built-in smearing for the detector.
    hepmc3: read the particles of each event from this HepMC3 file instead of the vertex source.
    interactions: Fatras material effects (multiple scattering, energy loss, conversions).
    p_min: Fatras drops particles below this momentum, GeV (ACTS' default 0.5 GeV would drop most pileup).
    """

    detector: ActsDetector = "generic"
    mu: float = 200.0
    particles_per_vertex: int = 20
    pt_range: tuple[float, float] = (0.1, 10.0)
    eta_range: tuple[float, float] | None = None
    vertex_sigma_z: float = 55.0
    bfield: float = 2.0
    digi_config: str | None = None
    hepmc3: str | None = None
    interactions: bool = True
    p_min: float = 0.05

    def __post_init__(self) -> None:
        if self.detector not in ACTS_DETECTORS:
            raise ConfigError(f"detector: {self.detector!r} is not one of {', '.join(ACTS_DETECTORS)}")
        lo, hi = self.pt_range
        if not 0 < lo <= hi:
            raise ConfigError(f"pt_range: need 0 < min <= max, got {self.pt_range}")
        if self.eta_range is not None and not self.eta_range[0] <= self.eta_range[1]:
            raise ConfigError(f"eta_range: need min <= max, got {self.eta_range}")
        if self.mu < 0 or self.particles_per_vertex < 1:
            raise ConfigError("mu must be >= 0 and particles_per_vertex >= 1")
        if not math.isfinite(self.bfield) or self.vertex_sigma_z < 0:
            raise ConfigError("bfield must be finite and vertex_sigma_z >= 0")
        for key in ("digi_config", "hepmc3"):
            path = getattr(self, key)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{key}: file not found: {path}")

    @property
    def etas(self) -> tuple[float, float]:
        if self.eta_range is not None:
            return self.eta_range
        return (2.0, 4.0) if self.detector == "telescope" else (-2.5, 2.5)


@dataclass
class ActsSimulationResult:
    events: int  # fewer than asked when a HepMC3 file holds fewer
    measurements: int
    seconds: float  # the ACTS sequencer's run (geometry building excluded)


def _smearing_entry(volume: int, sigma0: float, sigma1: float) -> dict[str, Any]:
    return {
        "volume": volume,
        "value": {
            "smearing": [
                {"index": i, "mean": 0.0, "stddev": s, "type": "Gauss"} for i, s in enumerate((sigma0, sigma1))
            ]
        },
    }


def _hierarchy_map(entries: list[dict[str, Any]]) -> dict[str, Any]:
    header = {"format-version": 0, "value-identifier": "digitization-configuration"}
    return {"acts-geometry-hierarchy-map": header, "entries": entries}


def generic_smearing_config() -> dict[str, Any]:
    """ACTS' Generic detector smearing digitisation (sigma = pitch / √12 per volume), as ACTS' JSON."""
    root12 = math.sqrt(12.0)
    return _hierarchy_map(
        [_smearing_entry(v, p0 / root12, p1 / root12) for v, (p0, p1) in sorted(GENERIC_PITCHES.items())]
    )


def telescope_smearing_config() -> dict[str, Any]:
    """ACTS' Telescope detector smearing digitisation, as ACTS' JSON."""
    return _hierarchy_map([_smearing_entry(TELESCOPE_VOLUME, *TELESCOPE_RESOLUTION)])


def _tracking_geometry(acts_examples: Any, detector: str, level: Any) -> tuple[Any, Any]:
    """(detector, tracking geometry); the detector object must outlive the geometry's use."""
    if detector == "generic":
        generic = acts_examples.GenericDetector.Config()
        generic.logLevel = generic.layerLogLevel = generic.surfaceLogLevel = generic.volumeLogLevel = level
        built = acts_examples.GenericDetector(generic)
    else:
        cfg = acts_examples.TelescopeDetector.Config()
        cfg.logLevel = level
        cfg.positions = list(TELESCOPE_POSITIONS)
        cfg.stereos = [0.0] * len(TELESCOPE_POSITIONS)
        cfg.bounds = [TELESCOPE_HALF_SIZE, TELESCOPE_HALF_SIZE]
        cfg.rotDirection = 2  # planes stacked along z
        built = acts_examples.TelescopeDetector(cfg)
    return built, built.trackingGeometry()


def _remove_stale_scratch(outdir: Path) -> None:
    """Scratch directories of killed runs (their owner is gone): what :mod:`tracking.atomic` does for files."""
    if not outdir.is_dir():
        return
    for child in outdir.iterdir():
        pid = temporary_owner(child.name)
        if pid is None or not child.is_dir() or pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(child, ignore_errors=True)
        except PermissionError:
            continue


def simulate_acts(
    n_events: int,
    outdir: str | os.PathLike,
    *,
    seed: int = 0,
    first_event: int = 0,
    config: ActsSimulationConfig | None = None,
    on_event: Callable[[int, int], None] | None = None,
    threads: int = 1,
) -> ActsSimulationResult:
    """Simulate events ``first_event .. first_event + n_events - 1`` with ACTS into ``outdir`` (ACTS CSV).

    ``on_event(event number, measurements)`` is called as each event's files land in ``outdir`` (progress).
    Raises :class:`tracking.extras.MissingExtraError` without ``pyacts``.
    """
    import time

    config = config if config is not None else ActsSimulationConfig()
    acts = require("acts")
    acts_examples = require("acts.examples")
    require("acts.examples.hepmc3")
    from acts.examples.simulation import addDigitization, addFatras

    u = acts.UnitConstants
    quiet = acts.logging.WARNING
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(outdir)
    scratch = scratch_path(outdir / "acts", "dir")
    scratch.mkdir()
    try:
        digi_path = Path(config.digi_config) if config.digi_config else scratch / "digi-smearing.json"
        if not config.digi_config:
            digi = generic_smearing_config() if config.detector == "generic" else telescope_smearing_config()
            digi_path.write_text(json.dumps(digi, indent=1))
        _detector, geometry = _tracking_geometry(acts_examples, config.detector, quiet)
        field = acts.ConstantBField(acts.Vector3(0.0, 0.0, config.bfield * u.T))
        rnd = acts_examples.RandomNumbers(seed=int(seed))
        sequencer = acts_examples.Sequencer(
            events=n_events,
            skip=first_event,
            numThreads=threads,
            outputDir=str(scratch),
            trackFpes=False,
            logLevel=quiet,
        )
        _add_source(sequencer, config, acts, acts_examples, rnd, quiet)
        addFatras(
            sequencer,
            geometry,
            field,
            rnd=rnd,
            enableInteractions=config.interactions,
            pMin=config.p_min * u.GeV,
            inputParticles="particles_generated",
            outputDirCsv=scratch,
            logLevel=quiet,
        )
        addDigitization(sequencer, geometry, field, digiConfigFile=digi_path, outputDirCsv=scratch, rnd=rnd,
                        logLevel=quiet)  # fmt: skip
        measurements = delivered = 0

        def deliver(event: int) -> None:
            nonlocal measurements, delivered
            count = _move_event(scratch, outdir, event)
            measurements += count
            delivered += 1
            if on_event is not None:
                on_event(event, count)

        # an algorithm added last runs after the CSV writers of its event (one ordered sequence in ACTS)
        sequencer.addAlgorithm(_event_mover(acts_examples, deliver, quiet))
        sequencer.addWriter(
            acts_examples.CsvTrackingGeometryWriter(
                level=quiet,
                trackingGeometry=geometry,
                outputDir=str(scratch),
                writePerEvent=False,
                writeSensitive=True,
                writeBoundary=False,
                writeLayerVolume=False,
                writeSurfaceGrid=False,
            )
        )
        start = time.perf_counter()
        sequencer.run()
        seconds = time.perf_counter() - start
        # the modules (ACTS' CsvTrackingGeometryWriter), for readers of local coordinates
        geometry_file = scratch / "detectors.csv"
        if geometry_file.is_file():
            fsync_path(geometry_file)
            os.replace(geometry_file, outdir / "detectors.csv")
        fsync_path(outdir, directory=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ActsSimulationResult(delivered, measurements, seconds)


def _add_source(sequencer: Any, config: ActsSimulationConfig, acts: Any, acts_examples: Any, rnd: Any,
                level: Any) -> None:  # fmt: skip
    """Generated particles as ``particles_generated``: the pileup-like gun or the user's HepMC3 file."""
    hepmc3 = require("acts.examples.hepmc3")
    u = acts.UnitConstants
    if config.hepmc3 is not None:
        reader = hepmc3.HepMC3Reader(
            level=level,
            inputPath=Path(config.hepmc3),
            outputEvent="hepmc3_event",
            randomNumbers=rnd,
        )
        event_name = "hepmc3_event"
    else:
        sigma_z = config.vertex_sigma_z * (0.1 if config.detector == "telescope" else 1.0)
        pion = acts.PdgParticle.ePionPlus
        reader = acts_examples.EventGenerator(
            level=level,
            generators=[
                acts_examples.EventGenerator.Generator(
                    multiplicity=acts_examples.PoissonMultiplicityGenerator(mean=config.mu),
                    vertex=acts_examples.GaussianVertexGenerator(
                        mean=acts.Vector4(0, 0, 0, 0),
                        stddev=acts.Vector4(0.0125 * u.mm, 0.0125 * u.mm, sigma_z * u.mm, 0),
                    ),
                    particles=acts_examples.ParametricParticleGenerator(
                        p=(config.pt_range[0] * u.GeV, config.pt_range[1] * u.GeV),
                        pTransverse=True,
                        pLogUniform=True,
                        eta=config.etas,
                        etaUniform=True,
                        numParticles=config.particles_per_vertex,
                        pdg=pion,
                        randomizeCharge=True,
                    ),
                )
            ],
            randomNumbers=rnd,
            outputEvent="generated_event",
        )
        event_name = "generated_event"
    sequencer.addReader(reader)
    sequencer.addAlgorithm(
        hepmc3.HepMC3InputConverter(
            level=level,
            inputEvent=event_name,
            outputParticles="particles_generated",
            outputVertices="vertices_generated",
            mergePrimaries=False,
        )
    )
    sequencer.addWhiteboardAlias("particles", "particles_generated")


def _event_files(directory: Path, event: int) -> dict[str, Path]:
    return {stem: directory / f"event{event:09d}-{stem}.csv" for stem in EVENT_STEMS}


def _move_event(scratch: Path, outdir: Path, event: int) -> int:
    """Move one event's files into ``outdir`` (each synced, then renamed); its number of measurements."""
    sources = _event_files(scratch, event)
    missing = [p.name for p in sources.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"ACTS did not write {', '.join(missing)} for event {event}")
    with sources["measurements"].open("rb") as f:
        count = sum(1 for _ in f) - 1
    targets = _event_files(outdir, event)
    for stem, source in sources.items():
        fsync_path(source)
        os.replace(source, targets[stem])
    return count


def _event_mover(acts_examples: Any, deliver: Callable[[int], None], level: Any) -> Any:
    """An ACTS algorithm that hands each event number on once ACTS' CSV writers have written the event."""

    class EventMover(acts_examples.IAlgorithm):
        def __init__(self) -> None:
            acts_examples.IAlgorithm.__init__(self, "TrackpipeEventMover", level)

        def execute(self, context: Any) -> Any:
            deliver(int(context.eventNumber))
            return acts_examples.ProcessCode.SUCCESS

    return EventMover()
