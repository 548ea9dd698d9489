"""``trackpipe fit``: a complete pipeline learned from a user's labelled events, every choice made on
held-out validation events.

Steps (each reported in ``report.json``):

1. **map**: a connection map learned from the training events' truth; the candidates (margin, pruning
   of rare connections, neighbour dilation) are scored on the validation events and the one with the
   fewest edges per event that keeps ``map.target_efficiency`` of the target segments is kept;
2. **filter**: an edge classifier on the map's graphs, trained within its share of the budget; its cut
   keeps ``cuts.filter_efficiency`` of the validation events' target edges;
3. **gnn**: an edge classifier on the filtered graphs, trained within the rest of the budget;
4. **tracks**: the track builder, its score cut and ``min_hits`` chosen for the highest validation
   track efficiency at a fake rate <= ``max_fake``, with and without the GNN (``gnn.enabled: auto``
   keeps the GNN only when it pays);
5. **directory**: ``pipeline.yaml`` (paths relative to it), the map, the models, ``fit.yaml`` (the
   exact configuration), ``report.json`` and plots; ``trackpipe run IN -o OUT --pipeline DIR`` runs it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..arrays import as_numpy
from ..atomic import atomic_output
from ..config import to_plain
from ..detector import DetectorDescription, fit_description, load_description
from ..errors import DataError
from ..event import Event
from ..metrics.edges import EdgeMetricsAccumulator, edge_metrics
from ..metrics.lhcb import LhcbMatchConfig, LhcbMetrics
from ..metrics.tracks import TrackMatchConfig, TrackMetrics
from ..modulemap import MapLearner, ModuleMap, connectivity_advice, score_map
from ..training.config import SourceConfig, parse_config
from ..training.datasets import iter_source, source_length
from ..training.trainer import train
from ..truth import label_edges, truth_segments
from .config import FitConfig, StageFit, default_min_hits

PIPELINE_FILE = "pipeline.yaml"
REPORT_FILE = "report.json"
FIT_FILE = "fit.yaml"
MAP_FILE = "map.npz"
FILTER_FILE = "filter.pt"
GNN_FILE = "gnn.pt"
DETECTOR_FILE = "detector.yaml"
QUALITY_FILE = "track_quality.npz"

Log = Callable[[str], None]


@dataclass
class FitResult:
    """What :func:`fit` returns: the pipeline directory and its report."""

    directory: Path
    report: dict[str, Any] = field(default_factory=dict)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fit(
    config: FitConfig, *, progress: bool = True, log: Log = _stderr, keep_work: bool = False, nproc: int = 1
) -> FitResult:
    """Fit a pipeline as :mod:`tracking.fit` describes; returns the directory and the report. ``nproc``
    > 1 trains each learned stage with that many local DDP processes."""
    from ..training.config import import_modules

    import_modules(config.imports)
    start = time.perf_counter()
    out = Path(config.output)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"fit": to_plain(config), "steps": {}}
    steps = report["steps"]

    log(f"[1/5] reading validation events ({_describe(config.val)})")
    val_events = [event.numpy() for _, event in iter_source(config.val)]
    if not val_events:
        raise DataError("no validation events", file=_describe(config.val))
    _require_truth(val_events, _describe(config.val))
    target_pt = config.target_pt
    segments = [_target_segments(event, target_pt) for event in val_events]

    t0 = time.perf_counter()
    detector, steps["detector"] = describe_detector(config, out / DETECTOR_FILE)
    log(
        f"      detector: {'no field' if detector.straight else f'{detector.field_tesla:g} T'}, "
        f"r_scale {detector.r_scale:g} mm, z_scale {detector.z_scale:g} mm, tracks start by {detector.track_start}, "
        f"numbering {detector.numbering}"
    )
    if config.cuts.min_hits is None:
        config.cuts.min_hits = default_min_hits(detector.hits_per_particle_median)
        report["fit"]["cuts"]["min_hits"] = config.cuts.min_hits
        median = detector.hits_per_particle_median
        log(f"      min_hits candidates {config.cuts.min_hits} (median hits per particle: {median})")
    log(f"[1/5] learning the {config.map.granularity} map from {_describe(config.train)}")
    chosen_map, map_report = search_map(config, val_events, segments, progress, detector)
    map_path = out / MAP_FILE
    chosen_map.save(map_path)
    map_report["seconds"] = time.perf_counter() - t0
    steps["map"] = map_report
    chosen = map_report["chosen"]
    log(
        f"      map: margin {chosen['margin']}, min_segments {chosen['min_segments']}, neighbours "
        f"{chosen['neighbours']}, {chosen['windows']} windows: {chosen['edges_per_event']:.0f} edges/event, "
        f"segment efficiency {chosen['efficiency']:.4f} on validation"
    )
    advice = connectivity_advice(chosen, config.map.granularity)
    if advice:
        log(f"      {advice}")
    graph_spec = _graph_spec(config, map_path)
    detector_path = str(out / DETECTOR_FILE)

    budget_s = 60.0 * config.budget_minutes
    training_start = time.perf_counter()
    filter_spec: dict[str, Any] | None = None
    if config.filter.enabled != "off":
        log(f"[2/5] training the edge filter ({config.filter.model['name']}){_own_data(config.filter)}")
        filter_ckpt, steps["filter"] = train_stage(
            detector_path,
            config,
            "filter",
            config.filter,
            graph_spec,
            None,
            budget_s * config.filter.budget_fraction,
            work,
            progress,
            nproc,
        )
        shutil.copyfile(filter_ckpt, out / FILTER_FILE)
        cut, cut_report = calibrate_filter(config, graph_spec, out / FILTER_FILE, val_events, target_pt)
        steps["filter"].update(cut_report)
        filter_spec = {"edge_classifier": _classifier_name(config.filter), "checkpoint": str(out / FILTER_FILE)}
        filter_spec["score_cut"] = cut
        log(
            f"      filter cut {cut:.4g}: target segment efficiency {cut_report['edges']['efficiency']:.4f}, "
            f"purity {cut_report['edges']['purity']:.4f}, {cut_report['edges']['edges_per_event']:.0f} edges/event"
        )

    gnn_spec: dict[str, Any] | None = None
    if config.gnn.enabled != "off":
        log(f"[3/5] training the GNN ({config.gnn.model['name']}){_own_data(config.gnn)}")
        # the GNN gets what the filter left of the budget (all of its share when there is no filter)
        remaining = max(budget_s - (time.perf_counter() - training_start), 0.0)
        share = budget_s * config.gnn.budget_fraction if filter_spec is None else remaining
        gnn_ckpt, steps["gnn"] = train_stage(
            detector_path, config, "gnn", config.gnn, graph_spec, filter_spec, share, work, progress, nproc
        )
        shutil.copyfile(gnn_ckpt, out / GNN_FILE)
        gnn_spec = {
            "edge_classifier": _classifier_name(config.gnn),
            "checkpoint": str(out / GNN_FILE),
            "prune": False,
        }

    log("[4/5] choosing the track builder and its cuts on the validation events")
    candidates: dict[str, list[dict[str, Any]]] = {}
    if gnn_spec is not None:
        candidates["gnn"] = [graph_spec, *([filter_spec] if filter_spec else []), gnn_spec]
    if filter_spec is not None and (gnn_spec is None or config.gnn.enabled == "auto"):
        candidates["filter"] = [graph_spec, {**filter_spec, "score_cut": 0.0, "prune": False}]
    if not candidates:
        raise DataError("nothing to score edges with: enable the filter or the GNN", file="fit config")
    quality_events = _quality_events(config)
    tracks_report = calibrate_tracks(
        config, candidates, val_events, progress, detector_path, quality_events, out / QUALITY_FILE
    )
    steps["tracks"] = tracks_report
    best = tracks_report["chosen"]
    log(
        f"      {best['scores_from']} scores -> {best['track_builder']} (cut {best['score_cut']}, "
        f"min_hits {best['min_hits']}{_short_rule(best)}): efficiency {best['efficiency']:.4f}, "
        f"fake rate {best['fake_rate']:.4f}, duplicates {best['duplicate_rate']:.4f}"
    )

    log(f"[5/5] writing {out}")
    stages = [dict(s) for s in candidates[best["scores_from"]]]
    stages.append(_track_builder_spec(best, detector_path))
    report["pipeline"] = write_pipeline(out, stages)
    report["validation"] = best["metrics"]
    report["seconds"] = time.perf_counter() - start
    if config.matching.kind == "acts":  # efficiency vs pT and eta
        _plots(best["metrics"], out / "plots", log)
    with atomic_output(out / FIT_FILE) as tmp:
        tmp.write_text(yaml.safe_dump(to_plain(config), sort_keys=False))
    with atomic_output(out / REPORT_FILE) as tmp:
        tmp.write_text(json.dumps(_jsonable(report, inside=out), indent=2))
    if not keep_work:
        shutil.rmtree(work / "cache", ignore_errors=True)
    log(f"done in {report['seconds'] / 60:.1f} min: trackpipe run INPUT -o tracks.root --pipeline {out}")
    return FitResult(out, report)


# -- steps ------------------------------------------------------------------------------------------


def describe_detector(config: FitConfig, path: Path) -> tuple[DetectorDescription, dict[str, Any]]:
    """The detector description (the config's, or fitted from the first training events), saved to ``path``."""
    if config.detector is not None:
        description = load_description(config.detector)
        origin = f"given: {config.detector}"
    else:
        sample = (event for _, event in itertools.islice(iter_source(config.train), config.describe_events))
        description = fit_description(sample, field_tesla=config.field_tesla, name=Path(config.output).name)
        origin = f"fitted on the first {config.describe_events} training events"
    description.save(path)
    return description, {"origin": origin, **description.to_dict()}


def search_map(
    config: FitConfig,
    val_events: list[Event],
    segments: list[np.ndarray],
    progress: bool,
    detector: DetectorDescription | None = None,
) -> tuple[ModuleMap, dict[str, Any]]:
    """The map candidate with the fewest validation edges per event that keeps the target efficiency
    (the most efficient one when none does), and the table of all candidates."""
    from tqdm.auto import tqdm

    m = config.map
    learner = MapLearner(
        m.granularity,
        m.learn_pt_min,
        window_pt_min=m.window_pt_min,
        detector=detector,
        window_vertex_r_max=m.window_vertex_r_max,
    )
    n_train = 0
    for _, event in tqdm(iter_source(config.train), desc="learning map", unit="event", disable=not progress):
        learner.add(event)
        n_train += 1
    if n_train == 0:
        raise DataError("no training events", file=_describe(config.train))
    rows = []
    best: tuple[tuple[bool, float], ModuleMap, dict[str, Any]] | None = None
    grid = list(itertools.product(m.margins, m.min_segments, m.neighbours, m.windows))
    for margin, min_segments, neighbours, windows in tqdm(grid, desc="map candidates", disable=not progress):
        candidate = learner.finish(margin, neighbours=neighbours, min_segments=min_segments, windows=windows)
        row = {
            "margin": margin,
            "min_segments": min_segments,
            "neighbours": neighbours,
            "windows": windows,
            "entries": len(candidate.src),
            **score_map(candidate, val_events, segments),
        }
        rows.append(row)
        reaches = bool(row["efficiency"] >= config.map.target_efficiency)
        # reaching the target first; then fewer edges (reaching) or higher efficiency (not reaching)
        key = (reaches, -row["edges_per_event"] if reaches else row["efficiency"])
        if best is None or key > best[0]:
            best = (key, candidate, row)
    assert best is not None
    return best[1], {"train_events": n_train, "candidates": rows, "chosen": best[2]}


def train_stage(
    detector_path: str,
    config: FitConfig,
    name: str,
    stage: StageFit,
    graph_spec: dict[str, Any],
    pre_filter: dict[str, Any] | None,
    budget_s: float,
    work: Path,
    progress: bool,
    nproc: int = 1,
) -> tuple[Path, dict[str, Any]]:
    """Train ``stage`` on as many training events and epochs (``min_epochs``..``max_epochs``) as
    ``budget_s`` allows. A probe (one epoch on ``probe_events`` events) measures what an event costs to
    prepare and to train on; the plan is then the most events that ``min_epochs`` epochs afford, and the
    most epochs that those events afford. The plan is saved, so that a rerun after a kill resumes it."""
    started = time.perf_counter()
    output = work / name
    if not stage.train:  # the given model as it is
        assert stage.init_from is not None  # StageFit requires it
        output.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stage.init_from, output / "model.pt")
        return output / "model.pt", {"model": dict(stage.model), "init_from": str(stage.init_from), "epochs": 0}
    available = source_length(stage.data or config.train)
    if stage.train_events is not None:
        available = min(available, stage.train_events)
    plan_path = work / f"{name}-plan.json"
    if plan_path.is_file():
        plan = json.loads(plan_path.read_text())
    elif available <= stage.probe_events:  # too few events to probe: the first epoch measures
        plan = {"events": available, "epochs": stage.min_epochs, "extend": True}
    else:
        t0 = time.perf_counter()
        probe_raw = _training_raw(config, stage, graph_spec, pre_filter, detector_path, work, f"{name}-probe")
        _limit(probe_raw, stage.probe_events, epochs=1)
        history = _run_training(probe_raw, work / f"{name}-probe.yaml", nproc, progress, resume=False)
        row = history[-1]
        epoch_s = max(float(row.get("train_seconds", row["seconds"])), 1e-3) / stage.probe_events
        val_s = max(float(row["seconds"]) - epoch_s * stage.probe_events, 0.0)  # validation, per epoch
        # the probe prepared the graphs of its training events and of the validation events (kept in the cache)
        prepared = stage.probe_events + source_length(config.val)
        prepare_s = max(time.perf_counter() - t0 - float(row["seconds"]), 0.0) / prepared
        left = budget_s - (time.perf_counter() - started)
        per_event = prepare_s + stage.min_epochs * epoch_s
        events = int(min(available, max(1, (left - stage.min_epochs * val_s) // per_event)))
        epochs = int((left - events * prepare_s) // (events * epoch_s + val_s))
        plan = {
            "events": events,
            "epochs": min(stage.max_epochs, max(stage.min_epochs, epochs)),
            "extend": False,
            "probe": {
                "events": stage.probe_events,
                "train_s_per_event": epoch_s,
                "prepare_s_per_event": prepare_s,
                "validation_s_per_epoch": val_s,
            },
        }
    with atomic_output(plan_path) as tmp:
        tmp.write_text(json.dumps(plan))
    raw = _training_raw(config, stage, graph_spec, pre_filter, detector_path, work, name)
    _limit(raw, plan["events"], epochs=plan["epochs"])
    history = _run_training(raw, work / f"{name}.yaml", nproc, progress)
    epoch_s = max(float(np.mean([row["seconds"] for row in history])), 1e-3)
    # budget left (the first epoch was the probe, or the machine got faster than the probe measured): resume
    # for as many more epochs as it affords
    left = budget_s - (time.perf_counter() - started)
    if plan["extend"] or left >= epoch_s:
        epochs = int(min(stage.max_epochs, max(stage.min_epochs, len(history) + math.floor(left / epoch_s))))
        if epochs > len(history):
            raw["schedule"]["epochs"] = epochs
            history = _run_training(raw, work / f"{name}.yaml", nproc, progress)
    final = history[-1] if history else {}
    return output / "model.pt", {
        "model": dict(stage.model),
        "init_from": None if stage.init_from is None else str(stage.init_from),
        "data": _describe(stage.data or config.train),
        "train_events": plan["events"],
        "epochs": len(history),
        "seconds_per_epoch": epoch_s,
        "probe": plan.get("probe"),
        "seconds": time.perf_counter() - started,
        "budget_seconds": budget_s,
        "final_epoch": final,
    }


def _training_raw(
    config: FitConfig,
    stage: StageFit,
    graph_spec: dict[str, Any],
    pre_filter: dict[str, Any] | None,
    detector_path: str,
    work: Path,
    name: str,
) -> dict[str, Any]:
    """The plain training config of one learned stage (output ``work/name``)."""
    raw: dict[str, Any] = {
        "output": str(work / name),
        "seed": config.seed,
        "device": config.device,
        "imports": list(config.imports),
        "detector": detector_path,
        "data": {
            "train": _source_plain(stage.data or config.train),
            "val": _source_plain(config.val),
            "cache_dir": str(work / "cache"),
        },
        "graph_builder": graph_spec,
        "pre_filter": pre_filter,
        "model": dict(stage.model),
        "optimizer": {"name": "adamw", "lr": stage.lr, "weight_decay": 1e-4},
        "schedule": {
            "epochs": stage.min_epochs,
            "kind": "cosine",
            "warmup_epochs": 0.1,
            "min_lr_factor": 0.02,
            "steps_per_event": stage.steps_per_event,
        },
        "loss": {
            "pos_weight": stage.pos_weight,
            "target_pt_min": config.target_pt,
            **({"displaced_weight": stage.displaced_weight} if stage.displaced_weight != 1.0 else {}),
            **({"displaced_r_min": stage.displaced_r_min} if stage.displaced_r_min != 1.0 else {}),
            **(
                {"short_weight": stage.short_weight, "short_hits_max": stage.short_hits_max}
                if stage.short_weight != 1.0
                else {}
            ),
            **({"non_target_weight": stage.non_target_weight} if stage.non_target_weight != 1.0 else {}),
            **({"non_target_label": stage.non_target_label} if stage.non_target_label != 0.0 else {}),
        },
    }
    if stage.init_from is not None:
        raw["init_from"] = str(stage.init_from)
    return raw


def _limit(raw: dict[str, Any], events: int, *, epochs: int) -> None:
    """Train on the first ``events`` training events for ``epochs`` epochs (in place)."""
    train = raw["data"]["train"]
    if "simulate" in train:
        train["simulate"] = {**train["simulate"], "n": min(train["simulate"]["n"], events)}
    else:
        train["n"] = min(train.get("n") or events, events)
    raw["schedule"]["epochs"] = epochs


def calibrate_filter(
    config: FitConfig, graph_spec: dict[str, Any], checkpoint: Path, val_events: list[Event], target_pt: float | None
) -> tuple[float, dict[str, Any]]:
    """The filter cut that keeps ``cuts.filter_efficiency`` of the validation target edges, and the
    validation edge efficiency and purity at that cut."""
    stages = _stages([graph_spec, {"edge_classifier": "edge_filter", "checkpoint": str(checkpoint), "prune": False}])
    scored = [_run(stages, event) for event in val_events]
    true_scores = np.concatenate(
        [as_numpy(e.edge_scores)[as_numpy(label_edges(e, target_pt).edge_truth)] for e in scored]
    )
    if not len(true_scores):
        raise DataError("the validation graphs hold no target edges: check the data and map.target_efficiency")
    quantile = float(np.quantile(true_scores, 1.0 - config.cuts.filter_efficiency, method="lower"))
    cut = float(np.nextafter(np.float32(quantile), np.float32(0)))  # scores > cut are kept
    cut = max(cut, 0.0)
    totals = EdgeMetricsAccumulator()
    for event in scored:
        totals.add(edge_metrics(event, score_cut=cut, pt_min=target_pt))
    edges = totals.result()
    edges["edges_per_event"] = edges["n_edges"] / len(scored)
    return cut, {"score_cut": cut, "edges": edges}


def calibrate_tracks(
    config: FitConfig,
    candidates: dict[str, list[dict[str, Any]]],
    val_events: list[Event],
    progress: bool,
    detector_path: str | None = None,
    quality_events: list[Event] | None = None,
    quality_path: Path | None = None,
) -> dict[str, Any]:
    """Score the validation events with each candidate's stages once, then try every track builder,
    score cut and ``min_hits``; then, on the ``cuts.short_rule_settings`` best of those, the short-track
    rule (tracks of fewer than ``short_hits`` hits kept only when their edges' mean score passes
    ``short_score_cut``), and with ``quality_events`` the same rule judged by a track-quality model
    (:mod:`tracking.quality`), one per setting (those best ones and, with ``cuts.quality_looser_cuts``, the
    looser score cuts of the best), trained on that setting's tracks of those events (the chosen one saved
    to ``quality_path``). The
    chosen setting has the highest efficiency at fake rate <= max_fake (the lowest fake rate when none
    reaches it)."""
    from tqdm.auto import tqdm

    if config.cuts.min_hits is None:  # a caller that knows no detector (trackpipe tune)
        config = dataclasses.replace(config, cuts=dataclasses.replace(config.cuts, min_hits=default_min_hits(None)))
    cuts = config.cuts
    assert cuts.min_hits is not None
    rows: list[dict[str, Any]] = []
    scored_by: dict[str, list[Event]] = {}

    def key(row: dict[str, Any]) -> tuple[bool, float, float]:
        efficiency = _finite(row["efficiency"], -1.0)
        fake = _finite(row["fake_rate"], 1.0)
        ok = fake <= config.max_fake
        return (ok, efficiency if ok else -fake, -fake)

    def trial(label: str, setting: dict[str, Any]) -> dict[str, Any]:
        builder = _build_track_builder(setting, detector_path)
        scored = scored_by[label]
        figures, result = track_figures(config, scored, [builder(event).track_labels for event in scored])
        row = {"scores_from": label, **setting, **figures}
        rows.append(row)
        return {**row, "metrics": result}

    best: dict[str, Any] | None = None
    for label, specs in candidates.items():
        stages = _stages(specs)
        scored_by[label] = [_run(stages, e) for e in tqdm(val_events, desc=f"scoring ({label})", disable=not progress)]
        grid = list(itertools.product(cuts.track_builders, cuts.score_cuts, cuts.min_hits))
        for builder_name, cut, min_hits in tqdm(grid, desc=f"track cuts ({label})", disable=not progress):
            setting = {"track_builder": builder_name, "score_cut": cut, "min_hits": min_hits}
            row = trial(label, setting)
            if best is None or key(row) > key(best):
                best = row
    # the short-track rule on the best (scores, builder, cut) settings, from the lowest min_hits
    bases: list[tuple[str, str, float]] = []
    for row in sorted(rows, key=key, reverse=True):
        base = (row["scores_from"], row["track_builder"], row["score_cut"])
        if base not in bases and len(bases) < cuts.short_rule_settings:
            bases.append(base)
    floor = min(cuts.min_hits)

    def short_rule_grid(
        on: list[tuple[str, str, float]], hits: list[int], score_cuts: list[float], desc: str, **extra: Any
    ) -> None:
        nonlocal best
        grid = [(base, h, c) for base in on for h in hits if h > floor for c in score_cuts]
        for (label, builder_name, cut), short_hits, short_cut in tqdm(grid, desc=desc, disable=not progress):
            setting = {"track_builder": builder_name, "score_cut": cut, "min_hits": floor}
            setting.update(short_hits=short_hits, short_score_cut=short_cut, **extra)
            row = trial(label, setting)
            if best is None or key(row) > key(best):
                best = row

    short_rule_grid(bases, cuts.short_hits, cuts.short_score_cuts, "short-track rule")
    # the walk's recovery pass below the cut of the best walk-through settings: alone (every min_hits), then
    # with the short-track rule on the best of them
    walks = [base for base in bases if base[1] == "walkthrough"]
    recovery = [(base, r) for base in walks for r in cuts.recovery_cuts if r < base[2]]
    for (label, builder_name, cut), r in tqdm(recovery, desc="recovery pass", disable=not progress):
        for min_hits in cuts.min_hits:
            setting = {"track_builder": builder_name, "score_cut": cut, "min_hits": min_hits, "recovery_cut": r}
            row = trial(label, setting)
            if best is None or key(row) > key(best):
                best = row
    for r in cuts.recovery_cuts:
        on = [walks[0]] if walks and r < walks[0][2] else []
        short_rule_grid(on, cuts.short_hits, cuts.short_score_cuts, f"recovery {r} + short-track rule", recovery_cut=r)

    models: dict[tuple[str, str, float], Path] = {}
    if quality_events and bases and quality_path is not None:
        # the best settings (and with cuts.quality_looser_cuts the looser cuts of the best): one model per
        # setting, trained on that setting's tracks of the quality events (scored once per candidate)
        label, builder_name, cut = bases[0]
        looser = [(label, builder_name, c) for c in cuts.score_cuts if c < cut] if cuts.quality_looser_cuts else []
        scored_quality: dict[str, list[Event]] = {}
        for base in [*bases, *[b for b in looser if b not in bases]]:
            label, builder_name, cut = base
            if label not in scored_quality:
                stages = _stages(candidates[label])
                scored_quality[label] = [
                    _run(stages, e)
                    for e in tqdm(quality_events, desc=f"track-quality events ({label})", disable=not progress)
                ]
            setting = {"track_builder": builder_name, "score_cut": cut, "min_hits": floor}
            model = train_quality_model(config, setting, scored_quality[label], detector_path)
            if model is None:
                continue
            models[base] = quality_path.with_name(f"{quality_path.stem}-{len(models)}{quality_path.suffix}")
            model.save(models[base])
            short_rule_grid(
                [base], cuts.quality_short_hits, cuts.quality_cuts, "track-quality rule", quality=str(models[base])
            )
    # last, the tracks' extensions (walk-through only): onto hits left on no track over edges above a cut, then
    # onto those on the helix fitted at a track's end; each tried on the best setting and on the walk-through
    # settings that find more particles at up to 1.5 max_fake (an extension removes fakes)
    steps = (
        ("extend_cut", list(cuts.extend_cuts), "track extension"),
        ("extend_helix", [tuple(t) for t in cuts.extend_helix], "helix extension"),
    )
    for name, values, desc in steps:
        if best is None or not values:
            continue
        floor_efficiency = _finite(best["efficiency"], -1.0)
        more = sorted(
            (
                r
                for r in rows
                if r["track_builder"] == "walkthrough"
                and r.get(name) is None
                and _finite(r["efficiency"], -1.0) > floor_efficiency
                and _finite(r["fake_rate"], 1.0) <= 1.5 * config.max_fake
            ),
            key=lambda r: -_finite(r["efficiency"], -1.0),
        )
        extended = [r for r in [best, *more[: cuts.extension_settings]] if r["track_builder"] == "walkthrough"]
        trials = [(r, v) for r in extended for v in values]
        for row_before, value in tqdm(trials, desc=desc, disable=not progress):
            setting = {k: row_before[k] for k in _SETTING_KEYS if row_before.get(k) is not None}
            row = trial(row_before["scores_from"], {**setting, name: value})
            if key(row) > key(best):
                best = row
    if models:
        assert quality_path is not None
        # keep the chosen setting's model as quality_path; the rows of the others say it was not kept
        chosen = best.get("quality") if best is not None else None
        for path in models.values():
            if str(path) == chosen:
                path.replace(quality_path)
            else:
                path.unlink(missing_ok=True)
        for row in [*rows, *([best] if best is not None else [])]:
            if row.get("quality") == chosen and chosen is not None and chosen != str(quality_path):
                row["quality"] = str(quality_path)
            elif row.get("quality") in {str(p) for p in models.values()}:
                row["quality"] = f"not kept (trained for score_cut {row['score_cut']})"
    assert best is not None
    reached = key(best)[0]
    if not reached:
        _stderr(
            f"warning: no setting reached a fake rate <= {config.max_fake}; kept the lowest "
            f"({best['fake_rate']:.4f}). More training budget or a larger max_fake may help."
        )
    return {"candidates": rows, "chosen": best, "reached_max_fake": reached}


def _quality_events(config: FitConfig) -> list[Event]:
    """The last ``cuts.quality_events`` training events (those the models learn from last, or not at all
    when ``train_events`` leaves them out), or the first of ``cuts.quality_data``, with truth."""
    k = config.cuts.quality_events
    if k == 0:
        return []
    source = config.cuts.quality_data or config.train
    n = source_length(source)
    first = 0 if config.cuts.quality_data is not None else max(n - k, 0)
    events = [event.numpy() for _, event in iter_source(source, set(range(first, min(first + k, n))))]
    _require_truth(events, _describe(source))
    return events


def train_quality_model(
    config: FitConfig,
    setting: dict[str, Any],
    scored_events: list[Event],
    detector_path: str | None = None,
) -> Any:
    """A :class:`~tracking.quality.TrackQualityModel` trained on the tracks that the track builder ``setting``
    makes of ``scored_events`` (events with truth, scored by the pipeline's edge classifiers; real = matched
    to a particle by double majority); None when those tracks are all real or all fake (nothing to learn)."""
    from ..metrics.tracks import match_tracks
    from ..quality import fit_track_quality, track_features

    builder = _build_track_builder(setting, detector_path)
    matching = TrackMatchConfig(pt_min=None, min_particle_hits=1, min_track_hits=1)
    features, real = [], []
    for scored in scored_events:
        labels = as_numpy(builder(scored).track_labels)
        features.append(track_features(scored.x, scored.y, scored.z, scored.edge_index, scored.edge_scores, labels))
        result = match_tracks(scored, labels, matching)
        matched = np.zeros(int(labels.max(initial=-1)) + 1, dtype=bool)
        matched[result.track_id] = result.track_matched
        real.append(matched)
    y = np.concatenate(real) if real else np.zeros(0, dtype=bool)
    if len(y) == 0 or y.all() or not y.any():
        return None
    cuts = config.cuts
    return fit_track_quality(
        np.concatenate(features), y, hidden=cuts.quality_hidden, steps=cuts.quality_steps, seed=config.seed
    )


def track_figures(config: FitConfig, events: list[Event], labels: list[Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """``({efficiency, fake_rate, duplicate_rate}, full result)`` of track labels under the fit's
    matching: ACTS double majority (fake and duplicate rates), or LHCb (the category's efficiency, the
    ghost rate as fake rate, the category's clone rate as duplicate rate)."""
    m = config.matching
    if m.kind == "lhcb":
        lhcb = LhcbMetrics(LhcbMatchConfig())
        for event, event_labels in zip(events, labels, strict=True):
            lhcb.add(event, event_labels)
        result = lhcb.result()
        category = result["categories"].get(m.category)
        if category is None:
            known = ", ".join(result["categories"]) or "(none)"
            raise DataError(
                f"matching.category {m.category!r} cannot be evaluated on these events "
                f"(evaluated: {known}; skipped: {result['categories_skipped']})",
                file="fit config",
            )
        figures = {
            "efficiency": category["efficiency"],
            "fake_rate": result["ghost_rate"],
            "duplicate_rate": category["clone_rate"],
        }
        return figures, result
    metrics = TrackMetrics(
        config=TrackMatchConfig(
            pt_min=m.pt_min,
            min_particle_hits=m.min_particle_hits,
            eta_max=m.eta_max,
            double_majority=m.double_majority,
            min_track_hits=min(config.cuts.min_hits or default_min_hits(None)),
        )
    )
    for event, event_labels in zip(events, labels, strict=True):
        metrics.add(event, event_labels)
    result = metrics.result()
    return {k: result[k] for k in ("efficiency", "fake_rate", "duplicate_rate")}, result


def write_pipeline(directory: Path, stages: list[dict[str, Any]]) -> dict[str, Any]:
    """``pipeline.yaml`` with the stages' file paths made relative to ``directory``."""
    plain = []
    for spec in stages:
        spec = dict(spec)
        for key in ("map", "checkpoint", "detector", "quality"):
            if key in spec:
                spec[key] = str(Path(spec[key]).resolve().relative_to(directory.resolve()))
        plain.append(spec)
    pipeline = {"device": "auto", "stages": plain}
    with atomic_output(directory / PIPELINE_FILE) as tmp:
        tmp.write_text(
            "# written by trackpipe fit; paths are relative to this file\n" + yaml.safe_dump(pipeline, sort_keys=False)
        )
    return pipeline


# -- helpers ----------------------------------------------------------------------------------------


def _run_training(
    raw: dict[str, Any], config_path: Path, nproc: int, progress: bool, resume: bool = True
) -> list[dict[str, Any]]:
    """Train from the plain config ``raw`` (written to ``config_path`` first: the exact config, for reruns
    by hand) in this process, or as ``nproc`` DDP processes; returns the per-epoch history."""
    config = parse_config(raw)  # validates before anything runs
    with atomic_output(config_path) as tmp:
        tmp.write_text(yaml.safe_dump(raw, sort_keys=False))
    if nproc == 1:
        return train(config, resume=resume, progress=progress).history
    from ..distributed import launch_local

    args = [str(config_path), *([] if progress else ["--quiet"]), *([] if resume else ["--no-resume"])]
    status = launch_local("tracking.training", args, nproc)
    if status != 0:
        raise DataError(f"training with {nproc} processes failed (exit status {status})", file=str(config_path))
    metrics = Path(raw["output"]) / "metrics.jsonl"
    return [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]


def _describe(source: SourceConfig) -> str:
    if source.simulate is not None:
        s = source.simulate
        extra = "" if s.secondary_fraction is None else f", {s.secondary_fraction:g} displaced per primary"
        if s.interaction_probability:
            extra += f", hadronic interactions {s.interaction_probability:g} per layer"
        return f"{s.n} simulated events (mu {s.mu:g}, seed {s.seed}{extra})"
    first = source.first or 0
    rng = f" events {first}..{first + source.n - 1}" if source.n else (f" from event {first}" if first else "")
    return f"{source.path}{rng}"


def _own_data(stage: StageFit) -> str:
    """' on <its events>' when a trained stage has its own ``data:``, else ''."""
    return f" on {_describe(stage.data)}" if stage.data is not None and stage.train else ""


def _source_plain(source: SourceConfig) -> dict[str, Any]:
    plain = to_plain(source)
    return {k: v for k, v in plain.items() if v is not None}


def _require_truth(events: list[Event], where: str) -> None:
    missing = [e.event_id for e in events if e.particle_id is None]
    if missing:
        raise DataError(f"fitting needs truth (particle_id per hit); event {missing[0]} has none", file=where)


def _target_segments(event: Event, pt_min: float | None) -> np.ndarray:
    from ..truth import segments_above_pt

    segments = truth_segments(event)
    if pt_min is None or not pt_min > 0:
        return segments
    return segments_above_pt(event, segments, pt_min)


def _graph_spec(config: FitConfig, map_path: Path) -> dict[str, Any]:
    if config.map.granularity == "layer":
        return {"graph_builder": "layer_pairs", "map": str(map_path)}
    # the map was learned on this detector's own numbering: never guess module ids from positions
    return {"graph_builder": "module_map", "map": str(map_path), "module_ids": "file"}


def _classifier_name(stage: StageFit) -> str:
    name = str(stage.model["name"])
    if name not in ("edge_filter", "interaction_gnn"):
        # the edge-classifier stages load these two model kinds; another model would need its own stage
        raise DataError(f"fit can deploy edge_filter or interaction_gnn models, not {name!r}", file="fit config")
    return name


# the keys of a track-builder setting in the rows of calibrate_tracks (the rest are its figures)
_SETTING_KEYS = (
    "track_builder",
    "score_cut",
    "min_hits",
    "short_hits",
    "short_score_cut",
    "quality",
    "recovery_cut",
    "extend_cut",
)


def _track_builder_spec(best: dict[str, Any], detector_path: str | None) -> dict[str, Any]:
    spec = {"track_builder": best["track_builder"], "score_cut": best["score_cut"], "min_hits": best["min_hits"]}
    if best.get("short_hits"):
        spec.update(short_hits=best["short_hits"], short_score_cut=best["short_score_cut"])
    if best.get("quality"):
        spec["quality"] = best["quality"]
    if best.get("recovery_cut") is not None:
        spec["recovery_cut"] = best["recovery_cut"]
    if best.get("extend_cut") is not None:
        spec["extend_cut"] = best["extend_cut"]
    if best.get("extend_helix") is not None:
        spec["extend_helix"] = [float(t) for t in best["extend_helix"]]
    if best["track_builder"] == "walkthrough" and detector_path is not None:
        spec["detector"] = detector_path  # walks start where this detector's tracks start
    return spec


def _short_rule(setting: dict[str, Any]) -> str:
    recovery = f", recovery pass {setting['recovery_cut']}" if setting.get("recovery_cut") is not None else ""
    extension = f", extended over edges > {setting['extend_cut']}" if setting.get("extend_cut") is not None else ""
    if setting.get("extend_helix") is not None:
        xy, z = setting["extend_helix"]
        extension += f", extended onto its helix (within {xy:g} mm in x-y, {z:g} mm in z)"
    if not setting.get("short_hits"):
        return recovery + extension
    judged = "track-quality probability" if setting.get("quality") else "mean edge score"
    rule = f", tracks < {setting['short_hits']} hits need {judged} > {setting['short_score_cut']}"
    return recovery + rule + extension


def _build_track_builder(setting: dict[str, Any], detector_path: str | None) -> Any:
    return _stages([_track_builder_spec(setting, detector_path)])[0]


def _stages(specs: list[dict[str, Any]]) -> list[Any]:
    from ..pipeline import build_stage

    return [build_stage(spec, index=i)[1] for i, spec in enumerate(specs)]


def _run(stages: list[Any], event: Event) -> Event:
    for stage in stages:
        event = stage(event)
    return event.numpy()


def _finite(value: Any, default: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else default


def _plots(result: dict[str, Any], directory: Path, log: Log) -> None:
    try:
        from ..metrics.plots import plot_track_metrics

        plot_track_metrics(result, directory)
    except ImportError as err:  # matplotlib is an extra: the fit is complete without plots
        log(f"      no plots ({err})")


def _jsonable(value: Any, inside: Path | None = None) -> Any:
    """Plain JSON data; with ``inside``, the paths of files in that directory relative to it (the report
    travels with the pipeline directory, as pipeline.yaml's paths do)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, inside) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, inside) for v in value]
    if inside is not None and isinstance(value, (str, Path)) and str(value).startswith(f"{inside}{os.sep}"):
        return str(Path(value).relative_to(inside))
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value
