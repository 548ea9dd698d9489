"""Run a pipeline over an input file or directory and write the tracks: the engine of `trackpipe run`."""

from __future__ import annotations

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


def writer_for(path: str | os.PathLike) -> str:
    return "parquet_tracks" if Path(path).suffix.lower() in (".parquet", ".pq") else "root_tracks"


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
) -> RunReport:
    """Read events from ``input_path``, run ``pipeline`` on each, write tracks to ``output_path``.

    ``on_error="skip"`` reports a failing event and goes on; ``"stop"`` stops at it. Either way the
    events finished before it are written (atomically) and the failure is in the report.
    ``shard=(rank, world)`` keeps events ``rank, rank + world, ...`` of the input order.
    """
    from tqdm.auto import tqdm

    reader = registry.create("reader", reader_for(input_path))
    writer = registry.create("writer", writer_for(output_path))
    report = RunReport()
    total = reader.count(input_path)
    if total is not None and max_events is not None:
        total = min(total, max_events)
    rank, world = shard
    start = time.perf_counter()

    def processed() -> Iterator[Event]:
        events = iter(reader(input_path))
        bar = tqdm(total=total, unit="event", desc="trackpipe run", disable=not progress, file=sys.stderr)
        index = -1
        try:
            while max_events is None or index + 1 < max_events:
                t0 = time.perf_counter()
                try:
                    event = next(events)
                except StopIteration:
                    return
                report.seconds_read += time.perf_counter() - t0
                index += 1
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
                        return
                    continue
                report.events_written += 1
                yield track_output(out)
        finally:
            bar.close()

    writer.write(processed(), output_path)
    report.stage_mean_s = pipeline.mean_timings()
    report.total_s = time.perf_counter() - start
    return report


def format_timings(report: RunReport) -> str:
    rows = list(report.stage_mean_s.items())
    n = max(report.events_written + len(report.failed), 1)
    rows.insert(0, ("read", report.seconds_read / n))
    width = max(len(k) for k, _ in rows)
    lines = [f"{'stage':<{width}}  mean per event"]
    lines += [f"{k:<{width}}  {v * 1e3:10.1f} ms" for k, v in rows]
    lines.append(f"{'total':<{width}}  {report.total_s:10.2f} s for {report.events_written} event(s)")
    return "\n".join(lines)
