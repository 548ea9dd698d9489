"""Model checkpoints: one file per model, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a ``torch.save`` of a plain dict::

    {"format": 2, "model": "interaction_gnn", "hparams": {...}, "state_dict": {...}, "extra": {...}}

``model`` is the model's name in the plugin registry (kind ``model``, see ``plugins/models.py``), so
any registered model, first- or third-party, saves and loads the same way; format 1 files stored the
class name (``"InteractionGNN"``) and still load. ``hparams`` are the model's constructor arguments
(plain types), so the file alone rebuilds the model without pickled classes or code; ``extra`` holds
whatever the caller adds (training step, metrics, optimiser state): plain types and tensors only, so
loading never executes pickled code.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import registry
from ..atomic import atomic_output
from ..errors import DataError, PluginError

CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)  # 1: "model" is the class name
_PLAIN = (str, int, float, bool, type(None))


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


def save_model(model: nn.Module, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (registry name, hyperparameters, weights on CPU) and ``extra`` to ``path`` atomically.

    Returns the path. Raises ``TypeError`` when the model class is not registered or ``extra`` holds
    something other than plain types and tensors.
    """
    try:
        name = registry.model_name(type(model))
    except PluginError as err:
        raise TypeError(f"cannot save a {type(model).__name__}: {err}") from err
    hparams: dict[str, Any] = model.hparams  # type: ignore[assignment]
    _check_plain(hparams, f"{type(model).__name__}.hparams", tensors=False)
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


# What torch.load(weights_only=True) says when a file holds pickled objects beyond tensors and plain types.
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"


def _code_refusal(torch_message: str) -> str:
    """trackpipe's own words for a checkpoint that holds pickled objects (torch's advice to set
    weights_only=False is exactly what a user must not do with a file of unknown origin)."""
    found = re.search(r"GLOBAL (\S+)", torch_message)
    what = f" ({found.group(1)})" if found else ""
    return (
        f"refused: the checkpoint holds pickled Python objects{what} besides tensors and plain values, and "
        "loading them could execute arbitrary code. trackpipe loads only tensors and plain values. If the file "
        "comes from a source you trust, re-save it once: in a trusted Python session load it with "
        "torch.load(PATH, weights_only=False), rebuild the model (a registered trackpipe model) and write it "
        "with tracking.nn.save_model(model, NEW_PATH), which stores only its name, hyperparameters and weights"
    )


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """The validated checkpoint dict of ``path`` (``torch.load(weights_only=True)``).

    Raises ``FileNotFoundError`` when missing and :class:`~tracking.errors.DataError` (naming the file)
    when it is not a readable trackpipe checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if WEIGHTS_ONLY_REFUSAL in str(err):
            raise DataError(_code_refusal(str(err)), file=str(path)) from None
        raise DataError(
            f"cannot read checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})", file=str(path)
        ) from err
    except Exception as err:
        raise DataError(
            f"cannot read checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})", file=str(path)
        ) from err
    if not isinstance(payload, dict) or "format" not in payload:
        raise DataError("not a trackpipe checkpoint (no 'format' key)", file=str(path))
    if payload["format"] not in READABLE_FORMATS:
        raise DataError(
            f"checkpoint format {payload['format']!r} is not supported "
            f"(this trackpipe reads formats {', '.join(map(str, READABLE_FORMATS))})",
            file=str(path),
        )
    for key, kind in (("model", str), ("hparams", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(payload.get(key), kind):
            raise DataError(f"checkpoint key {key!r} is missing or not a {kind.__name__}", file=str(path))
    return payload


def checkpoint_model(payload: dict[str, Any], path: str | os.PathLike[str]) -> registry.PluginInfo:
    """The registered model a checkpoint dict (from :func:`read_checkpoint`) holds; a
    :class:`~tracking.errors.DataError` naming ``path`` when it is not registered."""
    name = payload["model"]
    if payload["format"] == 1:
        info = registry.model_by_class_name(name)
    else:
        try:
            info = registry.get("model", name)
        except PluginError:
            info = None
    if info is None:
        known = ", ".join(f"{i.name} ({i.cls.__name__})" for i in registry.available("model"))
        raise DataError(
            f"unknown model class {name!r}; known: {known or '(none)'}; a third-party model must be imported "
            "(registered with tracking.registry.register('model', NAME)) before its checkpoint loads",
            file=str(path),
        )
    return info


def load_model(path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu") -> nn.Module:
    """Rebuild the model saved in ``path`` (in eval mode, weights on ``map_location``).

    The checkpoint's ``extra`` dict is available as ``model.checkpoint_extra``. Errors name the file:
    ``FileNotFoundError`` when missing, :class:`~tracking.errors.DataError` when corrupt, of an unknown
    model, or when its weights do not fit its hyperparameters.
    """
    payload = read_checkpoint(path, map_location)
    info = checkpoint_model(payload, path)
    name = info.cls.__name__
    try:
        model = info.cls(**payload["hparams"])
    except (TypeError, ValueError) as err:
        raise DataError(f"cannot build {name} from its hyperparameters: {err}", file=str(path)) from err
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise DataError(f"weights do not fit {name}{payload['hparams']}: {err}", file=str(path)) from err
    if map_location is not None:
        model.to(map_location)
    model.checkpoint_extra = payload["extra"]
    return model.eval()
