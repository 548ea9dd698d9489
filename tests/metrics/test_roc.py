"""Binned ROC figures against exact ones computed edge by edge."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata

from tracking.metrics import roc


def _scores(n=20000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    truth = torch.rand(n, generator=generator) < 0.3
    logits = torch.randn(n, generator=generator) + 1.5 * truth
    return logits, truth


def test_auc_matches_the_rank_statistic():
    logits, truth = _scores()
    ranks = rankdata(logits.numpy())
    n_true = int(truth.sum())
    n_false = len(truth) - n_true
    exact = (ranks[truth.numpy()].sum() - n_true * (n_true + 1) / 2) / (n_true * n_false)
    assert abs(roc.auc(roc.logit_histogram(logits, truth).numpy()) - exact) < 1e-4


def test_histograms_add_up_over_parts():
    logits, truth = _scores()
    whole = roc.logit_histogram(logits, truth)
    parts = roc.logit_histogram(logits[:7000], truth[:7000]) + roc.logit_histogram(logits[7000:], truth[7000:])
    assert torch.equal(whole, parts) and whole.sum() == len(truth)


def test_efficiency_at_purity_is_the_best_cut():
    logits, truth = _scores(seed=1)
    efficiency, cut = roc.efficiency_at_purity(roc.logit_histogram(logits, truth).numpy(), 0.8)
    scores, t = torch.sigmoid(logits).numpy(), truth.numpy()
    kept = scores >= cut
    assert (t & kept).sum() / kept.sum() >= 0.8
    assert abs((t & kept).sum() / t.sum() - efficiency) < 1e-3
    # no looser cut (any score below it) reaches the purity with more efficiency
    for looser in np.linspace(0.01, cut - 0.01, 30):
        kept = scores >= looser
        assert (t & kept).sum() / kept.sum() < 0.8 or (t & kept).sum() / t.sum() <= efficiency + 1e-3


def test_degenerate_inputs():
    only_false = roc.logit_histogram(torch.zeros(5), torch.zeros(5, dtype=torch.bool)).numpy()
    assert np.isnan(roc.auc(only_false)) and np.isnan(roc.efficiency_at_purity(only_false, 0.9)[0])
    mixed = roc.logit_histogram(torch.zeros(4), torch.tensor([True, False, True, False])).numpy()
    assert roc.auc(mixed) == 0.5 and roc.efficiency_at_purity(mixed, 0.9) == (0.0, 1.0)
