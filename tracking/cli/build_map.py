from __future__ import annotations

from pathlib import Path

import click


def _guess_reader(directory: Path) -> str:
    if any(directory.glob("*.root")):
        return "acts_root"
    if any(directory.glob("event*-hits.csv*")):
        return "trackml_csv"
    raise click.UsageError(f"{directory}: no ROOT files or TrackML CSV files found; pass --reader")


@click.command("build-map")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Map file to write (.npz)."
)
@click.option(
    "--granularity",
    type=click.Choice(["module", "layer"]),
    default="module",
    show_default=True,
    help="Connect modules (module map) or layers (layer-pair map).",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="Widen each window by this fraction of its width.",
)
@click.option(
    "--pt-min",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Learn only from particles with pT >= this (GeV).",
)
@click.option(
    "--neighbours",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Module maps: also connect each target module's N nearest modules of its layer.",
)
@click.option(
    "--windows",
    type=click.Choice(["entry", "layer"]),
    default="entry",
    show_default=True,
    help="Cut windows per map entry, or per layer pair (module pairs then only give connectivity).",
)
@click.option(
    "--window-pt-min",
    type=click.FloatRange(min=0),
    default=None,
    help="Learn the windows only from particles with pT >= this (GeV; default: --pt-min).",
)
@click.option(
    "--window-vertex-r-max",
    type=click.FloatRange(min=0),
    default=None,
    help="--windows layer: learn the layer windows only from particles produced within this distance of the beam "
    "line (mm); displaced particles widen only the entries they crossed (default: every particle).",
)
@click.option("--events", "max_events", type=click.IntRange(min=1), default=None, help="Use at most this many events.")
@click.option("--reader", default=None, help="Reader plugin (default: acts_root or trackml_csv, by the files).")
@click.option(
    "--val",
    "val_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Events with truth the map never saw: report its segment efficiency, the share lost to module pairs no "
    "training event connected, purity and edges per event on them (same reader).",
)
@click.option(
    "--val-events", type=click.IntRange(min=1), default=4, show_default=True, help="Use this many --val events."
)
@click.option(
    "--val-pt-min",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="--val: the target segments are those of particles with pT > this (GeV).",
)
def build_map(
    directory: Path,
    output: Path,
    granularity: str,
    margin: float,
    pt_min: float,
    neighbours: int,
    windows: str,
    window_pt_min: float | None,
    window_vertex_r_max: float | None,
    max_events: int | None,
    reader: str | None,
    val_dir: Path | None,
    val_events: int,
    val_pt_min: float,
) -> None:
    """Learn a module map (or layer-pair map) from truth in training events."""
    import itertools

    from tqdm import tqdm

    from .. import registry
    from ..modulemap import MapLearner

    source = registry.create("reader", reader or _guess_reader(directory))
    total = source.count(directory) if hasattr(source, "count") else None
    if max_events is not None:
        total = max_events if total is None else min(total, max_events)
    events = itertools.islice(source(directory), max_events)
    learner = MapLearner(granularity, pt_min, window_pt_min, window_vertex_r_max=window_vertex_r_max)
    segments = skipped = 0
    for event in tqdm(events, total=total, desc=f"learning {granularity} map", unit="event"):
        if event.particle_id is None:
            skipped += 1  # e.g. a test event shipped without truth
            continue
        segments += learner.add(event)
    if skipped:
        click.echo(f"skipped {skipped} event(s) without truth (particle_id)", err=True)
    if learner.n_events == 0:
        raise click.ClickException(f"{directory}: no events with truth read")
    connection_map = learner.finish(margin, neighbours=neighbours, windows=windows)
    connection_map.save(output)
    click.echo(
        f"{output}: {connection_map.num_entries} connections between {connection_map.num_groups} "
        f"{granularity}s from {segments} truth segments in {learner.n_events} events"
    )
    if val_dir is not None:
        _report_validation(
            connection_map, registry.create("reader", reader or _guess_reader(val_dir)), val_dir, val_events, val_pt_min
        )


def _report_validation(connection_map, source, directory: Path, n_events: int, pt_min: float) -> None:
    """Print the map's figures on ``n_events`` events of ``directory`` (targets: segments of pT > ``pt_min``)."""
    import itertools

    from ..errors import DataError
    from ..modulemap import connectivity_advice, score_map
    from ..truth import segments_above_pt, truth_segments

    events, segments = [], []
    for event in itertools.islice(source(directory), n_events):
        if event.particle_id is None or event.particles is None:
            raise DataError(
                "--val events need truth (particle_id and the particle table)",
                event=event.event_id,
                file=str(directory),
            )
        events.append(event.numpy())
        segments.append(segments_above_pt(events[-1], truth_segments(events[-1]), pt_min))
    if not events:
        raise click.ClickException(f"{directory}: no --val events read")
    scores = score_map(connection_map, events, segments)
    click.echo(
        f"on {len(events)} --val event(s), segments of pT > {pt_min:g} GeV: efficiency {scores['efficiency']:.4f} "
        f"(lost to unconnected {connection_map.granularity} pairs: {scores['unconnected']:.4f}), purity "
        f"{scores['purity']:.4f}, {scores['edges_per_event']:.0f} edges/event"
    )
    advice = connectivity_advice(scores, connection_map.granularity)
    if advice:
        click.echo(advice)
