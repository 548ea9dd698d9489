from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--quick", is_flag=True, help="Small inputs, one repeat: a smoke run (under 2 minutes) for CI.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results and machine info to this JSON file (atomically).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Run only this module (bench_NAME.py); repeat or separate by commas for several.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG of per-stage latency vs event size (default: next to --json, same stem).",
)
@click.option("--no-plot", is_flag=True, help="Do not write the plot even when --json is given.")
@click.option("--list", "list_only", is_flag=True, help="List the benchmark modules and exit.")
@click.option(
    "--package",
    default="tracking.benchmarks",
    hidden=True,
    help="Package whose bench_* modules run (python -m benchmarks passes its own; tests a fake one).",
)
def bench(
    quick: bool,
    json_path: Path | None,
    only: tuple[str, ...],
    plot_path: Path | None,
    no_plot: bool,
    list_only: bool,
    package: str,
) -> None:
    """Run the benchmark suite: ours vs baselines on the same inputs, one table, JSON (+ plot).

    Every figure is measured in this run beside its baseline (ratio = baseline / ours, > 1 means
    trackpipe is faster). Timings are informative, never pass/fail; a module that crashes is reported,
    the others still run, and the exit status is then 1.
    """
    from ..benchmarks import suite

    if list_only:
        for name, module in suite.discover(package).items():
            click.echo(f"{name:<14} {module}")
        return
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    start = time.perf_counter()
    try:
        result = suite.run_suite(
            quick=quick, only=names or None, package=package, progress=lambda msg: click.echo(msg, err=True)
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--only") from err
    click.echo(suite.format_result(result))
    if json_path is not None:
        suite.write_json(result, json_path)
        click.echo(f"results: {json_path}")
    if plot_path is None and json_path is not None and not no_plot:
        plot_path = json_path.with_suffix(".png")
    if plot_path is not None and not no_plot:
        from ..benchmarks import plot

        written = plot.plot_stage_latency(result, plot_path)
        click.echo(f"plot: {written}" if written else "plot: no per-stage latency in these results, none written")
    click.echo(f"total {time.perf_counter() - start:.1f} s")
    failed = [m["name"] for m in result["modules"] if m["status"] == "failed"]
    if failed:
        raise click.ClickException(f"benchmark module(s) failed: {', '.join(failed)} (reasons in the table above)")
