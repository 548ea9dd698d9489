"""Readers: ACTS ROOT files, ACTS CSV, TrackML CSV and generic Parquet/CSV tables -> events (issues 3, 14)."""

from tracking.io.acts_csv import ActsCsvReader
from tracking.io.acts_root import ActsRootReader
from tracking.io.columnar import ColumnarReader
from tracking.io.trackml_csv import TrackmlCsvReader
from tracking.registry import register

register("reader", "acts_root")(ActsRootReader)
register("reader", "acts_csv")(ActsCsvReader)
register("reader", "columnar")(ColumnarReader)
register("reader", "trackml_csv")(TrackmlCsvReader)

__all__ = ["ActsCsvReader", "ActsRootReader", "ColumnarReader", "TrackmlCsvReader"]
