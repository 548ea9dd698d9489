from __future__ import annotations

import os

import click


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue from OUTPUT/checkpoint.pt when it exists, or start over.",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local DDP processes (gloo on CPU, NCCL on CUDA). Under torchrun leave it at 1.",
)
@click.option("--device", default=None, help="auto | cpu | cuda[:N] (overrides the config's device).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override schedule.epochs.")
@click.option("--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
def train(config_path, resume, nproc, device, epochs, quiet) -> None:
    """Train an edge classifier (any registered model plugin) from the YAML CONFIG (see
    tracking/training/config.py for its keys).

    Writes OUTPUT/checkpoint.pt every epoch, OUTPUT/metrics.jsonl, and OUTPUT/model.pt at the end,
    usable as the checkpoint of the interaction_gnn / edge_filter edge classifiers.
    """
    from ..errors import TrackpipeError
    from ..training import launch_local, load_config
    from ..training import train as run_training

    if nproc > 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise click.ClickException(
                "--nproc is for local launches; under torchrun pass --nproc-per-node to torchrun"
            )
        args = [config_path, "--resume" if resume else "--no-resume"]
        args += ["--device", device] if device else []
        args += ["--epochs", str(epochs)] if epochs else []
        args += ["--quiet"] if quiet else []
        try:
            load_config(config_path)  # fail fast, once, on a bad config
        except TrackpipeError as err:
            raise click.ClickException(str(err)) from err
        status = launch_local("tracking.training", args, nproc)
        if status != 0:
            raise click.ClickException(f"training failed (a rank exited with status {status})")
        return
    try:
        config = load_config(config_path, {"device": device, "epochs": epochs})
        result = run_training(config, resume=resume, progress=not quiet)
    except (TrackpipeError, OSError) as err:
        raise click.ClickException(str(err)) from err
    if int(os.environ.get("RANK", "0")) == 0 and not quiet:
        last = result.history[-1] if result.history else {}
        if result.resumed_from:
            click.echo(f"resumed after epoch {result.resumed_from}")
        summary = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        click.echo(
            f"trained {len(result.epochs_run)} epoch(s) -> {result.output / 'model.pt'}"
            + (f" ({summary})" if summary else "")
        )


train_command = train
