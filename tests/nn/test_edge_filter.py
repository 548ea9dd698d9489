"""EdgeFilter: per-edge MLP, so its logits equal the network applied to each edge alone."""

from __future__ import annotations

import pytest
import torch

from tracking.nn import EdgeFilter


def test_logits_are_per_edge_and_chunkable():
    torch.manual_seed(0)
    model = EdgeFilter(hidden=16, n_layers=3).eval()
    x = torch.randn(30, 4)
    ei = torch.randint(0, 30, (2, 90))
    ea = torch.randn(90, 10)
    out = model(x, ei, ea)
    assert out.shape == (90,)
    want = model.network(torch.cat([x[ei[0]], x[ei[1]], ea], dim=1)).squeeze(1)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(torch.cat([model(x, ei[:, :40], ea[:40]), model(x, ei[:, 40:], ea[40:])]), out)


def test_empty_no_edge_features_and_gradients():
    torch.manual_seed(0)
    model = EdgeFilter(edge_features=0, hidden=8, n_layers=2)
    x = torch.randn(5, 4)
    assert model(x, torch.zeros(2, 0, dtype=torch.int64)).shape == (0,)
    model(x, torch.tensor([[0, 1], [2, 3]])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_errors():
    model = EdgeFilter()
    with pytest.raises(ValueError, match="edge_attr"):
        model(torch.zeros(3, 4), torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="x must"):
        model(torch.zeros(3, 5), torch.zeros(2, 2, dtype=torch.int64), torch.zeros(2, 10))
    with pytest.raises(ValueError, match="n_layers"):
        EdgeFilter(n_layers=0)
