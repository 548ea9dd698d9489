"""The realism section: skipped without the real files, rows of sim/real ratios with them."""

from __future__ import annotations

import pytest

from tracking.benchmarks import bench_realism
from tracking.benchmarks.common import SkipBenchmark


def test_skipped_without_real_data(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKPIPE_TRACKML_DIR", str(tmp_path))
    with pytest.raises(SkipBenchmark, match="TRACKPIPE_TRACKML_DIR"):
        bench_realism.run(quick=True)


@pytest.mark.slow
def test_rows_cover_volumes_layers_overlaps_and_eta_bins(trackml_dir, monkeypatch):
    monkeypatch.setenv("TRACKPIPE_TRACKML_DIR", str(trackml_dir))
    rows = bench_realism.run(quick=True)
    assert len(rows) == 9 + 48 + 1 + 8
    assert all(row.unit == "" and 0.3 < row.ours_s < 3.0 for row in rows)
    overlap = next(row for row in rows if row.name.startswith("same-layer"))
    assert overlap.extra is not None and overlap.extra["within_25pct"]
