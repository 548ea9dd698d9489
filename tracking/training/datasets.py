"""Training graphs: events -> graph builder (-> pre-filter) -> features and edge labels, built once per
event and cached.

A :class:`GraphSample` is what one training step consumes. The stages see the event without its truth,
as inference does; the labels are computed here from the event's truth by :func:`tracking.truth.edge_truth`
(the same truth graph the metrics use), never read from what a stage produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import registry
from ..errors import DataError
from ..event import Event
from ..nn.features import edge_features, node_features
from ..pipeline import build_stage
from ..truth import edge_truth, segments_above_pt, segments_displaced, segments_short, truth_segments
from .config import SourceConfig, TrainConfig


@dataclass
class GraphSample:
    """One event's training graph (CPU tensors).

    ``x`` float32 ``[N, 4]`` node features (columns ``r, phi, z, eta`` scaled as in
    :mod:`tracking.nn.features`), ``edge_index`` int64 ``[2, E]``, ``edge_attr`` float32 ``[E, 10]``
    (all edge features; a model taking fewer uses the first columns), ``y`` bool ``[E]`` edge truth,
    ``displaced`` bool ``[E]`` (or None): the true edges of displaced particles (``loss.displaced_weight``);
    ``short`` bool ``[E]`` (or None): the true edges of particles with few hits (``loss.short_weight``);
    ``non_target`` bool ``[E]`` (or None): segments of particles below the target pT, labelled false
    (``loss.non_target_weight``).
    """

    event_id: int
    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    y: torch.Tensor
    displaced: torch.Tensor | None = None
    short: torch.Tensor | None = None
    non_target: torch.Tensor | None = None

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def to(self, device: torch.device) -> GraphSample:
        displaced = None if self.displaced is None else self.displaced.to(device)
        short = None if self.short is None else self.short.to(device)
        non_target = None if self.non_target is None else self.non_target.to(device)
        return GraphSample(
            self.event_id,
            self.x.to(device),
            self.edge_index.to(device),
            self.edge_attr.to(device),
            self.y.to(device),
            displaced,
            short,
            non_target,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "x": self.x,
            "edge_index": self.edge_index,
            "edge_attr": self.edge_attr,
            "y": self.y,
            **({} if self.displaced is None else {"displaced": self.displaced}),
            **({} if self.short is None else {"short": self.short}),
            **({} if self.non_target is None else {"non_target": self.non_target}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphSample:
        return cls(
            int(d["event_id"]),
            d["x"],
            d["edge_index"],
            d["edge_attr"],
            d["y"],
            d.get("displaced"),
            d.get("short"),
            d.get("non_target"),
        )


def iter_source(source: SourceConfig, indices: set[int] | None = None) -> Iterator[tuple[int, Event]]:
    """``(index, event)`` of a split's events, in source order; only ``indices`` when given (simulated
    events are generated on their own, file events are read in order and skipped)."""
    if source.simulate is not None:
        from ..simulation import simulate_event

        sim = source.simulate
        config = sim.simulation_config()
        for i in range(sim.n):
            if indices is None or i in indices:
                yield i, simulate_event(sim.mu, sim.seed, sim.first_event + i, config)
        return
    from ..io.detect import reader_for

    assert source.path is not None  # a SourceConfig has exactly one of simulate and path
    if not Path(source.path).exists():
        raise DataError("training data not found", file=str(source.path))
    reader = registry.create("reader", source.reader or reader_for(source.path), where=f"reader of {source.path}")
    index = -1
    for position, event in enumerate(reader(source.path)):
        if position < (source.first or 0):
            continue
        index += 1
        if source.n is not None and index >= source.n:
            return
        if indices is None or index in indices:
            yield index, event


def source_length(source: SourceConfig) -> int:
    """Number of events of a split (reads the file's event count for path sources)."""
    if source.simulate is not None:
        return source.simulate.n
    from ..io.detect import reader_for

    assert source.path is not None  # a SourceConfig has exactly one of simulate and path
    if not Path(source.path).exists():
        raise DataError("training data not found", file=str(source.path))
    reader = registry.create("reader", source.reader or reader_for(source.path), where=f"reader of {source.path}")
    total = reader.count(source.path)
    if total is None:
        total = sum(1 for _ in reader(source.path))
    total = max(total - (source.first or 0), 0)
    return total if source.n is None else min(total, source.n)


class TrainingGraphs:
    """``Event -> GraphSample``: the config's graph-builder stage (+ optional pre-filter) makes the graph,
    :mod:`tracking.truth` labels its edges."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.device = device
        self.target_pt_min = config.loss.target_pt_min
        self.displaced_r_min = config.loss.displaced_r_min if config.loss.displaced_weight != 1.0 else None
        self.short_hits_max = config.loss.short_hits_max if config.loss.short_weight != 1.0 else None
        self.mark_non_target = config.loss.marks_non_target  # LossConfig requires target_pt_min then
        self.detector = config.description()
        self.stages = [build_stage(config.graph_builder, index="graph_builder", base_dir=config.base_dir)[1]]
        if config.pre_filter is not None:
            self.stages.append(build_stage(config.pre_filter, index="pre_filter", base_dir=config.base_dir)[1])
        self.stages = [s.to(device) if hasattr(s, "to") else s for s in self.stages]

    def __call__(self, event: Event) -> GraphSample:
        if event.particle_id is None:
            raise DataError("training needs truth (particle_id) for the edge labels", event=event.event_id)
        segments = all_segments = truth_segments(event)
        if self.target_pt_min is not None:
            segments = segments_above_pt(event, segments, self.target_pt_min)
        graph = event.replace(particle_id=None, particles=None).to(self.device)
        for stage in self.stages:
            graph = stage(graph)
        if graph.edge_index is None:
            raise DataError("the graph_builder stage produced no edge_index", event=event.event_id)
        edge_index = torch.as_tensor(graph.edge_index).to(self.device)
        with torch.no_grad():
            x = node_features(graph, self.device, detector=self.detector)
            attr = edge_features(graph, edge_index, self.device, detector=self.detector)
        y = torch.from_numpy(edge_truth(edge_index, segments, event.num_hits))
        displaced = None
        if self.displaced_r_min is not None:
            far = segments_displaced(event, segments, self.displaced_r_min)
            displaced = torch.from_numpy(edge_truth(edge_index, segments[:, far], event.num_hits))
        short = None
        if self.short_hits_max is not None:
            few = segments_short(event, segments, self.short_hits_max)
            short = torch.from_numpy(edge_truth(edge_index, segments[:, few], event.num_hits))
        non_target = None
        if self.mark_non_target:
            non_target = torch.from_numpy(edge_truth(edge_index, all_segments, event.num_hits)) & ~y
        return GraphSample(event.event_id, x.cpu(), edge_index.cpu(), attr.cpu(), y, displaced, short, non_target)


class GraphDataset:
    """The graphs of one split, by index: built on first use, cached on disk or in memory.

    Disk cache: ``<cache_dir>/<split>-<key>/<index>.pt`` (default ``cache_dir``: ``<output>/cache``) where the
    key hashes the source and the graph-building stages, so changing either builds new graphs; files are
    written atomically.
    """

    def __init__(self, config: TrainConfig, split: str, source: SourceConfig) -> None:
        self.config, self.split, self.source = config, split, source
        self.length = source_length(source)
        identity = json.dumps({"graphs": config.graph_key(), "source": source.describe()}, sort_keys=True, default=str)
        self.key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        root = config.data.cache_dir if config.data.cache_dir is not None else Path(config.output) / "cache"
        self.cache_dir = Path(root) / f"{split}-{self.key}"
        self._memory: dict[int, GraphSample] = {}

    def __len__(self) -> int:
        return self.length

    def _path(self, index: int) -> Path:
        return self.cache_dir / f"{index:06d}.pt"

    def prepare(self, graphs: TrainingGraphs, indices: list[int], progress: bool = False) -> None:
        """Build the graphs of ``indices`` that are not cached yet."""
        from tqdm.auto import tqdm

        if self.config.data.cache == "disk":
            missing = {i for i in indices if not self._path(i).is_file()}
        else:
            missing = {i for i in indices if i not in self._memory}
        if not missing:
            return
        bar = tqdm(total=len(missing), desc=f"building {self.split} graphs", unit="event", disable=not progress)
        for index, event in iter_source(self.source, missing):
            sample = graphs(event)
            if self.config.data.cache == "disk":
                from ..atomic import atomic_output

                with atomic_output(self._path(index)) as tmp:
                    torch.save(sample.as_dict(), tmp)
            else:
                self._memory[index] = sample
            bar.update(1)
        bar.close()

    def __getitem__(self, index: int) -> GraphSample:
        if self.config.data.cache == "memory":
            return self._memory[index]
        path = self._path(index)
        try:
            return GraphSample.from_dict(torch.load(path, map_location="cpu", weights_only=True))
        except FileNotFoundError:
            raise DataError(f"graph {index} of split {self.split!r} was not built", file=str(path)) from None

    def label_counts(self, indices: list[int]) -> tuple[int, int]:
        """``(true edges, false edges)`` over ``indices``."""
        n_true = n_all = 0
        for i in indices:
            y = self[i].y
            n_true += int(y.sum())
            n_all += int(y.numel())
        return n_true, n_all - n_true
