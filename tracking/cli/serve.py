from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--pipeline", "pipeline_path", default=None, help="Pipeline YAML (default: the shipped default).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True, help="Pipeline replicas.")
@click.option("--gpus-per-replica", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--cpus-per-replica", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Events per batched pass [default: 8 with GPUs, 1 on CPU, where batching measured slower].",
)
@click.option(
    "--batch-wait-ms", type=click.FloatRange(min=0), default=20.0, show_default=True, help="How long a batch may wait."
)
@click.option("--no-batching", is_flag=True, help="Run the events of a batch one by one.")
@click.option(
    "--max-hits", type=click.IntRange(min=1), default=1_000_000, show_default=True, help="Larger events get 413."
)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N] inside each replica.")
@click.option("--torch-threads", type=click.IntRange(min=1), default=None, help="Per replica (default: its CPUs).")
@click.option(
    "--address", default=None, help="Join this Ray cluster (auto, or ray://HEAD:10001) instead of a local one."
)
def serve(
    pipeline_path,
    host,
    port,
    replicas,
    gpus_per_replica,
    cpus_per_replica,
    max_batch_size,
    batch_wait_ms,
    no_batching,
    max_hits,
    device,
    torch_threads,
    address,
) -> None:
    """Serve a pipeline over HTTP on Ray Serve until interrupted (docs/serving.md).

    POST /v1/reconstruct takes one event's hits (.npz or JSON) and answers its track ids; GET /health and
    GET /metrics report the service. Needs the serve extra: pip install "trackpipe[serve]".
    """
    from ..config import build
    from ..errors import TrackpipeError
    from ..runner import DEFAULT_PIPELINE
    from ..serve.app import serve_forever
    from ..serve.config import ServeConfig

    values = {
        "pipeline": pipeline_path or DEFAULT_PIPELINE,
        "host": host,
        "port": port,
        "replicas": replicas,
        "gpus_per_replica": gpus_per_replica,
        "cpus_per_replica": cpus_per_replica,
        "max_batch_size": max_batch_size,
        "batch_wait_ms": batch_wait_ms,
        "max_hits": max_hits,
        "device": device,
        "torch_threads": torch_threads,
        "address": address,
    }
    try:
        # Relative paths against the working directory: Ray's workers run elsewhere.
        config = build(ServeConfig, values, where="serve", base_dir=Path.cwd())
        from ..pipeline import Pipeline

        Pipeline.from_yaml(config.pipeline, device="cpu")  # a broken pipeline fails here, before Ray starts
        serve_forever(config, batched=not no_batching, announce=lambda line: click.echo(line, err=True))
    except (TrackpipeError, ImportError, OSError) as err:
        raise click.ClickException(str(err)) from err
