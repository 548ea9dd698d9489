"""Writers: events with tracks -> tracks.root / parquet (issue 3)."""
