"""A small graph builder for the training tests, independent of the native graph builders: every
pair of hits within ``radius`` in (eta, phi), directed inner -> outer in r, with 1 < |dr| < 400 mm.
Imported by the test configs through ``imports:`` so spawned ranks register it too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from tracking.registry import register
from tracking.stages import Stage


@register("graph_builder", "training_test_eta_phi_pairs")
class EtaPhiPairs(Stage):
    """Test-only toy graph builder: hit pairs close in (eta, phi), inner -> outer."""

    @dataclass
    class Config:
        radius: float = 0.03

    def __call__(self, event):
        eta = np.asarray(event.eta.cpu() if isinstance(event.eta, torch.Tensor) else event.eta, dtype=np.float64)
        phi = np.asarray(event.phi.cpu() if isinstance(event.phi, torch.Tensor) else event.phi, dtype=np.float64)
        r = np.asarray(event.r.cpu() if isinstance(event.r, torch.Tensor) else event.r, dtype=np.float64)
        pairs = cKDTree(np.stack([eta, phi], 1)).query_pairs(self.config.radius, output_type="ndarray").T
        a, b = pairs[0], pairs[1]
        swap = r[a] > r[b]
        src, dst = np.where(swap, b, a), np.where(swap, a, b)
        dr = r[dst] - r[src]
        keep = (dr > 1) & (dr < 400)
        order = np.lexsort((dst[keep], src[keep]))
        edge_index = torch.from_numpy(np.stack([src[keep][order], dst[keep][order]]).astype(np.int64))
        return event.replace(edge_index=edge_index.to(self.device))
