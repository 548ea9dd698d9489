"""Event I/O: ACTS ROOT files, TrackML CSV, tracks.root / parquet."""
