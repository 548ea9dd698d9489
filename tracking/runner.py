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
from .atomic import remove_stale_temporaries, scratch_path
from .errors import ConfigError, DataError
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


DEFAULT_OUTPUT_NAME = "tracks.root"


def physical_cores() -> int:
    """Physical cores this process may run on (its CPU affinity, SMT siblings counted once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list", encoding="ascii") as f:
                cores.add(f.read().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def default_threads(processes: int = 1) -> int:
    """Torch threads per process for ``processes`` processes on this machine: the physical cores (SMT
    siblings share one core's arithmetic units) that are not already busy (the one-minute load average),
    shared among the processes, at least one. ``OMP_NUM_THREADS``, when set, wins.

    Busy cores matter because torch's OpenMP threads wait for each other at every operation: on this
    2-core machine under another process's load, 2 threads ran the learned stages 5x slower than 1.
    """
    if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cores = physical_cores()
    try:
        busy = int(os.getloadavg()[0])
    except (AttributeError, OSError):
        busy = 0
    return max(1, min(cores, cores - busy) // max(processes, 1))


def set_threads(threads: int | None, processes: int = 1) -> int:
    """Set torch's intra-op threads to ``threads`` (None: :func:`default_threads`); returns the number."""
    import torch

    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    n = default_threads(processes) if threads is None else threads
    torch.set_num_threads(n)
    return n


def writer_for(path: str | os.PathLike) -> str:
    from .io.tracks import is_parquet

    return "parquet_tracks" if is_parquet(path) else "root_tracks"


def resolve_output(path: str | os.PathLike) -> Path:
    """The tracks file that ``-o PATH`` means, checked before any event is read.

    A directory (an existing one, or any path written with a trailing slash) gets
    ``DIR/tracks.root``; otherwise the suffix chooses the format: ``.root``, or ``.parquet``/``.pq``
    (which needs pyarrow: checked here, with the install command). Any other suffix is a ConfigError
    listing the ones understood, rather than a ROOT file under a misleading name.
    """
    from .extras import require
    from .io.tracks import PARQUET_SUFFIXES, ROOT_SUFFIXES, is_parquet

    text = os.fspath(path)
    out = Path(text)
    if text.endswith(("/", os.sep)) or out.is_dir():
        out = out / DEFAULT_OUTPUT_NAME
    suffixes = ROOT_SUFFIXES + PARQUET_SUFFIXES
    if out.suffix.lower() not in suffixes:
        raise ConfigError(
            f"output {text}: unknown tracks format {out.suffix or '(no suffix)'!r}; use one of "
            f"{', '.join(suffixes)} (or a directory, for DIR/{DEFAULT_OUTPUT_NAME})"
        )
    if is_parquet(out):
        require("pyarrow")
    return out


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


@dataclass
class _Item:
    """One input event as the reader delivered it: the event, or the error raised while reading it."""

    position: int  # in the input order
    number: int | None  # the event number when the reader lists them
    event: Event | None = None
    error: Exception | None = None

    @property
    def event_id(self) -> int:
        if self.event is not None:
            return self.event.event_id
        err_event = getattr(self.error, "event", None)
        if isinstance(err_event, int):
            return err_event
        return self.number if self.number is not None else self.position


def _dead(iterator: Iterator) -> bool:
    # a generator that raised is finished; an iterator object may go on to the next event
    return getattr(iterator, "gi_frame", True) is None


def _read(reader_name: str, input_path, *, rank: int, world: int, max_events: int | None):
    """(events this shard will see or None, iterator of :class:`_Item`) for input positions ``rank, rank + world, ...``.

    An exception raised while reading an event is that event's failure: it is delivered as an item
    and reading goes on with the next event. A reader whose iterator can go on after an error does;
    a generator (finished by its exception) is reopened at the next event when the reader lists its
    event numbers; otherwise the events after the error cannot be read and the iteration ends there
    with a note in the error.
    """
    reader = registry.create("reader", reader_name)
    if hasattr(reader, "event_numbers"):
        numbers = list(reader.event_numbers(input_path))[:max_events]
        wanted = [(p, numbers[p]) for p in range(rank, len(numbers), world)]

        def listed() -> Iterator[_Item]:
            def open_at(i: int) -> Iterator[Event]:
                if i == 0 and world == 1 and max_events is None:
                    return iter(reader(input_path))
                own = registry.create("reader", reader_name, {"events": [n for _, n in wanted[i:]]})
                return iter(own(input_path))

            i = 0
            stream = open_at(0) if wanted else iter(())
            while i < len(wanted):
                position, number = wanted[i]
                try:
                    event = next(stream)
                except StopIteration:
                    return
                except Exception as err:  # noqa: BLE001 - the event's failure, handled by the caller
                    i += 1
                    reopened = True
                    if _dead(stream) and i < len(wanted):
                        try:
                            stream = open_at(i)
                        except ConfigError:  # a reader that lists its events but cannot select them
                            reopened = False
                            err.add_note(
                                f"reader {reader_name} cannot go on after this error: later events were not read"
                            )
                    yield _Item(position, number, error=err)
                    if not reopened:
                        return
                    continue
                yield _Item(position, number, event=event)
                i += 1

        return len(wanted), listed()

    total = reader.count(input_path)
    if total is not None:
        if max_events is not None:
            total = min(total, max_events)
        total = len(range(rank, total, world))

    def unlisted() -> Iterator[_Item]:
        stream = iter(reader(input_path))
        position = 0
        while max_events is None or position < max_events:
            try:
                event = next(stream)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - the event's failure, handled by the caller
                if position % world == rank:
                    if _dead(stream):
                        err.add_note(f"reader {reader_name} cannot go on after this error: later events were not read")
                    yield _Item(position, None, error=err)
                if _dead(stream):
                    return
                position += 1
                continue
            if position % world == rank:
                yield _Item(position, None, event=event)
            position += 1

    return total, unlisted()


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
    reader: str | None = None,
) -> RunReport:
    """Read events from ``input_path``, run ``pipeline`` on each, write tracks to ``output_path``.

    ``on_error="skip"`` reports a failing event and goes on; ``"stop"`` stops at it. An event fails
    when reading it or any stage raises. Either way the events finished before it are written
    (atomically) and the failure is in the report.
    ``shard=(rank, world)`` keeps events ``rank, rank + world, ...`` of the input order.
    ``stop_flag``: a file the shards of one job share; a shard that stops on an error creates it, and
    every shard stops before its next event once it exists (the events already done are kept).
    ``reader``: the reader plugin's name (default: the one :func:`reader_for` detects).
    """
    from tqdm.auto import tqdm

    if max_events is not None and max_events < 0:
        raise ConfigError(f"max_events must be >= 0, got {max_events}")
    if reader is None:
        reader_name = reader_for(input_path)
    else:
        reader_name = registry.get("reader", reader).name
        if not os.path.exists(input_path):
            raise DataError("input not found", file=os.fspath(input_path))
    writer = registry.create("writer", writer_for(output_path))
    report = RunReport()
    rank, world = shard
    start = time.perf_counter()
    # A shard of a reader that can list its event numbers asks it for its own events only (the
    # others are not even opened); otherwise every event is read and the other shards' are skipped.
    total, items = _read(reader_name, input_path, rank=rank, world=world, max_events=max_events)

    def failed(event_id: int, err: Exception, stage: str) -> bool:
        """Record a failure; True when the run must stop."""
        message = f"{stage}{type(err).__name__}: {err}"
        notes = [n for n in getattr(err, "__notes__", []) if "cannot go on" in n]
        message += "".join(f" ({n})" for n in notes)
        report.failed.append((event_id, message))
        bar.write(f"event {event_id}: {message}", file=sys.stderr)
        if on_error == "stop":
            report.stopped_early = True
            if stop_flag is not None:
                Path(stop_flag).touch()
            return True
        return False

    # counts finished events (written or failed), not events read
    bar = tqdm(total=total, unit="event", desc="trackpipe run", disable=not progress, file=sys.stderr)

    def processed() -> Iterator[Event]:
        try:
            while True:
                if stop_flag is not None and os.path.exists(stop_flag):
                    report.stopped_early = True  # another shard stopped on an error
                    return
                t0 = time.perf_counter()
                item = next(items, None)
                report.seconds_read += time.perf_counter() - t0
                if item is None:
                    return
                if item.error is not None:
                    bar.update(1)
                    if failed(item.event_id, item.error, "reading: "):
                        return
                    continue
                assert item.event is not None
                try:
                    out = pipeline(item.event)
                except Exception as err:  # noqa: BLE001 - reported, then skip or stop as asked
                    bar.update(1)
                    if failed(item.event_id, err, ""):
                        return
                    continue
                report.events_written += 1
                report.input_indices.append(item.position)
                yield track_output(out)
                bar.update(1)
        finally:
            bar.close()

    writer.write(processed(), output_path)
    report.stage_mean_s = pipeline.mean_timings()
    report.total_s = time.perf_counter() - start
    return report


def _part_path(output_path: Path, rank: int, world: int) -> Path:
    # Same suffix as the output, so the same writer and reader handle it; a scratch name, so that the
    # next run removes it when this process is killed before it could.
    return scratch_path(output_path, f"part{rank}of{world}{output_path.suffix}")


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
    reader: str | None = None,
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
        return run(
            input_path,
            output_path,
            pipeline,
            on_error=on_error,
            max_events=max_events,
            progress=progress,
            reader=reader,
        )
    own_group = not dist.is_initialized()
    if own_group:
        # gloo even beside CUDA: only barriers and small objects travel between ranks here.
        init_process_group(ctx, torch.device("cpu"))
    output_path = Path(output_path)
    part = _part_path(output_path, ctx.rank, ctx.world)
    # one name for the whole job, chosen by rank 0 (its pid keeps concurrent jobs apart)
    flag = scratch_path(output_path, "stop")
    if ctx.is_main:
        remove_stale_temporaries(output_path.parent)  # what killed jobs left here
        flag.unlink(missing_ok=True)
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
            reader=reader,
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
