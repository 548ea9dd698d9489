"""Threshold-free edge-classifier figures from binned scores: ROC AUC and the efficiency reachable at a
purity (with the cut that reaches it).

Scores are binned as logits (:data:`LOGIT_RANGE`, :data:`N_BINS`), so that the histograms of several
events, or of several DDP ranks, are added before the figures are taken: the AUC of the sum is the AUC
over all edges, which an average of per-event AUCs is not. Bins of 0.01 in logit keep the AUC exact up
to ties inside a bin (counted as half, as ``sklearn.metrics.roc_auc_score`` counts equal scores).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["LOGIT_RANGE", "N_BINS", "auc", "efficiency_at_purity", "logit_histogram"]

LOGIT_RANGE = 16.0  # logits beyond +-16 (scores within 1e-7 of 0 or 1) share the end bins
N_BINS = 3200


def logit_histogram(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Counts ``[2, N_BINS]`` (float64; row 0 false edges, row 1 true edges) of ``logits`` by ``truth``."""
    scaled = (logits.detach().double().clamp(-LOGIT_RANGE, LOGIT_RANGE) + LOGIT_RANGE) * (N_BINS / (2 * LOGIT_RANGE))
    index = scaled.long().clamp_(0, N_BINS - 1) + N_BINS * truth.long()
    return torch.bincount(index, minlength=2 * N_BINS).double().view(2, N_BINS)


def auc(histogram: np.ndarray) -> float:
    """Area under the ROC curve: P(a true edge scores above a false one); NaN without both classes."""
    false, true = np.asarray(histogram, dtype=np.float64)
    n_false, n_true = false.sum(), true.sum()
    if n_false == 0 or n_true == 0:
        return float("nan")
    false_below = np.cumsum(false) - false
    return float((true * (false_below + 0.5 * false)).sum() / (n_true * n_false))


def efficiency_at_purity(histogram: np.ndarray, purity: float) -> tuple[float, float]:
    """``(efficiency, cut)``: the largest fraction of true edges kept by a score cut at a bin edge whose
    kept edges have at least ``purity``, and that cut as a score; ``(0.0, 1.0)`` when no cut reaches
    the purity, NaN efficiency without true edges."""
    false, true = np.asarray(histogram, dtype=np.float64)
    n_true = true.sum()
    if n_true == 0:
        return float("nan"), float("nan")
    kept_true = np.cumsum(true[::-1])[::-1]  # edges in bin >= i pass a cut at bin i's lower edge
    kept_false = np.cumsum(false[::-1])[::-1]
    reach = (kept_true > 0) & (kept_true >= purity * (kept_true + kept_false))
    if not reach.any():
        return 0.0, 1.0
    first = int(np.flatnonzero(reach)[0])  # kept_true only falls with i: the loosest such cut keeps most
    lower = -LOGIT_RANGE + first * (2 * LOGIT_RANGE / N_BINS)
    cut = 0.0 if first == 0 else 1.0 / (1.0 + math.exp(-lower))
    return float(kept_true[first] / n_true), cut
