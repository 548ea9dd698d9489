"""Track builders: scored graph -> ``track_labels``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch

from tracking import ops
from tracking.config import Range, Score
from tracking.detector import BUILTIN, DetectorDescription, description_from_config
from tracking.errors import ConfigError, DataError
from tracking.event import Event
from tracking.registry import register
from tracking.stages import Stage

PositiveMM = Annotated[float, Range(gt=0)]


@register("track_builder", "truth")
class TruthTrackBuilder(Stage):
    """Oracle tracks: one track per true particle (needs truth); noise and short particles get -1."""

    needs = ()  # truth from the reader, no graph: see tracking.pipeline.STAGE_CONTRACTS

    @dataclass
    class Config:
        min_hits: Annotated[int, Range(ge=0)] = 1

    def __call__(self, event: Event) -> Event:
        if event.particle_id is None:
            raise DataError("the truth track builder needs per-hit particle_id", event=event.event_id)
        pid = torch.as_tensor(event.particle_id)
        uniq, inverse, counts = torch.unique(pid, return_inverse=True, return_counts=True)
        keep = (uniq != 0) & (counts >= self.config.min_hits)
        new_id = torch.cumsum(keep.to(torch.int64), 0) - 1
        new_id[~keep] = -1
        return event.replace(track_labels=new_id[inverse])


class _ShortTrackRule:
    """The short-track rule of the graph track builders: tracks of fewer than ``short_hits`` hits are kept
    only when their edges' mean score (or, with ``quality:``, a track-quality model's probability,
    :mod:`tracking.quality`) is > ``short_score_cut``."""

    config: Any

    def _load_quality(self) -> None:
        self.quality_model = None
        if self.config.quality is not None:
            from tracking.quality import TrackQualityModel

            try:
                self.quality_model = TrackQualityModel.load(self.config.quality)
            except DataError as err:
                raise ConfigError(f"track_builder: key 'quality': {err}") from err

    def _short_rule(self, event: Event, labels, edge_index, scores):
        cfg = self.config
        if cfg.short_hits <= 1:
            return labels
        track_scores = None
        if self.quality_model is not None:
            track_scores = self.quality_model.score_tracks(event, labels, scores, edge_index)
        return ops.drop_weak_short_tracks(labels, edge_index, scores, cfg.short_hits, cfg.short_score_cut, track_scores)


def _scored_graph(event: Event, builder: str):
    if event.edge_index is None:
        raise DataError(
            f"the {builder} track builder needs edge_index (run a graph builder first)", event=event.event_id
        )
    if event.edge_scores is None:
        raise DataError(
            f"the {builder} track builder needs edge_scores (run an edge classifier first)", event=event.event_id
        )
    return event.edge_index, event.edge_scores


@register("track_builder", "connected_components")
class ConnectedComponentsTrackBuilder(_ShortTrackRule, Stage):
    """Tracks = connected components of the edges scoring above a cut (optionally after junction removal)."""

    @dataclass
    class Config:
        score_cut: Score = 0.5  # an edge is kept when its score is > score_cut
        min_hits: Annotated[int, Range(ge=0)] = 3  # smaller components get -1
        junction_removal: bool = False  # keep only each node's best in- and out-edge first (ACTS)
        # tracks of fewer than short_hits hits are kept only when their edges' mean score > short_score_cut
        short_hits: Annotated[int, Range(ge=0)] = 0  # 0: off
        short_score_cut: Score = 0.9
        quality: Path | None = None  # a track-quality model (.npz): the short-track rule uses its probability

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._load_quality()

    def __call__(self, event: Event) -> Event:
        edge_index, scores = _scored_graph(event, "connected_components")
        cfg = self.config
        if cfg.junction_removal:
            keep = ops.junction_removal(edge_index, scores, cfg.score_cut, event.num_hits)
            # The mask is exactly "edge survives", so it is handed on as the scores with a cut at 0.5.
            scores = keep.to(torch.float32) if isinstance(keep, torch.Tensor) else keep.astype("float32")
            cut = 0.5
        else:
            cut = cfg.score_cut
        labels = ops.connected_components(edge_index, event.num_hits, scores, cut=cut, min_hits=cfg.min_hits)
        labels = self._short_rule(event, labels, edge_index, event.edge_scores)
        return event.replace(track_labels=labels)


@register("track_builder", "walkthrough")
class WalkthroughTrackBuilder(_ShortTrackRule, Stage):
    """ACORN's CC-and-walk: simple-path components are tracks, others are walked from their innermost hits.

    ``order`` says which hits are innermost: ``radius`` (smallest r; barrel/solenoid detectors),
    ``distance`` (smallest distance from the beam spot of ``detector``; forward detectors) or ``auto``
    (the ``track_start`` of ``detector`` when given, else radius). ``detector``: a detector description
    YAML (:mod:`tracking.detector`). ``recovery_cut``: hits left on no track are walked once more over the
    edges between them that score above it (short tracks that lost one edge to ``score_cut``); the
    short-track rule then judges every track. ``extend_cut``: then the tracks kept grow at their ends onto
    hits on no track over edges above it (:func:`tracking.ops.extend_tracks`). ``extend_helix`` (x-y, z
    tolerances in mm): last, they grow onto hits on no track that share a graph edge of any score with an end
    and lie on the helix fitted to the hits at that end (:func:`tracking.ops.extend_tracks_helix`)."""

    @dataclass
    class Config:
        score_cut: Score = 0.5  # graph edges: score > score_cut
        walk_cut: Score | None = None  # ambiguous components walk only edges above it (None = score_cut)
        min_hits: Annotated[int, Range(ge=0)] = 3  # shorter tracks get -1
        # tracks of fewer than short_hits hits are kept only when their edges' mean score > short_score_cut
        short_hits: Annotated[int, Range(ge=0)] = 0  # 0: off
        short_score_cut: Score = 0.9
        quality: Path | None = None  # a track-quality model (.npz): the short-track rule uses its probability
        order: Literal["auto", "radius", "distance"] = "auto"
        detector: Path | None = None
        # a second pass: hits left on no track are walked again over the edges between them above it (None: off)
        recovery_cut: Score | None = None
        # then the kept tracks grow at both ends onto hits left on no track over edges above it, best edge
        # first (tracking.ops.extend_tracks; None: off): completes stems whose rest the walk or the rule left
        extend_cut: Score | None = None
        # last, the kept tracks grow at both ends onto hits left on no track that share a graph edge (any score)
        # with the end and lie within these distances (mm: across in x-y, along z) of the helix fitted to the
        # end's hits (tracking.ops.extend_tracks_helix; None: off): completes soft particles' stems whose rest
        # the edge classifier scored as negatives
        extend_helix: tuple[PositiveMM, PositiveMM] | None = None

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._load_quality()
        label = f"track_builder {getattr(self, 'plugin_name', 'walkthrough')!r}: key 'detector'"
        detector = description_from_config(config.detector, where=label) if config.detector else None
        start = config.order if config.order != "auto" else (detector.track_start if detector else "radius")
        self.detector: DetectorDescription = DetectorDescription.from_dict(
            {**(detector or BUILTIN).to_dict(), "track_start": start}
        )

    def walk(self, event: Event):
        """The walk's track labels before the short-track rule (what the rule then judges)."""
        edge_index, scores = _scored_graph(event, "walkthrough")
        cfg = self.config
        return ops.walkthrough(
            edge_index,
            event.num_hits,
            scores,
            cut=cfg.score_cut,
            walk_cut=cfg.walk_cut,
            min_hits=cfg.min_hits,
            order=self.detector.start_order(event),
            recovery_cut=cfg.recovery_cut,
        )

    def __call__(self, event: Event) -> Event:
        labels = self._short_rule(event, self.walk(event), event.edge_index, event.edge_scores)
        cfg = self.config
        if cfg.extend_cut is None and cfg.extend_helix is None:
            return event.replace(track_labels=labels)
        order = self.detector.start_order(event)
        if cfg.extend_cut is not None:
            edge_index, scores = _scored_graph(event, "walkthrough")
            labels = ops.extend_tracks(labels, edge_index, scores, cfg.extend_cut, order)
        if cfg.extend_helix is not None:
            labels = ops.extend_tracks_helix(
                labels, event.edge_index, event.x, event.y, event.z, order, cfg.extend_helix
            )
        return event.replace(track_labels=labels)
