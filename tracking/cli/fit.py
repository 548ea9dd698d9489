from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("train_path", metavar="TRAIN", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--val",
    "val_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Held-out validation events (any input trackpipe reads); every choice is made on them.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The pipeline directory to write (or the config's output).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="FIT.yaml: every setting of the fit (see tracking/fit/config.py); options here override it.",
)
@click.option(
    "--budget-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Wall time for the two trainings together [config: 60].",
)
@click.option(
    "--max-fake",
    type=click.FloatRange(0, 1),
    default=None,
    help="Cuts maximise validation efficiency at a fake rate <= this [config: 0.03].",
)
@click.option("--device", default=None, help="auto | cpu | cuda[:N] for training [config: auto].")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train each learned stage with this many local DDP processes.",
)
@click.option("--keep-work", is_flag=True, help="Keep the cached training graphs in OUTPUT/work/cache.")
@click.option("--quiet", is_flag=True, help="No progress bars (the step lines stay).")
def fit(train_path, val_path, output, config_path, budget_minutes, max_fake, device, nproc, keep_work, quiet) -> None:
    """Learn a complete pipeline from labelled events of your detector: map, edge filter, GNN, track
    builder and every cut, chosen on the validation events; writes a directory that
    `trackpipe run IN -o OUT --pipeline DIR` runs."""
    from ..errors import TrackpipeError
    from ..fit import fit as run_fit
    from ..fit import load_fit_config

    overrides = {
        "train": {"path": train_path} if train_path is not None else None,
        "val": {"path": val_path} if val_path is not None else None,
        "output": output,
        "budget_minutes": budget_minutes,
        "max_fake": max_fake,
        "device": device,
    }
    try:
        config = load_fit_config(config_path, overrides)
        result = run_fit(config, progress=not quiet, log=click.echo, keep_work=keep_work, nproc=nproc)
    except (TrackpipeError, OSError) as err:
        raise click.ClickException(str(err)) from err
    best = result.report["steps"]["tracks"]["chosen"]  # figures of the fit's matching (acts or lhcb)
    click.echo(
        f"validation: efficiency {best['efficiency']:.4f}, fake rate {best['fake_rate']:.4f}, "
        f"duplicate rate {best['duplicate_rate']:.4f} -> {result.directory}"
    )
