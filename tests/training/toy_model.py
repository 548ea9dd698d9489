"""A third-party model for the training tests, registered the way any package registers its own and
imported by the test configs through ``imports:``: an MLP on the edge features only."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tracking.registry import register


@register("model", "training_test_toy_scorer")
class ToyScorer(nn.Module):
    """Test-only edge classifier: a two-layer MLP on the first ``edge_features`` edge features."""

    def __init__(self, edge_features: int = 7, width: int = 4) -> None:
        super().__init__()
        self.edge_features, self.width = edge_features, width
        self.mlp = nn.Sequential(nn.Linear(edge_features, width), nn.Tanh(), nn.Linear(width, 1))

    @property
    def hparams(self) -> dict[str, Any]:
        return {"edge_features": self.edge_features, "width": self.width}

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return self.mlp(edge_attr).squeeze(-1)
