"""The first-party models, registered as plugins of kind ``model``: checkpoints name them, the edge
classifiers and graph builders load them, and ``trackpipe train`` trains the edge classifiers among them
(the contract a trainable model follows is in :mod:`tracking.training.models`).

A third-party model registers the same way, on its own class::

    @tracking.registry.register("model", "my_gnn")
    class MyGNN(torch.nn.Module): ...
"""

from __future__ import annotations

from tracking.nn import EdgeFilter, InteractionGNN, MetricEmbedding
from tracking.registry import register

register("model", "interaction_gnn")(InteractionGNN)
register("model", "edge_filter")(EdgeFilter)
register("model", "metric_embedding")(MetricEmbedding)
