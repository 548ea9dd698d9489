"""Readers: ACTS ROOT files and TrackML CSV -> events (issue 3)."""
