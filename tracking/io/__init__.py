"""Event I/O: ACTS ROOT and CSV files, TrackML CSV, generic Parquet/CSV tables, tracks.root / parquet.

``write_events`` and ``event_from_columns`` are the two calls a converter of a new format needs
(docs/your-detector.md).
"""

from .columnar import event_from_columns
from .write import write_events

__all__ = ["event_from_columns", "write_events"]
