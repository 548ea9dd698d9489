"""Which reader plugin understands an input path."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .acts_csv import find_acts_csv_events, is_acts_csv_file
from .columnar import is_columnar_hits_file
from .trackml_names import is_hits_file, parse_name


def reader_for(path: str | os.PathLike) -> str:
    """``acts_root`` for a directory holding ``measurements.root`` or a ``.root`` file; ``acts_csv`` for a
    directory of ``event#########-measurements.csv`` files (ACTS CSV; they come with ``-hits.csv`` sim hits, so
    this is asked before TrackML) or one such file; ``columnar`` for Parquet hit tables (``*hits*.parquet``) or
    ``hits.csv[.gz]`` (what ``write_events`` writes), or one such file; ``trackml_csv`` for a directory of
    ``event#########-hits.csv[.gz]`` files or one such file / event prefix. DataError otherwise."""
    p = Path(path)
    if p.is_dir():
        if (p / "measurements.root").is_file():
            return "acts_root"
        if find_acts_csv_events(p):
            return "acts_csv"
        if any(is_columnar_hits_file(c.name) for c in p.iterdir()):
            return "columnar"
        if any(is_hits_file(c.name) for c in p.iterdir()):
            return "trackml_csv"
        raise DataError(
            "neither ACTS files (measurements.root, event#########-measurements.csv), hit tables "
            "(hits.parquet, hits.csv) nor TrackML CSV (event#########-hits.csv[.gz]) found",
            file=str(p),
        )
    if p.suffix == ".root" and p.is_file():
        return "acts_root"
    if is_acts_csv_file(p.name) and p.is_file():
        return "acts_csv"
    if p.is_file() and (is_columnar_hits_file(p.name) or p.name.lower().endswith((".parquet", ".pq"))):
        return "columnar"
    if parse_name(p.name) is not None and (p.is_file() or any(p.parent.glob(p.name + "-hits.csv*"))):
        return "trackml_csv"
    if not p.exists():
        raise DataError("input not found", file=str(p))
    raise DataError("unrecognised input: expected an ACTS directory / .root file or TrackML CSV", file=str(p))
