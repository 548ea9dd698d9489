"""Scoring a tracks file against truth events: what ``trackpipe evaluate`` does, as a library.

Events are matched by event number (``event_nr`` in the tracks file, ``Event.event_id`` in the truth)
and hits by id (``measurement_id`` == ``Event.hit_id``); truth hits absent from the tracks file are on
no track. Per event: track matching (:mod:`.tracks`) and the TrackML score (:mod:`.trackml_score`);
over the run: summed counts, then rates, and the mean of the per-event TrackML scores (as the TrackML
leaderboard averages events; events whose weights are all zero have no score and are left out).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_output
from ..errors import DataError
from ..event import Event, lookup_rows
from ..io.trackml_names import find_event_file
from ..io.tracks import TrackRecord, TracksFile
from ._ratio import ratio
from .lhcb import LhcbMatchConfig, LhcbMetrics
from .trackml_score import trackml_score
from .tracks import TrackMatchConfig, TrackMetrics


def attach_tracks(event: Event, record: TrackRecord, *, source: str | None = None) -> Event:
    """``event`` with ``track_labels`` taken from ``record`` by matching measurement_id to hit_id.

    Truth hits the record does not list get -1; a measurement_id that is not a hit of the event, or
    that appears twice, is a :class:`DataError` naming the file and event.
    """
    hit_id = np.asarray(event.numpy().hit_id, dtype=np.int64)
    mid = record.measurement_id
    labels = np.full(len(hit_id), -1, dtype=np.int64)
    if len(mid) == 0:
        return event.replace(track_labels=labels)
    rows, found = lookup_rows(hit_id, mid)
    if not found.all():
        unknown = ~found
        raise DataError(
            f"{int(unknown.sum())} measurement_id(s) are not hits of the truth event, "
            f"first {int(mid[np.argmax(unknown)])}",
            file=source,
            branch="measurement_id",
            event=event.event_id,
        )
    if len(np.unique(rows)) != len(rows):
        raise DataError(
            "a measurement_id appears more than once", file=source, branch="measurement_id", event=event.event_id
        )
    labels[rows] = record.track_id
    return event.replace(track_labels=labels)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def paired_events(
    events: Iterable[Event],
    tracks: TracksFile | Mapping[int, TrackRecord],
    skipped: list[int],
    *,
    source: str | None = None,
) -> Iterator[Event]:
    """The truth ``events`` that ``tracks`` has, as numpy events with its ``track_labels``.

    Truth events without tracks are appended to ``skipped``; a truth event seen twice, one without
    ``particle_id``, or (at the end) an event of ``tracks`` missing from the truth is a DataError.
    """
    wanted = set(int(n) for n in (tracks.event_numbers if isinstance(tracks, TracksFile) else tracks.keys()))
    seen: set[int] = set()
    for event in events:
        if event.event_id not in wanted:
            skipped.append(event.event_id)
            continue
        if event.event_id in seen:
            raise DataError("the truth has this event twice", event=event.event_id)
        seen.add(event.event_id)
        if event.particle_id is None:
            raise DataError("the truth event has no particle_id", event=event.event_id)
        yield attach_tracks(event.numpy(), tracks[event.event_id], source=source)
    missing = sorted(wanted - seen)
    if missing:
        raise DataError(
            f"{len(missing)} event(s) of the tracks file have no truth event, first {missing[0]}",
            file=source,
            event=missing[0],
        )


def evaluate_tracks_lhcb(
    events: Iterable[Event],
    tracks: TracksFile | Mapping[int, TrackRecord],
    config: LhcbMatchConfig | None = None,
    *,
    source: str | None = None,
) -> dict[str, Any]:
    """Score ``tracks`` against the truth ``events`` with LHCb matching (:mod:`.lhcb`).

    Returns the :meth:`LhcbMetrics.result` dict plus ``truth_events_without_tracks`` and ``events``
    (per-event counts).
    """
    metrics = LhcbMetrics(config)
    skipped: list[int] = []
    per_event: list[dict[str, Any]] = []
    for event in paired_events(events, tracks, skipped, source=source):
        counts = metrics.add(event)
        per_event.append({"event": event.event_id, "n_hits": event.num_hits, **counts})
    result = metrics.result()
    result["truth_events_without_tracks"] = skipped
    result["events"] = per_event
    return result


def evaluate_tracks(
    events: Iterable[Event],
    tracks: TracksFile | Mapping[int, TrackRecord],
    config: TrackMatchConfig | None = None,
    *,
    weights_for: Callable[[Event], np.ndarray | None] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Score ``tracks`` against the truth ``events`` (module docstring).

    Args:
        events: truth events (with ``particle_id`` and, for a pT cut, ``particles``).
        tracks: a :class:`TracksFile`, or a mapping event number -> :class:`TrackRecord`.
        config: matching cuts (default :class:`TrackMatchConfig`, ACTS defaults).
        weights_for: per-event TrackML hit weights (e.g. the truth ``weight`` column); None or a None
            result -> ``event.meta["weight"]`` or weights computed from truth.
        source: the tracks file's name, for error messages.

    Returns:
        The :meth:`TrackMetrics.result` dict plus ``trackml_score``, ``n_scored_events``,
        ``truth_events_without_tracks`` and ``events`` (per-event figures). Every event of ``tracks``
        must appear in ``events`` (else :class:`DataError`).
    """
    metrics = TrackMetrics(config)
    skipped: list[int] = []
    per_event: list[dict[str, Any]] = []
    scores: list[float] = []
    for event in paired_events(events, tracks, skipped, source=source):
        matching = metrics.add(event)
        weights = weights_for(event) if weights_for is not None else None
        score = trackml_score(event, weights=weights)
        if math.isfinite(score):
            scores.append(score)
        c = matching.counts()
        per_event.append(
            {
                "event": event.event_id,
                "n_hits": event.num_hits,
                **c,
                "efficiency": ratio(c["n_reconstructed"], c["n_reconstructable"]),
                "fake_rate": ratio(c["n_fake_tracks"], c["n_tracks"]),
                "trackml_score": score,
            }
        )
    result = metrics.result()
    result["trackml_score"] = float(np.mean(scores)) if scores else float("nan")
    result["n_scored_events"] = len(scores)
    result["truth_events_without_tracks"] = skipped
    result["events"] = per_event
    return result


# -- files -------------------------------------------------------------------------------------------


def truth_reader_name(directory: str | os.PathLike) -> str:
    """The reader of the truth directory, as ``trackpipe run`` chooses it (:func:`tracking.io.detect.reader_for`:
    ACTS ROOT or CSV, TrackML CSV, Parquet/CSV tables); DataError when it holds none of them."""
    from ..io.detect import reader_for

    path = Path(directory)
    if not path.is_dir():
        raise DataError("truth directory not found", file=str(path))
    return reader_for(path)


def trackml_truth_weights(directory: str | os.PathLike) -> Callable[[Event], np.ndarray | None]:
    """Per-event lookup of the ``weight`` column of ``event#########-truth.csv[.gz]``, aligned by hit_id
    (None when the file or the column is absent)."""
    import pandas as pd

    root = Path(directory)

    def lookup(event: Event) -> np.ndarray | None:
        if event.meta.get("weight") is not None:
            return None
        path = find_event_file(root, event.event_id, "truth")
        if path is None:
            return None
        header = pd.read_csv(path, nrows=0).columns
        if "weight" not in header or "hit_id" not in header:
            return None
        truth = pd.read_csv(path, usecols=["hit_id", "weight"])
        table = pd.Series(truth["weight"].to_numpy(np.float64), index=truth["hit_id"].to_numpy(np.int64))
        weights = table.reindex(np.asarray(event.hit_id, dtype=np.int64)).to_numpy()
        if np.isnan(weights).any():
            raise DataError("hits without a truth weight", file=str(path), branch="weight", event=event.event_id)
        return weights

    return lookup


MATCHINGS = ("acts", "lhcb")


def evaluate_files(
    tracks_path: str | os.PathLike,
    truth_dir: str | os.PathLike,
    config: TrackMatchConfig | LhcbMatchConfig | None = None,
    *,
    matching: str = "acts",
    reader: str | None = None,
) -> dict[str, Any]:
    """Score a tracks file (ROOT or parquet) against the truth in ``truth_dir``.

    Args:
        matching: ``acts`` (double majority, :mod:`.tracks`; ``config`` a TrackMatchConfig) or ``lhcb``
            (70 % of the track's hits, ghosts, clones, categories, :mod:`.lhcb`; ``config`` an
            LhcbMatchConfig).
        reader: the registered reader of the truth (default: ``acts_root`` or ``trackml_csv`` by what
            ``truth_dir`` holds); it must take the config keys ``events`` and ``truth``.
    """
    from .. import registry

    if matching not in MATCHINGS:
        raise ValueError(f"matching must be one of {', '.join(MATCHINGS)}, got {matching!r}")
    expected = LhcbMatchConfig if matching == "lhcb" else TrackMatchConfig
    if config is not None and not isinstance(config, expected):
        raise ValueError(f"matching {matching!r} takes a {expected.__name__}, got {type(config).__name__}")
    tracks = TracksFile(tracks_path)
    name = reader or truth_reader_name(truth_dir)
    truth_reader = registry.create("reader", name, {"events": tracks.event_numbers, "truth": True})
    events = truth_reader(truth_dir) if len(tracks) else iter(())
    if matching == "lhcb":
        assert config is None or isinstance(config, LhcbMatchConfig)
        result = evaluate_tracks_lhcb(events, tracks, config, source=str(tracks_path))
    else:
        assert config is None or isinstance(config, TrackMatchConfig)
        weights_for = trackml_truth_weights(truth_dir) if name == "trackml_csv" else None
        result = evaluate_tracks(events, tracks, config, weights_for=weights_for, source=str(tracks_path))
    result["tracks_file"] = str(tracks_path)
    result["truth"] = {"directory": str(truth_dir), "reader": name}
    return result


def write_json(result: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """The result as JSON (NaN -> null), written atomically."""
    target = Path(path)
    with atomic_output(target) as tmp:
        tmp.write_text(json.dumps(_finite_or_none(dict(result)), indent=2) + "\n")
    return target


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f} %"


#: The production-radius groups of the summary (mm from the beam line): prompt, displaced within the first
#: layers, and produced at or beyond 200 mm (large-radius tracking).
VERTEX_R_GROUPS: tuple[tuple[str, float, float], ...] = (
    ("prompt (< 1 mm)", 0.0, 1.0),
    ("1-200 mm", 1.0, 200.0),
    (">= 200 mm", 200.0, math.inf),
)


def vertex_r_summary(result: Mapping[str, Any]) -> str | None:
    """``efficiency (particles)`` per production-radius group of ``efficiency_vs_vertex_r`` (each bin goes to
    the group of its lower edge); None when the result has no such histogram or no particle in it."""
    binned = result.get("efficiency_vs_vertex_r")
    if not binned or not sum(binned["total"]):
        return None
    lower = np.asarray(binned["edges"][:-1], dtype=np.float64)
    matched, total = np.asarray(binned["matched"]), np.asarray(binned["total"])
    parts = []
    for name, lo, hi in VERTEX_R_GROUPS:
        sel = (lower >= lo) & (lower < hi)
        n = int(total[sel].sum())
        if n:
            parts.append(f"{name} {_pct(int(matched[sel].sum()) / n)} of {n}")
    return ", ".join(parts)


def format_lhcb_summary(result: Mapping[str, Any]) -> str:
    """A plain-text table of an LHCb-matching result: ghosts, then one row per category."""
    cfg = result.get("config", {})
    lines = [
        f"events    {result['n_events']}",
        f"matching  LHCb, >= {100 * cfg.get('matching_fraction', 0.7):g} % of a track's hits from one particle",
        f"tracks    {result['n_tracks']}, ghosts {result['n_ghosts']} "
        f"(ghost rate {_pct(result['ghost_rate'])}, event average {_pct(result['ghost_rate_event_average'])})",
    ]
    categories = result.get("categories", {})
    if categories:
        width = max(len(name) for name in categories)
        lines.append(
            f"{'category':<{width}}  {'reconstructed':>20}  {'efficiency':>10}  {'clones':>6}  {'clone rate':>10}"
            f"  {'hit purity':>10}  {'hit eff.':>10}"
        )
        for name, c in categories.items():
            reco = f"{c['n_reconstructed']} / {c['n_particles']}"
            lines.append(
                f"{name:<{width}}  {reco:>20}  {_pct(c['efficiency']):>10}  {c['n_clones']:>6}"
                f"  {_pct(c['clone_rate']):>10}  {_pct(c['hit_purity']):>10}  {_pct(c['hit_efficiency']):>10}"
            )
    for name, why in result.get("categories_skipped", {}).items():
        lines.append(f"category {name!r} not evaluated: {why}")
    return "\n".join(lines)


def format_summary(result: Mapping[str, Any]) -> str:
    """A plain-text table of the headline figures (of either matching)."""
    if result.get("matching") == "lhcb":
        return format_lhcb_summary(result)
    cfg = result.get("config", {})
    pt_min = cfg.get("pt_min")
    matching = "double majority" if cfg.get("double_majority", True) else "single majority"

    score = result.get("trackml_score", float("nan"))
    rows = [
        ("events", f"{result['n_events']}"),
        ("matching", f"{matching}, > {cfg.get('matching_fraction', 0.5):g}"),
        (
            "reconstructable particles",
            f"{result['n_reconstructable']} (pT > {pt_min} GeV, >= {cfg.get('min_particle_hits')} hits)"
            if pt_min
            else f"{result['n_reconstructable']} (no pT cut)",
        ),
        ("reconstructed particles", f"{result['n_reconstructed']}"),
        (f"tracks (>= {cfg.get('min_track_hits')} hits)", f"{result['n_tracks']}"),
        (
            "matched / fake / duplicate",
            f"{result['n_matched_tracks']} / {result['n_fake_tracks']} / {result['n_duplicate_tracks']}",
        ),
        ("efficiency", _pct(result["efficiency"])),
        *([("  by production vertex r", by_r)] if (by_r := vertex_r_summary(result)) else []),
        ("fake rate", _pct(result["fake_rate"])),
        ("duplicate rate", _pct(result["duplicate_rate"])),
        ("TrackML score", "n/a" if not math.isfinite(score) else f"{score:.4f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
