from __future__ import annotations

import sys

import click


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="tracks.root (or .parquet).")
@click.option(
    "--pipeline", "pipeline_path", default=None, help="Pipeline YAML (default: the shipped default pipeline)."
)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N].")
@click.option(
    "--on-error",
    type=click.Choice(["stop", "skip"]),
    default="stop",
    show_default=True,
    help="What to do when an event fails: stop there, or report it and go on. Events done are kept.",
)
@click.option("-n", "--max-events", type=int, default=None, help="Process at most this many events.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes sharing the events (also works under torchrun); the output keeps input order.",
)
def run(input_path, output, pipeline_path, device, on_error, max_events, quiet, nproc) -> None:
    """Reconstruct tracks: read INPUT (ACTS ROOT dir/file or TrackML CSV), run the pipeline, write tracks."""
    from ..distributed import env_context, launch_local
    from ..errors import TrackpipeError
    from ..pipeline import Pipeline, resolve_device
    from ..runner import DEFAULT_PIPELINE, format_timings, run_sharded

    ctx = env_context()
    if nproc > 1:
        if ctx.distributed:
            raise click.ClickException(
                "--nproc is for local launches; under torchrun pass --nproc-per-node to torchrun"
            )
        args = ["run", input_path, "-o", output, "--device", device, "--on-error", on_error]
        args += ["--pipeline", pipeline_path] if pipeline_path else []
        args += ["-n", str(max_events)] if max_events is not None else []
        args += ["--quiet"] if quiet else []
        status = launch_local("tracking", args, nproc)
        sys.exit(status if status >= 0 else 1)
    try:
        if ctx.distributed and resolve_device(device).type == "cuda":
            import torch

            device = f"cuda:{ctx.local_rank % max(torch.cuda.device_count(), 1)}"
        pipeline = Pipeline.from_yaml(pipeline_path or DEFAULT_PIPELINE, device=device)
        report = run_sharded(input_path, output, pipeline, on_error=on_error, max_events=max_events, progress=not quiet)
    except (TrackpipeError, OSError) as err:
        raise click.ClickException(str(err)) from err
    if not ctx.is_main:
        sys.exit(1 if report.failed else 0)
    if ctx.distributed:
        click.echo(f"{ctx.world} processes, events interleaved by input order")
    click.echo(f"pipeline: {', '.join(pipeline.labels)} on {pipeline.device}")
    click.echo(format_timings(report))
    click.echo(f"wrote {report.events_written} event(s) to {output}")
    if report.failed:
        for event_id, error in report.failed:
            click.echo(f"event {event_id} failed: {error}", err=True)
        if report.stopped_early:
            click.echo("stopped at the failing event (--on-error stop); events before it were written", err=True)
        sys.exit(1)
