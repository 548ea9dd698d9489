"""``trackpipe simulate``: TrackML-like events with truth, as ACTS ROOT files or TrackML CSV."""

from __future__ import annotations

import time
from pathlib import Path

import click

COMPILING = "simulating: compiling (first event only)"
SIMULATING = "simulating"


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
    default="root",
    show_default=True,
    help="root: measurements.root, hits.root, particles.root (ACTS); csv: TrackML CSV.",
)
@click.option("--gzip", is_flag=True, help="With --format csv: write .csv.gz files.")
@click.option(
    "--detector",
    type=click.Choice(["tiled", "trackml"]),
    default="trackml",
    show_default=True,
    help="trackml: the real TrackML modules, ids and overlaps, with TrackML-like noise and vertex spread "
    "(what the shipped pipeline is fitted on); tiled: the layers tiled with trackpipe's own modules "
    "(what pipelines of trackpipe <= 0.1 were fitted on).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def simulate(n_events: int, mu: float, seed: int, first_event: int, outdir: Path, fmt: str, gzip: bool,
             detector: str, progress: bool) -> None:  # fmt: skip
    """Generate TrackML-like events with truth (ACTS ROOT or TrackML CSV)."""
    from tqdm import tqdm

    from ..io.acts_write import write_acts
    from ..io.trackml_write import write_trackml_csv
    from ..simulation import SimulationConfig, simulate_events

    if gzip and fmt != "csv":
        raise click.UsageError("--gzip only applies to --format csv")
    start = time.perf_counter()
    config = SimulationConfig.for_detector(detector)
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
