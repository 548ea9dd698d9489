"""Several events through one pipeline at once: the edge classifiers see their graphs as one disjoint union.

The pipeline's graph builders and track builders run event by event (a module map joins hits of the same
modules, so hits of two events must never meet there; track building costs milliseconds). Each run of
consecutive ``edge_classifier`` stages runs once on the disjoint union of the batch's graphs: node
and edge features depend only on a hit and its edges, and message passing never crosses between
components, so every event's scores are those it gets alone, and the batch is split again by hit
ranges before the next per-event stage. Whether it pays is measured by ``trackpipe bench --only serve``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..event import Event
from ..pipeline import Pipeline

BATCHED_KINDS = ("edge_classifier",)
HIT_FIELDS = ("hit_id", "x", "y", "z", "r", "phi", "eta", "volume_id", "layer_id", "module_id")


@dataclass
class BatchResult:
    """One event's answer out of a batch: its labels and the seconds of each stage (a batched stage's
    time is the whole batch's, shared by its events)."""

    event: Event
    stage_s: dict[str, float] = field(default_factory=dict)
    batch_size: int = 1


def _cat(values: list[Any]) -> Any:
    return torch.cat(values) if isinstance(values[0], torch.Tensor) else np.concatenate(values)


def merge_graphs(events: Sequence[Event]) -> tuple[Event, list[int]]:
    """The disjoint union of ``events`` (each with a graph) and the first hit row of each in it."""
    offsets = [0]
    for event in events[:-1]:
        offsets.append(offsets[-1] + event.num_hits)
    changes: dict[str, Any] = {}
    for name in HIT_FIELDS:
        values = [getattr(e, name) for e in events]
        if all(v is not None for v in values):
            changes[name] = _cat(values)
    changes["edge_index"] = torch.cat([torch.as_tensor(e.edge_index) + off for e, off in zip(events, offsets)], dim=1)
    for name in ("edge_features", "edge_scores"):
        values = [getattr(e, name) for e in events]
        if all(v is not None for v in values):
            changes[name] = _cat(values)
    # what every event's meta says alike (e.g. the provenance of their edge features) holds for the union
    first = events[0].meta
    common = {k: v for k, v in first.items() if all(k in e.meta and _same(e.meta[k], v) for e in events[1:])}
    merged = Event(event_id=events[0].event_id, meta=common, **changes)
    return merged, offsets


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values without a plain truth value (arrays): not the same
        return False


def split_graphs(merged: Event, events: Sequence[Event], offsets: list[int]) -> list[Event]:
    """Each event of ``events`` with its share of ``merged``'s (pruned, scored) graph."""
    edge_index = torch.as_tensor(merged.edge_index)
    bounds = torch.tensor(offsets[1:], device=edge_index.device)
    owner = torch.bucketize(edge_index[0], bounds, right=True)
    out = []
    for k, (event, offset) in enumerate(zip(events, offsets)):
        mask = owner == k
        changes: dict[str, Any] = {"edge_index": edge_index[:, mask] - offset}
        for name in ("edge_features", "edge_scores"):
            value = getattr(merged, name)
            changes[name] = None if value is None else value[mask]
        # what the batched stages recorded (e.g. their edge features' provenance) belongs to each event
        changes["meta"] = {**event.meta, **merged.meta}
        out.append(event.replace(**changes))
    return out


class BatchRunner:
    """Runs a :class:`~tracking.pipeline.Pipeline` on a list of events; ``batched=False`` runs them one
    by one (the reference the batched path must equal)."""

    def __init__(self, pipeline: Pipeline, *, batched: bool = True) -> None:
        self.pipeline = pipeline
        self.batched = batched
        kinds = [label.split(":", 1)[0] for label in pipeline.labels]
        # Consecutive runs of batchable stages: [(first, stop), ...] as stage positions.
        self.segments: list[tuple[int, int]] = []
        i = 0
        while i < len(kinds):
            if kinds[i] in BATCHED_KINDS:
                j = i
                while j < len(kinds) and kinds[j] in BATCHED_KINDS:
                    j += 1
                self.segments.append((i, j))
                i = j
            else:
                i += 1

    def _stage(self, position: int, event: Event, timings: dict[str, float]) -> Event:
        label = self.pipeline.labels[position]
        event, seconds = self.pipeline.run_stage(position, event)
        timings[label] = timings.get(label, 0.0) + seconds
        return event

    def __call__(self, events: Sequence[Event]) -> list[BatchResult]:
        events = [e.to(self.pipeline.device) for e in events]
        n_stages = len(self.pipeline.stages)
        per_event: list[dict[str, float]] = [{} for _ in events]
        batched = self.batched and len(events) > 1 and self.segments
        if not batched:
            for k in range(len(events)):
                for position in range(n_stages):
                    events[k] = self._stage(position, events[k], per_event[k])
            return [BatchResult(e, t, 1) for e, t in zip(events, per_event)]
        position = 0
        for first, stop in [*self.segments, (n_stages, n_stages)]:
            for k in range(len(events)):
                for p in range(position, first):
                    events[k] = self._stage(p, events[k], per_event[k])
            if first == stop:
                break
            merged, offsets = merge_graphs(events)
            shared: dict[str, float] = {}
            for p in range(first, stop):
                merged = self._stage(p, merged, shared)
            events = split_graphs(merged, events, offsets)
            for timings in per_event:
                timings.update(shared)
            position = stop
        return [BatchResult(e, t, len(events)) for e, t in zip(events, per_event)]


def event_from_columns(event_id: int, columns: dict[str, np.ndarray]) -> Event:
    """An :class:`Event` of the hit columns of one request (see :mod:`tracking.serve.wire`)."""
    fields: dict[str, Any] = {name: columns[name] for name in HIT_FIELDS if name in columns}
    return Event(event_id=event_id, **fields)


__all__ = ["BATCHED_KINDS", "BatchResult", "BatchRunner", "event_from_columns", "merge_graphs", "split_graphs"]
