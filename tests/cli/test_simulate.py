"""``trackpipe simulate --detector``: the real-module detector writes events that real-TrackML tools accept."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from tracking.cli import main
from tracking.io.trackml_csv import read_trackml_csv


def test_simulate_trackml_detector_writes_real_module_ids(tmp_path, trackml_dir):
    out = tmp_path / "sim"
    result = CliRunner().invoke(main, ["simulate", "--detector", "trackml", "--mu", "3", "--seed", "5", "--format",
                                       "csv", "-o", str(out), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    # The reader checks every hit's module against the real TrackML detectors file.
    (event,) = read_trackml_csv(out, detectors=str(trackml_dir / "detectors.csv.gz"))
    assert event.num_hits > 100
    real = pd.read_csv(trackml_dir / "detectors.csv.gz", usecols=["volume_id", "layer_id", "module_id"])
    keys = set(map(tuple, real.to_numpy().tolist()))
    ours = set(zip(event.volume_id.tolist(), event.layer_id.tolist(), event.module_id.tolist()))
    assert ours <= keys
    assert np.any(event.particle_id != 0)


def test_simulate_rejects_unknown_detector(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--detector", "atlas", "-o", str(tmp_path)])
    assert result.exit_code != 0
    assert "tiled" in result.output and "trackml" in result.output


def test_simulate_secondaries_option(tmp_path):
    """--secondaries sets the share of displaced particles (barcode generation 1): none with 0, many with 1."""
    from tracking.io.barcode import decode_barcode

    generations = {}
    for value in ("0", "1"):
        out = tmp_path / value
        args = ["simulate", "--mu", "5", "--seed", "2", "--secondaries", value, "--format", "csv", "-o", str(out)]
        result = CliRunner().invoke(main, [*args, "--no-progress"])
        assert result.exit_code == 0, result.output
        (event,) = read_trackml_csv(out)
        pid = event.particle_id[event.particle_id != 0]
        generations[value] = decode_barcode(pid)["generation"]
    assert not generations["0"].any()
    assert (generations["1"] == 1).mean() > 0.05
    result = CliRunner().invoke(
        main, ["simulate", "--engine", "acts", "--secondaries", "0.1", "-o", str(tmp_path / "a")]
    )
    assert result.exit_code != 0 and "builtin engine" in result.output
