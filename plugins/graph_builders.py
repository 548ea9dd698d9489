"""Graph builders: hits -> ``edge_index`` (int64 [2, E], inner -> outer, on the event's device).

- ``module_map``: the doublet builder over a module map (GNN4ITk);
- ``layer_pairs``: the same over a layer-pair map (the classic geometric graph builder);
- ``metric_learning``: an embedding model, then fixed-radius neighbours in the embedding space.

They build graphs and nothing else: truth labels of the edges are not inference work; training and
the metrics compute them from the event's truth (:func:`tracking.truth.label_edges`), so running on a
file with truth costs the same as without.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch

from tracking.config import Range, Score, resolve_path
from tracking.detector import BUILTIN_NUMBERING
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.modulemap import ModuleIdMode, ModuleIdResolver, ModuleMap
from tracking.ops import orient_inner_to_outer, radius_graph
from tracking.registry import register
from tracking.stages import Stage

__all__ = ["LayerPairGraph", "MetricLearningGraph", "ModuleMapGraph"]


def _with_edges(event: Event, edges: torch.Tensor, **meta) -> Event:
    # a new graph: the per-edge fields of any previous one no longer apply
    return event.replace(
        edge_index=edges,
        edge_truth=None,
        edge_features=None,
        edge_scores=None,
        meta={**event.meta, **meta} if meta else event.meta,
    )


def _require_ids(event: Event, stage: str, names: tuple[str, ...], hint: str = "") -> None:
    """DataError naming ``stage`` when the event lacks an id column it needs (readers leave optional ones out)."""
    for name in names:
        if getattr(event, name) is None:
            raise DataError(
                f"graph_builder {stage} needs the hits' {name}, which the reader found no column for{hint}",
                file=event.meta.get("source"),
                branch=name,
                event=event.event_id,
            )


def _as_torch(edges, device: torch.device) -> torch.Tensor:
    return (edges if isinstance(edges, torch.Tensor) else torch.from_numpy(edges)).to(device)


class _MapGraph(Stage):
    granularity = "module"

    def __init__(self, config) -> None:
        super().__init__(config)
        path = resolve_path(config.map, None)
        self.map = ModuleMap.load(path)
        if self.map.granularity != self.granularity:
            raise ConfigError(
                f"graph_builder: map {str(path)!r} has {self.map.granularity} granularity; "
                f"use it with graph_builder: {'module_map' if self.map.granularity == 'module' else 'layer_pairs'}"
            )

    def _build(self, event: Event):
        group = self.map.group_index(event)
        self.map.check_coverage(event, group, self.config.max_outside)
        return self.map.build(event, group)

    def __call__(self, event: Event) -> Event:
        _require_ids(event, getattr(self, "plugin_name", type(self).__name__), ("volume_id", "layer_id"))
        return _with_edges(event, _as_torch(self._build(event), event.device))


@register("graph_builder", "module_map")
class ModuleMapGraph(_MapGraph):
    """Doublets between connected modules that pass the module map's cut windows (GNN4ITk).

    ``module_ids`` says which module of the map a hit belongs to: ``file`` takes the event's
    ``module_id``; ``geometric`` the trackpipe detector's nominal module at the hit's position
    (:meth:`tracking.simulation.Detector.nominal_module_ids`), so that a map learned on simulated
    events applies to files numbered otherwise (real TrackML events); ``auto`` (default) uses the
    file's ids when they follow the simulation's numbering and the geometric ones when they do not.
    """

    @dataclass
    class Config:
        map: Path = Path("builtin:module_map_default.npz")
        module_ids: ModuleIdMode = "auto"
        # an event with a larger fraction of hits outside the map's modules is an error: another detector or
        # numbering gives ~100 %; a map learned on few events of the right one leaves 50-60 % of a new event out
        max_outside: Score = 0.9

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        try:
            self.module_ids = ModuleIdResolver(config.module_ids, self.map.numbering)
        except ValueError as err:
            raise ConfigError(f"graph_builder 'module_map': key 'module_ids': {err}") from None

    def __call__(self, event: Event) -> Event:
        _require_ids(event, "module_map", ("volume_id", "layer_id"))
        if self.module_ids.mode == "file":
            hint = (
                " (module_ids: file); module_ids: auto or geometric takes each hit's module from its position instead"
                if self.map.numbering == BUILTIN_NUMBERING
                else f" (module_ids: file; the map is keyed on the module ids of numbering {self.map.numbering!r}); "
                "a layer map (graph_builder: layer_pairs) needs none"
            )
            _require_ids(event, "module_map", ("module_id",), hint)
        resolved, positional = self.module_ids.resolve(event)
        edges = _as_torch(self._build(resolved), event.device)
        return _with_edges(event, edges, module_ids="geometric") if positional else _with_edges(event, edges)


@register("graph_builder", "layer_pairs")
class LayerPairGraph(_MapGraph):
    """Doublets between connected layers that pass the layer-pair map's cut windows."""

    granularity = "layer"

    @dataclass
    class Config:
        map: Path = Path("builtin:layer_map_default.npz")
        max_outside: Score = 0.9  # an event with a larger fraction of hits outside the map's layers is an error


def default_embedding(features: torch.Tensor) -> torch.Tensor:
    """The node features themselves (r, phi, z, eta scaled to O(1)): a geometric neighbourhood."""
    return features


@register("graph_builder", "metric_learning")
class MetricLearningGraph(Stage):
    """Embed hits with a metric-learning model, connect hits within a radius in the embedding."""

    @dataclass
    class Config:
        checkpoint: Path | None = None  # a MetricEmbedding checkpoint (tracking.nn); None = raw features
        radius: Annotated[float, Range(gt=0)] = 0.1
        k_max: Annotated[int, Range(ge=1)] | None = (
            64  # keep the nearest k per hit; the number of capped hits goes to meta
        )
        embedding_dim: Annotated[int, Range(ge=1)] | None = None  # checked against the model when given

    def __init__(self, config: Config, embedding: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__(config)
        if embedding is None and config.checkpoint is not None:
            from tracking.nn.checkpoint import load_model

            embedding = load_model(resolve_path(config.checkpoint, None))
        self.embedding = embedding if embedding is not None else default_embedding

    def to(self, device: torch.device) -> MetricLearningGraph:
        super().to(device)
        if isinstance(self.embedding, torch.nn.Module):
            self.embedding = self.embedding.to(self.device).eval()
        return self

    @torch.no_grad()
    def __call__(self, event: Event) -> Event:
        from tracking.nn.features import node_features

        points = self.embedding(node_features(event)).float().contiguous()
        want = self.config.embedding_dim
        if points.ndim != 2 or len(points) != event.num_hits or (want is not None and points.shape[1] != want):
            raise ConfigError(
                f"graph_builder 'metric_learning': embedding gave shape {tuple(points.shape)}, expected "
                f"[{event.num_hits}, {want if want is not None else 'D'}]"
            )
        pairs, n_capped = radius_graph(points, self.config.radius, self.config.k_max)
        edges = orient_inner_to_outer(pairs, torch.as_tensor(event.r, device=points.device), event.num_hits)
        return _with_edges(event, edges, graph_capped_hits=n_capped)
