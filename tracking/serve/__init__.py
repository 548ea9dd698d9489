"""Inference as a service: ``trackpipe serve`` deploys a pipeline on Ray Serve (docs/serving.md).

:mod:`.wire` (the HTTP format), :mod:`.batching` (several events through the edge classifiers at once)
and :mod:`.metrics` need no Ray; :mod:`.app` (the deployments) imports Ray, from the ``serve`` extra.
"""
