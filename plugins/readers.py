"""Readers: ACTS ROOT files and TrackML CSV -> events (issue 3)."""

from tracking.io.acts_root import ActsRootReader
from tracking.io.trackml_csv import TrackmlCsvReader
from tracking.registry import register

register("reader", "acts_root")(ActsRootReader)
register("reader", "trackml_csv")(TrackmlCsvReader)

__all__ = ["ActsRootReader", "TrackmlCsvReader"]
