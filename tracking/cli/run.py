from __future__ import annotations

import os
import sys

import click


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="Tracks file: .root, or .parquet/.pq (needs pyarrow). A directory (existing, or written with a "
    "trailing slash, e.g. out/) gets out/tracks.root. Other suffixes are refused.",
)
@click.option(
    "--pipeline", "pipeline_path", default=None, help="Pipeline YAML (default: the shipped default pipeline)."
)
@click.option(
    "--device",
    default=None,
    help="auto | cpu | cuda[:N]; overrides the pipeline's `device:` (default: the pipeline's, else auto).",
)
@click.option(
    "--on-error",
    type=click.Choice(["stop", "skip"]),
    default="stop",
    show_default=True,
    help="What to do when an event fails (reading it or in a stage): stop there, or report it and go on. "
    "Events done are kept.",
)
@click.option("-n", "--max-events", type=click.IntRange(min=1), default=None, help="Process at most this many events.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--reader",
    "reader_name",
    default=None,
    help="Reader plugin for INPUT (see `trackpipe plugins`; default: detected from INPUT).",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes sharing the events (also works under torchrun); the output keeps input order.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch threads per process (default: the physical cores not already busy, shared among the "
    "--nproc processes; OMP_NUM_THREADS when set).",
)
def run(input_path, output, pipeline_path, device, on_error, max_events, quiet, reader_name, nproc, threads) -> None:
    """Reconstruct tracks: read INPUT (ACTS ROOT dir/file or TrackML CSV), run the pipeline, write tracks.

    Exit status: 0 all events written; 1 some events failed (the others are written); 2 a usage,
    configuration or input error (nothing run); 128+N a rank of --nproc killed by signal N.
    """
    from ..distributed import env_context, launch_local_job
    from ..errors import DataError
    from ..io.detect import reader_for
    from ..runner import resolve_output

    # everything that can be checked without running is checked before any model is loaded
    if reader_name is None:
        reader_for(input_path)
    elif not os.path.exists(input_path):
        raise DataError("input not found", file=input_path)
    out = resolve_output(output)
    ctx = env_context()
    if nproc > 1:
        if ctx.distributed:
            raise click.UsageError("--nproc is for local launches; under torchrun pass --nproc-per-node to torchrun")
        args = ["run", input_path, "-o", str(out), "--on-error", on_error]
        args += ["--device", device] if device is not None else []
        args += ["--pipeline", pipeline_path] if pipeline_path else []
        args += ["-n", str(max_events)] if max_events is not None else []
        args += ["--quiet"] if quiet else []
        args += ["--reader", reader_name] if reader_name else []
        args += ["--threads", str(threads)] if threads is not None else []
        before = _stamp(out)
        result = launch_local_job("tracking", args, nproc)
        if result.killed_by is not None:
            kept = (
                f"{out} was written before it died (complete)"
                if _stamp(out) != before and out.exists()
                else f"nothing: {out} is written only when every rank finishes"
                + (" (the previous file there is untouched)" if before is not None else "")
            )
            click.echo(f"trackpipe run: {result.describe()}; kept: {kept}", err=True)
        sys.exit(result.exit_code)
    _run_here(input_path, out, pipeline_path, device, on_error, max_events, quiet, reader_name, threads)


def _stamp(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _run_here(input_path, out, pipeline_path, device, on_error, max_events, quiet, reader_name, threads) -> None:
    from ..distributed import env_context
    from ..pipeline import Pipeline
    from ..runner import DEFAULT_PIPELINE, format_timings, run_sharded, set_threads

    ctx = env_context()
    n_threads = set_threads(threads, processes=ctx.local_world)
    pipeline = Pipeline.from_yaml(pipeline_path or DEFAULT_PIPELINE, device=device)
    if ctx.distributed and pipeline.device.type == "cuda":
        import torch

        pipeline.to(f"cuda:{ctx.local_rank % max(torch.cuda.device_count(), 1)}")
    report = run_sharded(
        input_path, out, pipeline, on_error=on_error, max_events=max_events, progress=not quiet, reader=reader_name
    )
    if not ctx.is_main:
        # the job finished: rank 0 reports every rank's failures and exits 1 for them; a non-zero exit
        # here would make the launcher stop rank 0 while it still reports
        sys.exit(0)
    if ctx.distributed:
        click.echo(f"{ctx.world} processes, events interleaved by input order")
    click.echo(f"pipeline: {', '.join(pipeline.labels)} on {pipeline.device}, {n_threads} torch thread(s) per process")
    click.echo(format_timings(report))
    click.echo(f"wrote {report.events_written} event(s) to {out}")
    if report.failed:
        for event_id, error in report.failed:
            click.echo(f"event {event_id} failed: {error}", err=True)
        if report.stopped_early:
            click.echo("stopped at the failing event (--on-error stop); events before it were written", err=True)
        sys.exit(1)
