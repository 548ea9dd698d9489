"""``trackpipe evaluate``: score a tracks file against truth."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("tracks", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--truth",
    "truth_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory with the truth: ACTS ROOT files (measurements.root, particles.root) or TrackML CSV.",
)
@click.option(
    "--pt-min",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Reconstructable particles have pT above this (GeV); 0 = no pT cut.",
)
@click.option(
    "--min-hits",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Reconstructable particles have at least this many hits.",
)
@click.option(
    "--min-track-hits",
    type=click.IntRange(min=1),
    default=None,
    help="Shorter tracks are ignored [default: 3 acts, 1 lhcb].",
)
@click.option("--single-majority", is_flag=True, help="Match on track purity alone (default: double majority).")
@click.option(
    "--matching",
    type=click.Choice(["acts", "lhcb"]),
    default="acts",
    show_default=True,
    help="acts: double majority, fake and duplicate rates; lhcb: >= 70% of a track's hits from one particle, "
    "ghost and clone rates, efficiency per particle category (velo, long, long p > 5 GeV, ...).",
)
@click.option(
    "--truth-reader",
    default=None,
    help="Registered reader of the truth (e.g. a plugin's); default: acts_root or trackml_csv by what --truth holds.",
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the full result as JSON."
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write efficiency_vs_pt.png and efficiency_vs_eta.png into this directory.",
)
def evaluate(
    tracks: Path,
    truth_dir: Path,
    pt_min: float,
    min_hits: int,
    min_track_hits: int,
    single_majority: bool,
    matching: str,
    truth_reader: str | None,
    json_out: Path | None,
    plots_dir: Path | None,
) -> None:
    """Score TRACKS (tracks.root or .parquet) against truth: efficiency, fake and duplicate rates, TrackML score.

    With --matching acts (default): a particle is reconstructable with pT > --pt-min, >= --min-hits
    hits, not noise. A track matches its majority particle when that particle holds > 50% of the
    track's hits and (double majority) the track holds > 50% of the particle's hits. Fake rate and
    duplicate rate are over all counted tracks (as ACTS). With --matching lhcb: a track matches a
    particle when >= 70% of its hits come from it, else it is a ghost; efficiency and clones per
    category of the particle table (--pt-min, --min-hits and --single-majority do not apply). See
    tracking.metrics.tracks and tracking.metrics.lhcb for the exact definitions.
    """
    from ..errors import TrackpipeError
    from ..metrics.evaluation import evaluate_files, format_summary, write_json
    from ..metrics.lhcb import LhcbMatchConfig
    from ..metrics.plots import plot_track_metrics
    from ..metrics.tracks import TrackMatchConfig

    if min_hits < 1 or (min_track_hits is not None and min_track_hits < 1):
        raise click.BadParameter("must be at least 1", param_hint="--min-hits / --min-track-hits")
    config: TrackMatchConfig | LhcbMatchConfig
    if matching == "lhcb":
        if plots_dir is not None:
            raise click.BadParameter("plots are made for --matching acts only", param_hint="--plots")
        config = LhcbMatchConfig(min_track_hits=1 if min_track_hits is None else min_track_hits)
    else:
        config = TrackMatchConfig(
            pt_min=pt_min if pt_min > 0 else None,
            min_particle_hits=min_hits,
            min_track_hits=3 if min_track_hits is None else min_track_hits,
            double_majority=not single_majority,
        )
    try:
        result = evaluate_files(tracks, truth_dir, config, matching=matching, reader=truth_reader)
    except TrackpipeError as err:  # bad data, an unknown --truth-reader, a plugin that failed to import
        raise click.ClickException(str(err)) from err
    click.echo(format_summary(result))
    skipped = result["truth_events_without_tracks"]
    if skipped:
        click.echo(f"note: {len(skipped)} truth event(s) have no tracks and were not scored", err=True)
    if json_out is not None:
        write_json(result, json_out)
        click.echo(f"wrote {json_out}")
    if plots_dir is not None:
        for path in plot_track_metrics(result, plots_dir):
            click.echo(f"wrote {path}")
