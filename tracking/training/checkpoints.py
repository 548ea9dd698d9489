"""What a training run writes to its output directory, and how a rerun resumes from it.

``checkpoint.pt`` (after every epoch: model, optimiser, RNG state, metrics history, pos_weight),
``metrics.jsonl`` (one row per epoch), and at the end ``model.pt`` (loadable as the ``checkpoint:`` of
the edge classifiers) and ``summary.json``. All written atomically by rank 0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_output
from ..errors import ConfigError
from ..nn import read_checkpoint, save_model
from ..nn.checkpoint import checkpoint_model
from .config import TrainConfig

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
SUMMARY_NAME = "summary.json"


@dataclass
class ResumeState:
    """Where a run starts: after ``epoch`` epochs, with their metrics ``history``."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    pos_weight: float | None = None  # the resumed run's class weight (None: compute it)


def resume_from_checkpoint(output: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> ResumeState:
    """Load ``output/checkpoint.pt`` into ``model``, ``optimizer`` and torch's RNG; a fresh state when
    there is none. A checkpoint of another model or other hyperparameters is a :class:`ConfigError`."""
    path = output / CHECKPOINT_NAME
    if not path.is_file():
        return ResumeState()
    payload = read_checkpoint(path, map_location="cpu")
    saved = checkpoint_model(payload, path)
    if saved.cls is not type(model) or payload["hparams"] != model.hparams:
        raise ConfigError(
            f"{path} holds a {saved.name}{payload['hparams']}, but the config asks for "
            f"{type(model).__name__}{model.hparams}; use --no-resume or another output directory"
        )
    model.load_state_dict(payload["state_dict"])
    extra = payload["extra"]
    optimizer.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["rng"])
    pos_weight = extra.get("pos_weight")
    return ResumeState(int(extra["epoch"]), list(extra["history"]), None if pos_weight is None else float(pos_weight))


def clear_previous_run(output: Path) -> None:
    """Remove the outputs of an earlier run (``--no-resume``); the graph cache stays."""
    for name in (CHECKPOINT_NAME, METRICS_NAME, MODEL_NAME, SUMMARY_NAME):
        (output / name).unlink(missing_ok=True)


def save_epoch(
    output: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    history: list[dict[str, Any]],
    pos_weight: float,
    config: TrainConfig,
) -> None:
    """The checkpoint after ``len(history)`` epochs, and the metrics so far."""
    save_model(
        model,
        output / CHECKPOINT_NAME,
        extra={
            "epoch": len(history),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "history": history,
            "pos_weight": pos_weight,
            "config": config.to_plain(),
            "detector": config.description().to_dict(),
        },
    )
    with atomic_output(output / METRICS_NAME) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in history))


def save_final(
    output: Path, model: nn.Module, history: list[dict[str, Any]], config: TrainConfig, summary: dict[str, Any]
) -> None:
    """``model.pt`` (the trained model with its history and config) and ``summary.json``."""
    extra = {
        "training": {"history": history, "config": config.to_plain()},
        "detector": config.description().to_dict(),  # the features' scales: the stage that loads it uses them
    }
    save_model(model, output / MODEL_NAME, extra=extra)
    with atomic_output(output / SUMMARY_NAME) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")


def param_digest(model: nn.Module) -> str:
    """sha256 of every parameter's bytes in name order: equal digests mean bitwise-equal weights."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
