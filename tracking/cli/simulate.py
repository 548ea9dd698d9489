"""``trackpipe simulate``: events with truth, from the built-in engine (ACTS ROOT or TrackML CSV) or from ACTS
itself (Fatras + digitisation on ACTS' Generic or Telescope detector, written by ACTS' CSV writers)."""

from __future__ import annotations

import time
from pathlib import Path

import click

COMPILING = "simulating: compiling (first event only)"
SIMULATING = "simulating"
BUILDING_GEOMETRY = "simulating: building the ACTS geometry"
BUILTIN_DETECTORS = ("tiled", "trackml")
ACTS_DETECTORS = ("generic", "telescope")
# options that only the ACTS engine takes (CLI parameter names)
ACTS_ONLY = ("particles_per_vertex", "pt_range", "eta_range", "vertex_sigma_z", "bfield", "digi_config", "hepmc3",
             "interactions")  # fmt: skip


@click.command()
@click.option(
    "-n", "--events", "n_events", type=click.IntRange(min=1), default=1, show_default=True, help="Number of events."
)
@click.option(
    "--mu",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    help="Mean number of pileup vertices per event.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed; event i is seeded from (seed, first event + i).",
)
@click.option(
    "--first-event", type=click.IntRange(min=0), default=0, show_default=True, help="Event number of the first event."
)
@click.option(
    "-o",
    "--output",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["root", "csv"]),
    default=None,
    help="builtin engine: root (default; measurements.root, hits.root, particles.root as ACTS writes them) or csv "
    "(TrackML CSV). ACTS engine: csv only, ACTS' own CSV (event#########-measurements.csv, hits, "
    "measurement-simhit-map, particles_simulated, cells).",
)
@click.option("--gzip", is_flag=True, help="With the builtin engine and --format csv: write .csv.gz files.")
@click.option(
    "--engine",
    type=click.Choice(["builtin", "acts"]),
    default="builtin",
    show_default=True,
    help="builtin: trackpipe's own fast simulation (the `sim` extra); acts: ACTS Fatras + smearing digitisation "
    '(the `acts` extra, pip install "trackpipe[acts]").',
)
@click.option(
    "--detector",
    type=click.Choice([*BUILTIN_DETECTORS, *ACTS_DETECTORS]),
    default=None,
    help="builtin engine: trackml (default; the real TrackML modules, ids and overlaps, TrackML-like noise and "
    "vertex spread: what the shipped pipeline is fitted on) or tiled (the layers tiled with trackpipe's own modules, "
    "what pipelines of trackpipe <= 0.1 were fitted on). "
    "ACTS engine: generic (default; ACTS' Generic detector, pixels + short and long strips, |eta| < 2.7) or "
    "telescope (nine planes across the beam line, z = 50..450 mm).",
)
@click.option(
    "-k",
    "--particles-per-vertex",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="ACTS engine: charged pions per vertex.",
)
@click.option(
    "--pt-range",
    type=(click.FloatRange(min=0, min_open=True), click.FloatRange(min=0, min_open=True)),
    default=(0.1, 10.0),
    show_default=True,
    help="ACTS engine: pT range of the pions, GeV (log-uniform).",
)
@click.option(
    "--eta-range",
    type=(float, float),
    default=None,
    help="ACTS engine: eta range (uniform); default -2.5 2.5 (generic), 2 4 (telescope).",
)
@click.option(
    "--vertex-sigma-z",
    type=click.FloatRange(min=0),
    default=55.0,
    show_default=True,
    help="ACTS engine: Gaussian vertex spread along the beam, mm (a tenth of it for the telescope).",
)
@click.option(
    "--bfield", type=float, default=2.0, show_default=True, help="ACTS engine: solenoid field along z, tesla."
)
@click.option(
    "--digi-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="ACTS engine: digitisation JSON (ACTS format); default smearing by pitch / sqrt(12) from ACTS' "
    "example configuration of the detector.",
)
@click.option(
    "--hepmc3",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="ACTS engine: take each event's particles from this HepMC3 file instead of the pileup-like source "
    "(--mu vertices x -k pions).",
)
@click.option(
    "--interactions/--no-interactions",
    default=True,
    show_default=True,
    help="ACTS engine: Fatras material effects (multiple scattering, energy loss, conversions).",
)
@click.option(
    "--secondaries",
    type=click.FloatRange(min=0),
    default=None,
    help="builtin engine: displaced particles (decays, interactions in the material) per primary above "
    "0.5 GeV; default 0.095 for trackml (8.5 % of the pT > 1 GeV particles displaced, as in TrackML), 0 for "
    "tiled.",
)
@click.option(
    "--hadronic",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=None,
    help="builtin engine, trackml detector: probability that a particle interacts and stops in a layer it "
    "crosses (at normal incidence; more at grazing angles). 0.01 gives real TrackML's share of pT > 1 GeV "
    "particles with <= 6 hits; default 0 (off).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.pass_context
def simulate(ctx: click.Context, n_events: int, mu: float, seed: int, first_event: int, outdir: Path,
             fmt: str | None, gzip: bool, engine: str, detector: str | None, particles_per_vertex: int,
             pt_range: tuple[float, float], eta_range: tuple[float, float] | None, vertex_sigma_z: float,
             bfield: float, digi_config: Path | None, hepmc3: Path | None, interactions: bool,
             secondaries: float | None, hadronic: float | None, progress: bool) -> None:  # fmt: skip
    """Generate events with truth: the builtin engine (TrackML-like; ACTS ROOT or TrackML CSV) or ACTS itself
    (--engine acts: Fatras + digitisation on ACTS' Generic or Telescope detector, ACTS CSV)."""
    from tqdm import tqdm

    if engine == "acts":
        if detector in BUILTIN_DETECTORS:
            raise click.UsageError(f"--detector {detector} is a builtin-engine detector; --engine acts takes "
                                   f"{' or '.join(ACTS_DETECTORS)}")  # fmt: skip
        if fmt == "root":
            raise click.UsageError("--engine acts writes ACTS CSV (--format csv): pyacts has no ROOT writers")
        if gzip:
            raise click.UsageError("--gzip applies to the builtin engine only (ACTS writes plain .csv)")
        if secondaries is not None or hadronic is not None:
            raise click.UsageError("--secondaries and --hadronic apply to the builtin engine (Fatras makes its own)")
        _simulate_acts(n_events, mu, seed, first_event, outdir, detector or "generic", particles_per_vertex,
                       pt_range, eta_range, vertex_sigma_z, bfield, digi_config, hepmc3, interactions,
                       progress)  # fmt: skip
        return
    if detector in ACTS_DETECTORS:
        raise click.UsageError(f"--detector {detector} needs --engine acts")
    given = [
        f"--{name.replace('_', '-')}"
        for name in ACTS_ONLY
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)}: only with --engine acts")

    from ..io.acts_write import write_acts
    from ..io.trackml_write import write_trackml_csv
    from ..simulation import SimulationConfig, simulate_events

    fmt = fmt or "root"
    if gzip and fmt != "csv":
        raise click.UsageError("--gzip only applies to --format csv")
    start = time.perf_counter()
    try:
        config = SimulationConfig.for_detector(
            detector or "trackml", secondary_fraction=secondaries, interaction_probability=hadronic
        )
        config.validate()
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    events = simulate_events(n_events, mu=mu, seed=seed, first_event=first_event, config=config)
    n_hits = 0

    # the first event waits for numba to compile the propagation (seconds, or less from its cache):
    # the bar says so rather than look stuck
    bar = tqdm(total=n_events, unit="event", desc=COMPILING, disable=not progress)

    def counted(stream):
        nonlocal n_hits
        try:
            for event in stream:
                n_hits += event.num_hits
                if bar.n == 0:
                    bar.set_description(SIMULATING)
                yield event
                bar.update(1)  # the writer has taken it and asks for the next: this one is done
        finally:
            bar.close()

    if fmt == "root":
        written = write_acts(counted(events), outdir)
    else:
        written = write_trackml_csv(counted(events), outdir, gzip=gzip)
    elapsed = time.perf_counter() - start
    click.echo(
        f"wrote {written} event(s), {n_hits} measurements ({n_hits / max(written, 1):.0f} per event) "
        f"to {outdir} as {fmt} in {elapsed:.1f} s"
    )


def _simulate_acts(n_events: int, mu: float, seed: int, first_event: int, outdir: Path, detector: str,
                   particles_per_vertex: int, pt_range: tuple[float, float], eta_range: tuple[float, float] | None,
                   vertex_sigma_z: float, bfield: float, digi_config: Path | None, hepmc3: Path | None,
                   interactions: bool, progress: bool) -> None:  # fmt: skip
    from tqdm import tqdm

    from ..errors import ConfigError
    from ..simulation.acts_engine import ActsSimulationConfig, simulate_acts

    start = time.perf_counter()
    try:
        config = ActsSimulationConfig(
            detector=detector,  # type: ignore[arg-type]
            mu=mu,
            particles_per_vertex=particles_per_vertex,
            pt_range=pt_range,
            eta_range=eta_range,
            vertex_sigma_z=vertex_sigma_z,
            bfield=bfield,
            digi_config=None if digi_config is None else str(digi_config),
            hepmc3=None if hepmc3 is None else str(hepmc3),
            interactions=interactions,
        )
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    bar = tqdm(total=n_events, unit="event", desc=BUILDING_GEOMETRY, disable=not progress)

    def on_event(event: int, measurements: int) -> None:
        if bar.n == 0:
            bar.set_description(SIMULATING)
        bar.update(1)

    try:
        result = simulate_acts(n_events, outdir, seed=seed, first_event=first_event, config=config, on_event=on_event)
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    click.echo(
        f"wrote {result.events} event(s), {result.measurements} measurements "
        f"({result.measurements / max(result.events, 1):.0f} per event) to {outdir} as ACTS CSV "
        f"(ACTS {detector} detector, Fatras) in {elapsed:.1f} s"
    )
    if result.events < n_events:
        click.echo(f"note: {n_events} event(s) asked for, but {hepmc3} holds only {result.events} from event "
                   f"{first_event} on", err=True)  # fmt: skip
