"""What a study leaves behind: the table of trials, ``summary.json`` (best value, parameters, seed and
directory, parameter importances), ``best.yaml`` (the best trial's training config, ready for
``trackpipe train``), ``trials.csv`` and plots (optimisation history, parallel coordinates,
importances; PNG through matplotlib when the ``plots`` extra is installed)."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_output
from .study import TRIAL_CONFIG, optuna_module


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One plain row per trial: number, state, value, parameters, seed, seconds, directory, error."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": trial.number, "state": trial.state.name.lower(), "value": trial.value}
        row.update(trial.params)
        row["epochs"] = trial.last_step
        row["seed"] = trial.user_attrs.get("seed")
        row["seconds"] = round(trial.duration.total_seconds(), 1) if trial.duration else None
        if trial.user_attrs.get("stale"):
            row["note"] = "killed; queued again"
        elif "retry_of" in trial.user_attrs:
            row["note"] = f"resumes trial {trial.user_attrs['retry_of']}"
        elif "error" in trial.user_attrs:
            row["note"] = trial.user_attrs["error"]
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def format_table(study: Any) -> str:
    """The trials as an aligned text table, the best trial marked ``*``, then the best value."""
    rows = trial_rows(study)
    metric = study.user_attrs.get("metric", "value")
    if not rows:
        return f"study {study.study_name}: no trials yet"
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns and key != "note"]
    columns.append("note")
    best = _best_trial(study)
    lines = [["", *[metric if c == "value" else c for c in columns]]]
    for row in rows:
        mark = "*" if best is not None and row["trial"] == best.number else ""
        lines.append([mark, *[_cell(row.get(c)) if c != "note" else row.get("note", "")[:60] for c in columns]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    tally = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    footer = f"study {study.study_name}: {len(rows)} trials ({tally})"
    if best is not None:
        footer += f"; best {metric} = {best.value:.5g} (trial {best.number})"
    return text + "\n" + footer


def _best_trial(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no complete trial
        return None


def importances(study: Any) -> dict[str, float] | None:
    """Parameter importances (Optuna's default evaluator) over the complete trials, None when too few
    trials or parameters vary to tell."""
    optuna = optuna_module()
    with warnings.catch_warnings():
        # experimental evaluators, and "too few trials to tell apart" notes: the figures say as much
        warnings.simplefilter("ignore")
        try:
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (ValueError, RuntimeError, ZeroDivisionError):
            return None


def write_report(study: Any, output: Path, *, plots: bool = True) -> dict[str, Any]:
    """summary.json, trials.csv, best.yaml and plots/ in ``output``; returns the summary."""
    output.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study)
    best = _best_trial(study)
    summary: dict[str, Any] = {
        "study": study.study_name,
        "metric": study.user_attrs.get("metric"),
        "direction": study.direction.name.lower(),
        "trials": len(rows),
        "states": {state: sum(r["state"] == state for r in rows) for state in sorted({r["state"] for r in rows})},
        "best": None,
        "importances": importances(study),
        "plots": [],
    }
    if best is not None:
        summary["best"] = {
            "trial": best.number,
            "value": best.value,
            "params": best.params,
            "seed": best.user_attrs.get("seed"),
            "dir": best.user_attrs.get("dir"),
            "config": str(output / "best.yaml"),
        }
        kind = study.user_attrs.get("kind", "train")
        _write_best_config(Path(best.user_attrs["dir"]) / TRIAL_CONFIG, output, best, study.study_name, kind)
    _write_csv(rows, output / "trials.csv")
    if plots:
        summary["plots"], note = write_plots(study, output / "plots")
        if note:
            summary["plots_note"] = note
    with atomic_output(output / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _write_best_config(trial_config: Path, output: Path, best: Any, study_name: str, kind: str = "train") -> None:
    raw = yaml.safe_load(trial_config.read_text())
    raw["output"] = str(output / "best")
    command = f"trackpipe {'fit --config' if kind == 'fit' else 'train'} {output / 'best.yaml'}"
    header = (
        f"# best trial {best.number} of study {study_name}: value {best.value:.6g}, seed {raw.get('seed')}\n"
        f"# the same config and seed reproduce it: {command}\n"
    )
    with atomic_output(output / "best.yaml") as tmp:
        tmp.write_text(header + yaml.safe_dump(raw, sort_keys=False))


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(path) as tmp:
        tmp.write_text(buffer.getvalue())


def write_plots(study: Any, directory: Path) -> tuple[list[str], str | None]:
    """PNG plots of the study; ``([], note)`` when matplotlib is missing or too few trials finished."""
    try:
        import matplotlib
    except ImportError:
        return [], 'plots skipped: matplotlib is not installed (`pip install "trackpipe[plots]"`)'
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    optuna = optuna_module()
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return [], "plots skipped: no complete trial"
    vis = optuna.visualization.matplotlib
    makers: dict[str, Any] = {"history": vis.plot_optimization_history}
    if study.get_trials(deepcopy=False) and len(complete) >= 2:
        makers["parallel_coordinates"] = vis.plot_parallel_coordinate
        makers["importances"] = vis.plot_param_importances
    directory.mkdir(parents=True, exist_ok=True)
    written, notes = [], []
    for name, make in makers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
            try:
                axes = make(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as err:
                notes.append(f"{name}: {err}")
                continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
        path = directory / f"{name}.png"
        with atomic_output(path, suffix=".png") as tmp:
            figure.savefig(tmp, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(str(path))
    return written, ("; ".join(notes) or None)
