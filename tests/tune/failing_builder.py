"""A graph builder for the tuning tests: the training tests' (eta, phi) pair builder, which raises when
its ``fail`` option is set, so that one point of a search space is a trial that fails while training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracking.registry import register
from tracking.stages import Stage
from tracking.training.config import import_modules

import_modules([str(Path(__file__).parents[1] / "training" / "toy_graph_builder.py")])


@register("graph_builder", "tune_test_pairs")
class FailingPairs(Stage):
    """Test-only graph builder: hit pairs close in (eta, phi); raises when ``fail`` is true."""

    @dataclass
    class Config:
        radius: float = 0.03
        fail: bool = False

    def __call__(self, event):
        if self.config.fail:
            raise RuntimeError("tune_test_pairs: failing on purpose (fail: true)")
        from tracking import registry

        inner = registry.create("graph_builder", "training_test_eta_phi_pairs", {"radius": self.config.radius})
        return inner(event)
