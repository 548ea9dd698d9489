"""How an edge classifier runs at inference: arithmetic precision and ``torch.compile``, chosen per
stage (``precision:`` and ``compile:`` of the ``edge_classifier`` stages).

``precision``:

- ``fp32``: float32 throughout; the models' :meth:`infer` gives the scores of their ``forward`` bit for bit.
- ``bf16``: ``torch.autocast`` to bfloat16 (matrix products in bf16, normalisations in float32). It pays
  where the device computes bf16 natively (:func:`tracking.accel.bf16_fast`: AMX / AVX512-BF16 CPUs,
  CUDA GPUs that support it); elsewhere it still runs, emulated and slower, with a warning.
- ``auto`` (default): bf16 on a CUDA GPU that supports it, float32 on every CPU. On the CPU auto keeps
  float32 so that the default pipeline gives the same tracks on every machine (the reference-tracks test);
  bf16 flips ~0.07 % of the GNN's edges at its cut (105 of 157k on a mu = 200 event) and is opt-in there.

``compile``: ``on`` wraps the model's ``forward`` in ``torch.compile`` (inductor; needs a C compiler on the
CPU): a compilation that fails warns and falls back to eager inference. ``auto`` (default) and ``off``
run eager: measured on the CPU (one thread, the default filter on 300k edges of a mu = 200 graph in
16k-edge blocks), compiling cost ~20 CPU seconds (~2 wall minutes on this shared machine) and saved
between 0 and 0.17 s of 0.47-0.51 s in two repeats (so at most ~0.6 s of a 1.1M-edge event): not worth it
for runs of tens of events; the cache-blocked eager inference already removes most of the memory traffic
that fusion would save.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch

from .. import accel

Precision = Literal["auto", "fp32", "bf16"]
Compile = Literal["auto", "on", "off"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
COMPILE_MODES: tuple[str, ...] = ("auto", "on", "off")

__all__ = ["COMPILE_MODES", "PRECISIONS", "Compile", "InferenceRunner", "Precision", "resolve_precision"]


def resolve_precision(precision: str, device: torch.device | str) -> Literal["fp32", "bf16"]:
    """The precision that ``precision`` means on ``device`` (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
    dev = torch.device(device)
    if precision == "auto":
        return "bf16" if dev.type == "cuda" and accel.bf16_fast(dev) else "fp32"
    return "bf16" if precision == "bf16" else "fp32"


@contextlib.contextmanager
def precision_context(precision: Literal["fp32", "bf16"], device: torch.device) -> Iterator[None]:
    """``torch.autocast`` to bfloat16 on ``device`` for ``bf16``; nothing for ``fp32``."""
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


class InferenceRunner:
    """Calls an edge classifier's fastest inference path under the configured precision and compilation.

    ``model.infer`` (the blocked, bit-identical path of the first-party models) when the model has one,
    else ``model``; with ``compile="on"`` a ``torch.compile`` of the model, falling back to eager (with a
    warning) when compilation fails, e.g. without a C compiler.
    """

    def __init__(self, model: torch.nn.Module, precision: str = "auto", compile: str = "auto", label: str = "") -> None:
        if compile not in COMPILE_MODES:
            raise ValueError(f"compile={compile!r}: expected one of {', '.join(COMPILE_MODES)}")
        resolve_precision(precision, "cpu")  # validates
        self.model, self.precision, self.compile, self.label = model, precision, compile, label
        self._compiled: Callable[..., torch.Tensor] | None = None
        self._warned_emulated = False

    def precision_on(self, device: torch.device) -> Literal["fp32", "bf16"]:
        """The precision used on ``device``."""
        return resolve_precision(self.precision, device)

    def __call__(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None) -> torch.Tensor:
        precision = self.precision_on(x.device)
        if precision == "bf16" and not accel.bf16_fast(x.device) and not self._warned_emulated:
            self._warned_emulated = True
            warnings.warn(
                f"{self.label}: precision bf16 on {x.device}, which has no native bfloat16 (no AMX / "
                "AVX512-BF16): emulated, slower than fp32",
                RuntimeWarning,
                stacklevel=2,
            )
        with precision_context(precision, x.device):
            if self.compile == "on":
                return self._call_compiled(x, edge_index, edge_attr)
            return self._eager(x, edge_index, edge_attr)

    def _eager(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None) -> torch.Tensor:
        infer = getattr(self.model, "infer", None)
        return infer(x, edge_index, edge_attr) if infer is not None else self.model(x, edge_index, edge_attr)

    def _call_compiled(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None) -> Any:
        if self._compiled is None:
            self._compiled = torch.compile(self.model, dynamic=True)
        try:
            return self._compiled(x, edge_index, edge_attr)
        except Exception as err:  # noqa: BLE001 - inductor raises many kinds (no compiler, unsupported op)
            warnings.warn(
                f"{self.label}: torch.compile failed ({type(err).__name__}: {str(err).strip()[:200]}); "
                "running eager instead",
                RuntimeWarning,
                stacklevel=3,
            )
            self.compile = "off"
            return self._eager(x, edge_index, edge_attr)
