"""Run a pipeline over an input file or directory and write the tracks: the engine of `trackpipe run`."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import registry
from .event import Event
from .io.detect import reader_for
from .pipeline import Pipeline

DEFAULT_PIPELINE = "builtin:default_pipeline.yaml"
OnError = Literal["stop", "skip"]


@dataclass
class RunReport:
    events_written: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (event id, error) of skipped/stopping events
    stopped_early: bool = False
    seconds_read: float = 0.0
    stage_mean_s: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0
    input_indices: list[int] = field(default_factory=list)  # input position of each written event


def writer_for(path: str | os.PathLike) -> str:
    from .io.tracks import is_parquet

    return "parquet_tracks" if is_parquet(path) else "root_tracks"


def track_output(event: Event) -> Event:
    """The fields a tracks file needs, on the host: drops the graph so finished events cost little memory."""
    return Event(
        event_id=event.event_id,
        hit_id=event.hit_id,
        x=event.x,
        y=event.y,
        z=event.z,
        r=event.r,
        phi=event.phi,
        eta=event.eta,
        track_labels=event.track_labels,
        meta=event.meta,
    ).numpy()


def run(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    pipeline: Pipeline,
    *,
    on_error: OnError = "stop",
    max_events: int | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    stop_flag: str | os.PathLike | None = None,
) -> RunReport:
    """Read events from ``input_path``, run ``pipeline`` on each, write tracks to ``output_path``.

    ``on_error="skip"`` reports a failing event and goes on; ``"stop"`` stops at it. Either way the
    events finished before it are written (atomically) and the failure is in the report.
    ``shard=(rank, world)`` keeps events ``rank, rank + world, ...`` of the input order.
    ``stop_flag``: a file the shards of one job share; a shard that stops on an error creates it, and
    every shard stops before its next event once it exists (the events already done are kept).
    """
    from tqdm.auto import tqdm

    reader_name = reader_for(input_path)
    reader = registry.create("reader", reader_name)
    writer = registry.create("writer", writer_for(output_path))
    report = RunReport()
    rank, world = shard
    start = time.perf_counter()
    # (input position, event) pairs to read. A shard of a reader that can list its event numbers asks
    # it for its own events only (the others are not even opened); otherwise every event is read and
    # the other shards' are skipped.
    if world > 1 and hasattr(reader, "event_numbers"):
        numbers = reader.event_numbers(input_path)[:max_events]
        positions = range(rank, len(numbers), world)
        own = registry.create("reader", reader_name, {"events": [numbers[p] for p in positions]})
        total = len(positions)
        stream: Iterator[tuple[int, Event]] = zip(positions, own(input_path))
    else:
        total = reader.count(input_path)
        if total is not None and max_events is not None:
            total = min(total, max_events)
        stream = itertools.islice(enumerate(reader(input_path)), max_events)

    def processed() -> Iterator[Event]:
        bar = tqdm(total=total, unit="event", desc="trackpipe run", disable=not progress, file=sys.stderr)
        try:
            while True:
                if stop_flag is not None and os.path.exists(stop_flag):
                    report.stopped_early = True  # another shard stopped on an error
                    return
                t0 = time.perf_counter()
                try:
                    index, event = next(stream)
                except StopIteration:
                    return
                report.seconds_read += time.perf_counter() - t0
                bar.update(1)
                if index % world != rank:
                    continue
                try:
                    out = pipeline(event)
                except Exception as err:  # noqa: BLE001 - reported, then skip or stop as asked
                    report.failed.append((event.event_id, f"{type(err).__name__}: {err}"))
                    bar.write(f"event {event.event_id}: {type(err).__name__}: {err}", file=sys.stderr)
                    if on_error == "stop":
                        report.stopped_early = True
                        if stop_flag is not None:
                            Path(stop_flag).touch()
                        return
                    continue
                report.events_written += 1
                report.input_indices.append(index)
                yield track_output(out)
        finally:
            bar.close()

    writer.write(processed(), output_path)
    report.stage_mean_s = pipeline.mean_timings()
    report.total_s = time.perf_counter() - start
    return report


def _part_path(output_path: Path, rank: int, world: int) -> Path:
    # Same suffix as the output, so the same writer and reader handle it.
    return output_path.parent / f".{output_path.stem}.part{rank}of{world}.{os.getpid()}{output_path.suffix}"


def _merge_parts(parts: list[tuple[Path, list[int]]], output_path: Path) -> int:
    """Interleave the ranks' part files into ``output_path`` (atomically) by input position."""
    import heapq

    from .io.tracks import TrackRecord, TracksFile

    def indexed(path: Path, indices: list[int]) -> Iterator[tuple[int, TrackRecord]]:
        tracks = TracksFile(path)
        if len(tracks) != len(indices):
            raise RuntimeError(f"part file {path} holds {len(tracks)} events, its rank wrote {len(indices)}")
        yield from zip(indices, tracks)

    merged = heapq.merge(*(indexed(p, idx) for p, idx in parts), key=lambda item: item[0])
    writer = registry.create("writer", writer_for(output_path))
    return writer.write((record for _, record in merged), output_path)


def run_sharded(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    pipeline: Pipeline,
    *,
    on_error: OnError = "stop",
    max_events: int | None = None,
    progress: bool = True,
) -> RunReport:
    """:func:`run` as one rank of a job (torchrun's RANK / WORLD_SIZE in the environment).

    Rank ``r`` of ``w`` processes input events ``r, r + w, ...`` into a temporary part file beside
    the output; after a barrier, rank 0 merges the parts into ``output_path`` in input order
    (atomically: the output appears complete or not at all) and removes them. Every rank returns
    the job's combined report. With one process this is :func:`run`. ``on_error="stop"`` stops the
    whole job: the rank that met the failing event raises a flag file beside the output and the others
    stop before their next event; every event finished by then is kept.
    """
    import torch
    import torch.distributed as dist

    from .distributed import all_gather_object, barrier, env_context, init_process_group

    ctx = env_context()
    if not ctx.distributed:
        return run(input_path, output_path, pipeline, on_error=on_error, max_events=max_events, progress=progress)
    own_group = not dist.is_initialized()
    if own_group:
        # gloo even beside CUDA: only barriers and small objects travel between ranks here.
        init_process_group(ctx, torch.device("cpu"))
    output_path = Path(output_path)
    part = _part_path(output_path, ctx.rank, ctx.world)
    # one name for the whole job, chosen by rank 0 (its pid keeps concurrent jobs apart)
    flag = output_path.parent / f".{output_path.stem}.stop.{os.getpid()}"
    if ctx.is_main:
        flag.unlink(missing_ok=True)  # a stale one from a crashed job of the same pid
    flag = Path(all_gather_object(str(flag), ctx)[0])
    start = time.perf_counter()
    try:
        report = run(
            input_path,
            part,
            pipeline,
            on_error=on_error,
            max_events=max_events,
            shard=(ctx.rank, ctx.world),
            progress=progress and ctx.is_main,
            stop_flag=flag,
        )
        reports = all_gather_object(report, ctx)
        parts = all_gather_object((str(part), report.input_indices), ctx)
        if ctx.is_main:
            try:
                _merge_parts([(Path(p), idx) for p, idx in parts], output_path)
            finally:
                for p, _ in parts:
                    Path(p).unlink(missing_ok=True)
        barrier(ctx)
    finally:
        part.unlink(missing_ok=True)
        flag.unlink(missing_ok=True)
        if own_group:
            import gc

            gc.collect()
            dist.destroy_process_group()
    combined = RunReport(
        events_written=sum(r.events_written for r in reports),
        failed=sorted(f for r in reports for f in r.failed),
        stopped_early=any(r.stopped_early for r in reports),
        seconds_read=sum(r.seconds_read for r in reports),  # each rank reads its own events
        total_s=time.perf_counter() - start,
        input_indices=sorted(i for r in reports for i in r.input_indices),
    )
    weights: dict[str, float] = {}
    for r in reports:
        n = r.events_written + len(r.failed)
        for label, mean in r.stage_mean_s.items():
            combined.stage_mean_s[label] = combined.stage_mean_s.get(label, 0.0) + mean * n
            weights[label] = weights.get(label, 0.0) + n
    combined.stage_mean_s = {k: v / max(weights[k], 1) for k, v in combined.stage_mean_s.items()}
    return combined


def format_timings(report: RunReport) -> str:
    rows = list(report.stage_mean_s.items())
    n = max(report.events_written + len(report.failed), 1)
    rows.insert(0, ("read", report.seconds_read / n))
    width = max(len(k) for k, _ in rows)
    lines = [f"{'stage':<{width}}  mean per event"]
    lines += [f"{k:<{width}}  {v * 1e3:10.1f} ms" for k, v in rows]
    lines.append(f"{'total':<{width}}  {report.total_s:10.2f} s for {report.events_written} event(s)")
    return "\n".join(lines)
