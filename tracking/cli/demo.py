from __future__ import annotations

import time
from pathlib import Path

import click

# Seeds the shipped model never saw in training (configs/default_gnn.yaml trains on seeds below 1000).
DEMO_SEED = 424242


@click.command()
@click.option(
    "-o",
    "--output",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("trackpipe-demo"),
    show_default=True,
    help="Directory for events, tracks, metrics JSON and plots.",
)
@click.option(
    "-n", "--events", "n_events", type=click.IntRange(min=1), default=3, show_default=True, help="Events to simulate."
)
@click.option("--mu", type=click.FloatRange(min=0), default=200.0, show_default=True, help="Pileup per event.")
@click.option("--seed", type=click.IntRange(min=0), default=DEMO_SEED, show_default=True, help="Simulation seed.")
@click.option(
    "--pipeline", "pipeline_path", default=None, help="Pipeline YAML (default: the shipped default pipeline)."
)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N].")
def demo(outdir: Path, n_events: int, mu: float, seed: int, pipeline_path: str | None, device: str) -> None:
    """Simulate events, reconstruct them with the default pipeline, evaluate, plot: the whole chain in one go."""
    from tqdm import tqdm

    from ..io.acts_write import write_acts
    from ..metrics.evaluation import evaluate_files, format_summary, write_json
    from ..metrics.plots import plot_track_metrics
    from ..pipeline import Pipeline
    from ..runner import DEFAULT_PIPELINE, format_timings, run
    from ..simulation import simulate_events

    start = time.perf_counter()
    events_dir, tracks_path = outdir / "events", outdir / "tracks.root"
    click.echo(f"[1/4] simulating {n_events} event(s) at mu = {mu:g} (seed {seed}) -> {events_dir}")
    t0 = time.perf_counter()
    events = tqdm(simulate_events(n_events, mu=mu, seed=seed), total=n_events, unit="event", desc="simulate")
    write_acts(events, events_dir)
    click.echo(f"      {time.perf_counter() - t0:.1f} s")

    pipeline = Pipeline.from_yaml(pipeline_path or DEFAULT_PIPELINE, device=device)
    click.echo(f"[2/4] reconstructing with {', '.join(pipeline.labels)} on {pipeline.device} -> {tracks_path}")
    report = run(events_dir, tracks_path, pipeline)
    if report.failed:
        raise click.ClickException(f"event {report.failed[0][0]} failed: {report.failed[0][1]}")

    click.echo("[3/4] evaluating (pT > 1 GeV, >= 3 hits, double majority)")
    result = evaluate_files(tracks_path, events_dir)
    result["timing_mean_s"] = {"read": report.seconds_read / max(report.events_written, 1), **report.stage_mean_s}
    write_json(result, outdir / "metrics.json")

    click.echo(f"[4/4] plots -> {outdir / 'plots'}")
    plots = plot_track_metrics(result, outdir / "plots")

    click.echo("\n" + format_summary(result))
    click.echo("\n" + format_timings(report))
    click.echo(f"\nmetrics: {outdir / 'metrics.json'}; plots: {', '.join(str(p) for p in plots)}")
    click.echo(f"demo finished in {time.perf_counter() - start:.1f} s")
