"""The configuration of ``trackpipe fit``: a YAML file (``--config FIT.yaml``) built into the dataclass tree
below by :func:`tracking.config.build`; every key is optional except where the data come from, which
the command line can give (``trackpipe fit TRAIN --val VAL -o DIR``). The dataclasses are the one place
that lists every key with its default::

    train: {path: data/train}        # any input trackpipe reads (or {simulate: {n: 32, mu: 200, seed: 31}})
    val:   {path: data/val}          # held out: every choice of the fit (map, cuts) is made on these
    output: fitted/                  # the pipeline directory
    budget_minutes: 60               # wall time for the two trainings together
    max_fake: 0.03                   # cuts maximise track efficiency at a fake rate <= this (validation)
    matching: {pt_min: 1.0, min_particle_hits: 3}   # which particles count, how tracks match them
    map:  {granularity: module, margins: [0.0, 0.05, 0.1, 0.2], min_segments: [1, 2, 3], windows: [entry]}
    filter: {model: {name: edge_filter, hidden: 64, n_layers: 4}}
    gnn:    {model: {name: interaction_gnn, hidden: 64, n_iterations: 8}}
    cuts: {filter_efficiency: 0.995, min_hits: [3, 4, 5, 6]}   # min_hits default: from hits per particle

Relative paths are relative to the YAML file's directory (to the working directory on the command line).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from ..config import Range, Score, build, load_yaml_mapping, resolve_path
from ..errors import ConfigError
from ..training.config import SourceConfig

PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegative = Annotated[float, Range(ge=0)]
Positive = Annotated[float, Range(gt=0)]


@dataclass
class MatchingConfig:
    """``matching:`` the particles the pipeline is fitted for and how a track matches one: the rules of
    ``trackpipe evaluate --matching``. ``acts``: ACTS/ATLAS double majority over particles with pT >
    ``pt_min`` and >= ``min_particle_hits`` hits, fake rate; ``lhcb``: a track matches a particle holding
    >= 70 % of its hits, the efficiency of the particle ``category`` ("velo", "long", ... from the particle
    table's flags, or "all": every particle with >= 3 hits) and the ghost rate in place of the fake rate."""

    kind: Literal["acts", "lhcb"] = "acts"
    pt_min: NonNegative | None = 1.0  # GeV; null = every particle, whatever its pT
    min_particle_hits: PositiveInt = 3
    eta_max: Positive | None = None
    double_majority: bool = True
    category: str = "velo"  # lhcb: the category whose efficiency the cuts maximise


@dataclass
class MapSearch:
    """``map:`` the connection map, learned from the training events' truth; every candidate
    (margin x min_segments x neighbours) is scored on the validation events and the one with the
    fewest edges per event that keeps ``target_efficiency`` of the target segments is kept."""

    granularity: Literal["module", "layer"] = "module"
    margins: list[NonNegative] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2])
    min_segments: list[PositiveInt] = field(default_factory=lambda: [1, 2, 3])  # prune rarer connections
    neighbours: list[NonNegativeInt] = field(default_factory=lambda: [0])
    # entry: each connection keeps its own cut windows; layer: every connection of a layer pair gets the
    # windows of the pair learned from segments of pT >= window_pt_min (the connections decide only which
    # modules are joined: a pair seen a few times cannot know its spread)
    windows: list[Literal["entry", "layer"]] = field(default_factory=lambda: ["entry"])
    window_pt_min: NonNegative | None = None  # GeV; null: learn_pt_min
    # layer windows from particles produced within this distance of the beam line (mm; null: all): displaced
    # particles (decays, interactions) then widen only the entries they crossed, not every pair of the layer
    # (on TrackML-like events their min/max windows made 2.6x the edges)
    window_vertex_r_max: NonNegative | None = None
    target_efficiency: Score = 0.99
    learn_pt_min: NonNegative = 0.0  # learn connections from particles above this pT (GeV)

    def __post_init__(self) -> None:
        for name in ("margins", "min_segments", "neighbours", "windows"):
            if not getattr(self, name):
                raise ValueError(f"key {name!r} needs at least one candidate")


@dataclass
class StageFit:
    """``filter:`` / ``gnn:`` one learned stage: its model, its share of the budget and its optimiser."""

    enabled: Literal["auto", "on", "off"] = "auto"  # auto: trained, and kept only if it pays on validation
    # a registered model plugin and its constructor arguments, as in a training config's ``model:``
    model: dict[str, Any] = field(default_factory=lambda: {"name": "interaction_gnn"})
    budget_fraction: Annotated[float, Range(gt=0, le=1)] = 0.5
    min_epochs: PositiveInt = 1
    max_epochs: PositiveInt = 50
    lr: Positive = 2e-3
    steps_per_event: PositiveInt = 4  # optimiser steps per event (exact eta-phi partitions)
    pos_weight: Positive | Literal["auto"] = "auto"
    # loss weight of the true edges of displaced particles (produced > 1 mm from the beam line; training
    # loss.displaced_weight): > 1 when the GNN scores secondaries low because primaries dominate
    displaced_weight: Positive = 1.0
    # from how far from the beam line (mm) a particle counts as displaced for that weight (training
    # loss.displaced_r_min): e.g. 100 to weigh only the particles produced in the outer layers
    displaced_r_min: NonNegative = 1.0
    # loss weight of the true edges of particles that leave at most short_hits_max hits (training
    # loss.short_weight): > 1 when particles stop in the material and the GNN learned that tracks do not end
    short_weight: Positive = 1.0
    short_hits_max: Annotated[int, Range(ge=2)] = 5
    # loss weight of the segments of particles below target_pt (training loss.non_target_weight): 1 labels
    # them false (the model learns to cut low-pT particles), 0 ignores them (ACORN's weighting)
    non_target_weight: NonNegative = 1.0
    # and the target they are trained towards (training loss.non_target_label; 0: negatives)
    non_target_label: Score = 0.0
    # train on at most the first N training events (null: as many as the budget affords, measured by a
    # probe epoch on probe_events events); the map still learns from all of them
    train_events: PositiveInt | None = None
    probe_events: PositiveInt = 4
    # start from these weights (a model.pt of the same model and size, e.g. builtin:gnn_default.pt):
    # fine-tuning needs far fewer epochs than training from scratch
    init_from: Path | None = None
    train: bool = True  # false: take init_from as it is (the map and the cuts are still fitted around it)
    # train on these events instead of the fit's ``train:`` ones (the map still learns from those), e.g.
    # simulated with more of a rare kind of particle: {simulate: {n: 16, mu: 200, seed: 7, secondary_fraction: 0.3}}
    data: SourceConfig | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model.get("name"), str):
            raise ValueError("key 'model' needs a 'name' (a registered model, see `trackpipe plugins`)")
        if not self.train and self.init_from is None:
            raise ValueError("train: false needs init_from (the model to use as it is)")
        if self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) exceeds max_epochs ({self.max_epochs})")


@dataclass
class FilterFit(StageFit):
    """``filter:`` the edge filter (a per-edge MLP on doublet and triplet features) on the map's graphs."""

    model: dict[str, Any] = field(default_factory=lambda: {"name": "edge_filter", "hidden": 64, "n_layers": 4})
    budget_fraction: Annotated[float, Range(gt=0, le=1)] = 0.35
    lr: Positive = 3e-3
    steps_per_event: PositiveInt = 16


@dataclass
class GnnFit(StageFit):
    """``gnn:`` the Interaction-Network GNN on the filtered graphs (it gets what the filter left)."""

    model: dict[str, Any] = field(default_factory=lambda: {"name": "interaction_gnn", "hidden": 64, "n_iterations": 8})
    budget_fraction: Annotated[float, Range(gt=0, le=1)] = 0.65


def default_min_hits(hits_per_particle_median: float | None) -> list[int]:
    """The ``min_hits`` candidates when the fit config gives none: 3 up to max(6, median - 3)."""
    top = 6 if hits_per_particle_median is None else max(6, int(hits_per_particle_median) - 3)
    return list(range(3, top + 1))


@dataclass
class CutSearch:
    """``cuts:`` calibrated on the validation events."""

    filter_efficiency: Score = 0.995  # the filter cut keeps this fraction of the target edges
    score_cuts: list[Score] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
    # null: 3, 4, ... up to the larger of 6 and 3 below the median hits per particle of the training events
    # (particles that leave 12 hits, as in ACTS' Generic detector, need longer minimum tracks against fakes)
    min_hits: list[PositiveInt] | None = None
    # the short-track rule, tried on the short_rule_settings best (builder, cut, min_hits): tracks of
    # fewer than short_hits hits kept only when the mean score of their edges > short_score_cut
    short_hits: list[PositiveInt] = field(default_factory=lambda: [4, 5, 6])
    short_score_cuts: list[Score] = field(default_factory=lambda: [0.5, 0.8, 0.9, 0.95, 0.98])
    short_rule_settings: NonNegativeInt = 3  # 0: off
    # the walk-through's recovery pass (hits left on no track walked again over the edges between them above
    # recovery_cut), tried on those best walk-through settings with each recovery cut below their score cut
    # (alone, then with the short-track rule): particles of 3-4 hits that lost one edge to the cut
    recovery_cuts: list[Score] = field(default_factory=lambda: [0.3, 0.5, 0.7, 0.8])
    # the short-track rule with a learned track-quality model (tracking.quality) instead of the mean edge
    # score: trained on the last quality_events training events (0: off), tried on the same best settings
    # with these short_hits (1000: every track is judged) and probability cuts
    quality_events: NonNegativeInt = 4
    # the quality model learns from the first quality_events events of this source instead (null: the last
    # training events); events richer in rare real tracks (displaced particles) teach it those, and its cut is
    # still chosen on the validation events
    quality_data: SourceConfig | None = None
    quality_short_hits: list[PositiveInt] = field(default_factory=lambda: [5, 7, 9, 1000])
    quality_cuts: list[Score] = field(default_factory=lambda: [0.3, 0.5, 0.7, 0.8, 0.9])
    # also try the quality rule on the score cuts below the best one (its own model each), for detectors where a
    # looser cut finds more real tracks and the model can remove the fakes it lets in. Off by default: on the
    # simulated TrackML detector and the LHCb VELO the looser cuts lost (their walks merge particles)
    quality_looser_cuts: bool = False
    # last, the walk-through's tracks extended at their ends onto hits left on no track over edges above each
    # of these cuts (tracking.ops.extend_tracks), tried on the best setting and on the walk-through settings
    # that find more particles at up to 1.5 max_fake; empty: off
    extend_cuts: list[Score] = field(default_factory=lambda: [0.05, 0.1, 0.2])
    # then, the same way, extended onto hits on no track that share a graph edge (any score) with an end and lie
    # within these (x-y, z) distances in mm of the helix fitted at that end (tracking.ops.extend_tracks_helix):
    # soft particles' stems whose rest the edge classifier scored as negatives; empty: off
    extend_helix: list[tuple[PositiveFloat, PositiveFloat]] = field(
        default_factory=lambda: [(1.0, 5.0), (2.0, 10.0), (3.0, 20.0)]
    )
    # the extensions are tried on the best setting and on up to this many more that find more particles at up to
    # 1.5 max_fake (the extension removes fakes: a looser setting may come under max_fake with it)
    extension_settings: NonNegativeInt = 6
    # the track-quality MLP's size and full-batch training steps (tracking.quality.fit_track_quality)
    quality_hidden: PositiveInt = 16
    quality_steps: PositiveInt = 400
    track_builders: list[Literal["walkthrough", "connected_components"]] = field(
        default_factory=lambda: ["walkthrough", "connected_components"]
    )


@dataclass
class FitConfig:
    """A validated ``trackpipe fit`` configuration: the top level of FIT.yaml."""

    train: SourceConfig
    val: SourceConfig
    output: Path
    budget_minutes: Positive = 60.0
    max_fake: Score = 0.03
    seed: NonNegativeInt = 0
    device: str = "auto"
    imports: list[str] = field(default_factory=list)  # plugin modules (a reader for the user's format)
    # the detector description (tracking.detector): a YAML to use as it is, or null to fit it from the
    # first ``describe_events`` training events; ``field_tesla`` fixes the field of a fitted one (0 = none)
    detector: Path | None = None
    field_tesla: NonNegative | None = None
    describe_events: PositiveInt = 8
    target_pt_min: NonNegative | None = None  # training targets: segments above this pT (default: matching)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    map: MapSearch = field(default_factory=MapSearch)
    filter: FilterFit = field(default_factory=FilterFit)
    gnn: GnnFit = field(default_factory=GnnFit)
    cuts: CutSearch = field(default_factory=CutSearch)

    @property
    def target_pt(self) -> float | None:
        """pT (GeV) above which a segment is a target of the map search and a true edge in training."""
        if self.target_pt_min is not None or self.matching.kind == "lhcb":
            return self.target_pt_min  # LHCb categories are not pT cuts
        # a little below the matching cut, so that particles at the threshold are learned (as ACORN does)
        return None if self.matching.pt_min is None else 0.9 * self.matching.pt_min


def load_fit_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> FitConfig:
    """The fit configuration of ``path`` (a FIT.yaml; None = all defaults) with ``overrides`` (top-level
    keys, from the command line: paths in them are relative to the working directory). Errors name the
    file and the key."""
    raw: dict[str, Any] = {}
    base_dir = None
    if path is not None:
        file = Path(path)
        raw = load_yaml_mapping(file, "fit config")
        base_dir = file.resolve().parent
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("train", "val", "output"):
            value = _absolute(value)
        raw[key] = value
    where = f"{path}" if path is not None else "fit"
    try:
        config = build(FitConfig, raw, where="", base_dir=base_dir)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    # plugin modules given as .py files are relative to the YAML file, as in a training config
    config.imports = [str(resolve_path(i, base_dir)) if i.endswith(".py") else i for i in config.imports]
    return config


def _absolute(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: str(Path(v).resolve()) if k == "path" else v for k, v in value.items()}
    return str(Path(value).resolve())
