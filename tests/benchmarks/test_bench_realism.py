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
    assert len(rows) == 9 + 48 + 1 + 8 + 8
    short = [row for row in rows if row.name.startswith("share of pT>1 GeV particles")]
    ratios = [row for row in rows if row not in short]
    assert all(row.unit == "" and 0.3 < row.ours_s < 3.0 for row in ratios)
    # the share of particles that stop early: real event 1000 has them in every |eta| bin, the default
    # simulation none (no hadronic interactions unless interaction_probability is set)
    assert len(short) == 8 and all(row.extra is not None for row in short)
    assert all(row.extra["real"] > 0 and row.extra["sim"] == 0 for row in short)
    overlap = next(row for row in rows if row.name.startswith("same-layer"))
    assert overlap.extra is not None and overlap.extra["within_25pct"]
