from __future__ import annotations

import sys

import click


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="tracks.root (or .parquet).")
@click.option("--pipeline", "pipeline_path", default=None, help="Pipeline YAML (default: the shipped default pipeline).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N].")
@click.option("--on-error", type=click.Choice(["stop", "skip"]), default="stop", show_default=True,
              help="What to do when an event fails: stop there, or report it and go on. Events done are kept.")
@click.option("-n", "--max-events", type=int, default=None, help="Process at most this many events.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(input_path, output, pipeline_path, device, on_error, max_events, quiet) -> None:
    """Reconstruct tracks: read INPUT (ACTS ROOT dir/file or TrackML CSV), run the pipeline, write tracks."""
    from ..errors import TrackpipeError
    from ..pipeline import Pipeline
    from ..run import DEFAULT_PIPELINE, format_timings
    from ..run import run as run_pipeline

    try:
        pipeline = Pipeline.from_yaml(pipeline_path or DEFAULT_PIPELINE, device=device)
        report = run_pipeline(input_path, output, pipeline, on_error=on_error, max_events=max_events, progress=not quiet)
    except (TrackpipeError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"pipeline: {', '.join(pipeline.labels)} on {pipeline.device}")
    click.echo(format_timings(report))
    click.echo(f"wrote {report.events_written} event(s) to {output}")
    if report.failed:
        for event_id, error in report.failed:
            click.echo(f"event {event_id} failed: {error}", err=True)
        if report.stopped_early:
            click.echo("stopped at the failing event (--on-error stop); events before it were written", err=True)
        sys.exit(1)
