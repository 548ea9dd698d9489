"""MetricEmbedding and embedding_hinge_loss against a hand-written formula."""

from __future__ import annotations

import pytest
import torch

from tracking.nn import MetricEmbedding, embedding_hinge_loss
from tracking.nn.embedding import nearest_pairs


def test_embedding_is_unit_norm():
    torch.manual_seed(0)
    model = MetricEmbedding(embedding_dim=6, hidden=16, n_layers=2)
    y = model(torch.randn(20, 4))
    assert y.shape == (20, 6)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(20))


def test_loss_formula_with_given_negatives():
    emb = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.3], [1.0, 0.0]], requires_grad=True)
    true = torch.tensor([[0], [1]])
    # (1, 0) is the true pair reversed and (2, 2) a self pair: both must be dropped from the negatives.
    negatives = torch.tensor([[0, 0, 1, 2], [2, 3, 0, 2]])
    loss = embedding_hinge_loss(emb, true, margin=0.5, n_random=0, hard_negatives=negatives, positive_weight=2.0)
    d_true = 0.1**2
    d_neg = [0.3**2, 1.0]
    want = 2.0 * d_true + sum(max(0.0, 0.25 - d) for d in d_neg) / len(d_neg)
    assert loss.item() == pytest.approx(want, rel=1e-6)
    loss.backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0


def test_random_negatives_are_reproducible_and_exclude_true_pairs():
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(50, 3), dim=1)
    true = torch.stack([torch.arange(0, 49), torch.arange(1, 50)])
    a = embedding_hinge_loss(emb, true, 0.3, 200, generator=torch.Generator().manual_seed(4))
    b = embedding_hinge_loss(emb, true, 0.3, 200, generator=torch.Generator().manual_seed(4))
    assert a.item() == b.item()


def test_hard_negatives_find_close_non_true_pairs():
    emb = torch.tensor([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0], [-1.0, 0.0]])
    emb = torch.nn.functional.normalize(emb, dim=1)
    assert sorted(map(tuple, nearest_pairs(emb, 1).T.tolist()))[:2] == [(0, 1), (1, 0)]
    no_true = torch.zeros(2, 0, dtype=torch.int64)
    hard = embedding_hinge_loss(emb, no_true, margin=0.2, n_random=0, hard_negatives=1)
    d01 = ((emb[0] - emb[1]) ** 2).sum().item()
    assert hard.item() == pytest.approx(0.04 - d01, rel=1e-5)
    # the same pair declared true is no longer a negative
    assert embedding_hinge_loss(emb, torch.tensor([[0], [1]]), 0.2, 0, hard_negatives=1).item() == pytest.approx(d01)


def test_no_pairs_gives_attached_zero():
    emb = torch.randn(3, 2, requires_grad=True)
    loss = embedding_hinge_loss(emb, torch.zeros(2, 0, dtype=torch.int64), 0.1, 0)
    assert loss.item() == 0.0
    loss.backward()


def test_training_pulls_true_pairs_together():
    torch.manual_seed(0)
    model = MetricEmbedding(node_features=2, embedding_dim=4, hidden=32, n_layers=3)
    centers = torch.randn(10, 2) * 3
    x = centers.repeat_interleave(4, 0) + 0.05 * torch.randn(40, 2)
    true = torch.stack([torch.arange(40)[torch.arange(40) % 4 != 3], torch.arange(40)[torch.arange(40) % 4 != 0]])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(120):
        opt.zero_grad()
        loss = embedding_hinge_loss(model(x), true, margin=0.5, n_random=200, hard_negatives=3, generator=g)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        emb = model(x)
    dist = torch.cdist(emb, emb)
    cluster = torch.arange(40) // 4
    same = cluster[:, None] == cluster[None, :]
    # true neighbours end up inside the margin, hits of other clusters mostly outside
    assert (dist[true[0], true[1]] < 0.5).float().mean() > 0.95
    assert (dist[~same] < 0.5).float().mean() < 0.1
    assert losses[-1] < losses[0]


def test_errors():
    emb = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="true_pairs"):
        embedding_hinge_loss(emb, torch.zeros(3, dtype=torch.int64), 0.1, 0)
    with pytest.raises(ValueError, match="margin"):
        embedding_hinge_loss(emb, torch.zeros(2, 0, dtype=torch.int64), 0.0, 0)
