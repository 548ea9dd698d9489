"""Model export for other frameworks: TorchScript and ONNX edge classifiers in the ACTS GNN plugin's
conventions, the module map as CSV, Triton model repositories (``trackpipe export``; ``docs/export.md``),
and the onnxruntime backend of the edge classifiers (:mod:`.ort_backend`)."""

from .exporter import FORMATS, ExportedModel, example_graph, export_pipeline, write_module_map_csv
from .features_model import HIT_COLUMNS, EdgeClassifierWithFeatures, ModelOnly, triplet_best_dense
from .module_map_csv import read_module_map_csv

__all__ = [
    "FORMATS",
    "HIT_COLUMNS",
    "EdgeClassifierWithFeatures",
    "ExportedModel",
    "ModelOnly",
    "example_graph",
    "export_pipeline",
    "read_module_map_csv",
    "triplet_best_dense",
    "write_module_map_csv",
]
