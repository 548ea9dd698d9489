from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config_path", metavar="TUNE.yaml", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trials", type=click.IntRange(min=1), default=None, help="Override budget.trials (all workers together)."
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Processes on this machine sharing the study."
)
@click.option("--storage", default=None, help="Journal file (PATH) or database URL; default OUTPUT/journal.log.")
@click.option("--study", "study_name", default=None, help="Study name (overrides the config's).")
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Minutes: no trial starts after."
)
@click.option("--device", default=None, help="auto | cpu | cuda[:N] for every trial (overrides the configs).")
@click.option(
    "--backend",
    type=click.Choice(["optuna", "ray"]),
    default=None,
    help="optuna: worker processes here (default); ray: Ray Tune trials (OptunaSearch + ASHA) on a Ray cluster.",
)
@click.option(
    "--nproc", type=click.IntRange(min=1), default=None, help="DDP processes per trial (as trackpipe train --nproc)."
)
@click.option("--address", default=None, help="--backend ray: the Ray cluster to join (auto, ray://HOST:10001).")
@click.option(
    "--show",
    "show",
    metavar="STUDY",
    default=None,
    help="Print the trials of an existing study (a name in --storage / the config's storage, or a study directory).",
)
@click.option("--no-plots", is_flag=True, help="Write no plots.")
@click.option("--quiet", is_flag=True, help="No line per trial.")
def tune(
    config_path, trials, workers, storage, study_name, timeout, device, backend, nproc, address, show, no_plots, quiet
) -> None:
    """Search the hyper-parameters of a training config with Optuna (TPE, pruning from per-epoch
    validation figures, journal storage shared by several processes, resumable after a kill), or as Ray
    Tune trials on a Ray cluster (--backend ray; needs "trackpipe[serve,tune]").

    Every trial is a training run in OUTPUT/trials/trial-NNNN. At the end: OUTPUT/best.yaml (a ready
    training config), summary.json, trials.csv and plots/. See docs/tuning.md.
    """
    from ..errors import TrackpipeError
    from ..tune import format_table, load_tune_config, run_study, write_report

    try:
        if show is not None:
            click.echo(format_table(_existing_study(show, config_path, storage, study_name)))
            return
        if config_path is None:
            raise click.UsageError("give TUNE.yaml (or --show STUDY)")
        overrides = {
            "trials": trials,
            "timeout_min": timeout,
            "workers": workers,
            "storage": storage,
            "study": study_name,
            "backend": backend,
            "nproc": nproc,
        }
        config = load_tune_config(config_path, overrides)
        if device is not None:
            config.device = device
        if address is not None:
            if config.backend != "ray":
                raise click.UsageError("--address is the Ray cluster of --backend ray")
            config.ray.address = address
        study = run_study(config, quiet=quiet)
        summary = write_report(study, config.output, plots=not no_plots)
    except (TrackpipeError, OSError, ImportError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(format_table(study))
    if summary["best"] is not None:
        click.echo(f"best config: {summary['best']['config']}")
    if summary.get("plots_note"):
        click.echo(summary["plots_note"])


def _existing_study(show: str, config_path: str | None, storage: str | None, study_name: str | None):
    from ..errors import ConfigError
    from ..tune import load_tune_config, open_storage
    from ..tune.study import optuna_module

    optuna = optuna_module()
    name: str | None = show
    if storage is None and Path(show, "journal.log").is_file():  # a study directory
        storage, name = str(Path(show, "journal.log")), study_name
    elif storage is None and config_path is not None:
        storage = load_tune_config(config_path).storage_url()
    if storage is None:
        raise ConfigError(f"--show {show}: give --storage (or TUNE.yaml, or a study directory with journal.log)")
    if "://" not in storage and not Path(storage).is_file():
        raise ConfigError(f"--show {show}: no study storage at {storage}")
    backend = open_storage(storage)
    names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
    if name is None:
        if len(names) != 1:
            raise ConfigError(f"{storage} holds studies {names}: name one with --study")
        name = names[0]
    if name not in names:
        raise ConfigError(f"no study {name!r} in {storage}; it holds {', '.join(names) or 'none'}")
    return optuna.load_study(study_name=name, storage=backend)
