"""Model checkpoints: one file per model, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a ``torch.save`` of a plain dict::

    {"format": 1, "model": "InteractionGNN", "hparams": {...}, "state_dict": {...}, "extra": {...}}

``hparams`` are the model's constructor arguments (plain types), so the file alone rebuilds the model
without pickled classes or code; ``extra`` holds whatever the caller adds (training step, metrics,
optimiser state): plain types and tensors only, so loading never executes pickled code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import DataError
from ..atomic import atomic_output
from .edge_filter import EdgeFilter
from .embedding import MetricEmbedding
from .interaction_gnn import InteractionGNN

CHECKPOINT_FORMAT = 1
MODEL_CLASSES: dict[str, type[nn.Module]] = {}
_PLAIN = (str, int, float, bool, type(None))

M = TypeVar("M", bound=type)


def register_model(cls: M) -> M:
    """Make ``cls`` loadable by name from checkpoints. It needs a ``hparams`` property returning its
    constructor arguments as plain types. Usable as a class decorator by third-party models."""
    name = cls.__name__
    existing = MODEL_CLASSES.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"model class name {name!r} is already registered by {existing.__module__}")
    if not isinstance(getattr(cls, "hparams", None), property):
        raise TypeError(f"model class {name} needs a `hparams` property returning its constructor arguments")
    MODEL_CLASSES[name] = cls
    return cls


for _cls in (InteractionGNN, EdgeFilter, MetricEmbedding):
    register_model(_cls)


def _check_plain(value: Any, where: str, *, tensors: bool) -> None:
    if isinstance(value, _PLAIN) or (tensors and isinstance(value, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]", tensors=tensors)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; use str or int keys")
            _check_plain(item, f"{where}[{key!r}]", tensors=tensors)
        return
    allowed = "str, int, float, bool, None, list, tuple, dict" + (", torch.Tensor" if tensors else "")
    raise TypeError(f"{where} is a {type(value).__name__}; checkpoints hold only {allowed}")


def save_model(model: nn.Module, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (class name, hyperparameters, weights on CPU) and ``extra`` to ``path`` atomically.

    Returns the path. Raises ``TypeError`` when the model class is not registered or ``extra`` holds
    something other than plain types and tensors.
    """
    name = type(model).__name__
    if MODEL_CLASSES.get(name) is not type(model):
        raise TypeError(
            f"cannot save a {name}: not a registered model class ({', '.join(MODEL_CLASSES)}); "
            "decorate it with tracking.nn.checkpoint.register_model"
        )
    hparams = model.hparams  # type: ignore[attr-defined]
    _check_plain(hparams, f"{name}.hparams", tensors=False)
    extra = dict(extra or {})
    _check_plain(extra, "extra", tensors=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": name,
        "hparams": dict(hparams),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    target = Path(path)
    with atomic_output(target) as tmp:
        torch.save(payload, tmp)
    return target


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """The validated checkpoint dict of ``path`` (``torch.load(weights_only=True)``).

    Raises ``FileNotFoundError`` when missing and :class:`~tracking.errors.DataError` (naming the file)
    when it is not a readable trackpipe checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise DataError(f"cannot read checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})", file=str(path)) from err
    if not isinstance(payload, dict) or "format" not in payload:
        raise DataError("not a trackpipe checkpoint (no 'format' key)", file=str(path))
    if payload["format"] != CHECKPOINT_FORMAT:
        raise DataError(
            f"checkpoint format {payload['format']!r} is not supported (this trackpipe reads format {CHECKPOINT_FORMAT})",
            file=str(path),
        )
    for key, kind in (("model", str), ("hparams", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(payload.get(key), kind):
            raise DataError(f"checkpoint key {key!r} is missing or not a {kind.__name__}", file=str(path))
    return payload


def load_model(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> nn.Module:
    """Rebuild the model saved in ``path`` (in eval mode, weights on ``map_location``).

    The checkpoint's ``extra`` dict is available as ``model.checkpoint_extra``. Errors name the file:
    ``FileNotFoundError`` when missing, :class:`~tracking.errors.DataError` when corrupt, of an unknown
    model class, or when its weights do not fit its hyperparameters.
    """
    payload = read_checkpoint(path, map_location)
    name = payload["model"]
    cls = MODEL_CLASSES.get(name)
    if cls is None:
        raise DataError(f"unknown model class {name!r}; known: {', '.join(sorted(MODEL_CLASSES))}", file=str(path))
    try:
        model = cls(**payload["hparams"])
    except (TypeError, ValueError) as err:
        raise DataError(f"cannot build {name} from its hyperparameters: {err}", file=str(path)) from err
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise DataError(f"weights do not fit {name}{payload['hparams']}: {err}", file=str(path)) from err
    if map_location is not None:
        model.to(map_location)
    model.checkpoint_extra = payload["extra"]  # type: ignore[attr-defined]
    return model.eval()
