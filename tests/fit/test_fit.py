"""``trackpipe fit``: configuration errors, and a tiny fit end to end whose directory runs anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tracking.arrays import as_numpy
from tracking.cli import main
from tracking.errors import ConfigError
from tracking.fit import load_fit_config
from tracking.pipeline import Pipeline
from tracking.simulation import simulate_event

TINY_SOURCE = {"simulate": {"n": 4, "mu": 5, "seed": 100}}
TINY = {
    "train": {"simulate": {"n": 3, "mu": 5, "seed": 100}},
    "val": {"simulate": {"n": 2, "mu": 5, "seed": 200}},
    "budget_minutes": 0.05,
    "device": "cpu",
    "map": {"granularity": "layer", "margins": [0.0, 0.1], "min_segments": [1, 2]},
    "filter": {  # probes on one event, then plans (the GNN has too few events to probe: its first epoch does)
        "max_epochs": 1,
        "probe_events": 1,
        "steps_per_event": 2,
        "model": {"name": "edge_filter", "hidden": 16, "n_layers": 2},
    },
    "gnn": {
        "max_epochs": 1,
        "steps_per_event": 1,
        "model": {"name": "interaction_gnn", "hidden": 8, "n_iterations": 2},
    },
    "cuts": {
        "score_cuts": [0.2, 0.5],
        "min_hits": [3, 4],
        "track_builders": ["walkthrough"],
        "short_hits": [5],
        "short_score_cuts": [0.5, 0.9],
        "short_rule_settings": 1,
        "quality_events": 2,
        "quality_short_hits": [1000],
        "quality_cuts": [0.5],
        "quality_looser_cuts": True,
        "recovery_cuts": [0.3],
        "extend_cuts": [0.1],
        "extend_helix": [[2.0, 10.0]],
        "extension_settings": 1,
    },
}


def test_config_errors_name_the_key_with_a_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'budget'.*did you mean 'budget_minutes'"):
        load_fit_config(None, {"train": {"path": tmp_path}, "val": {"path": tmp_path}, "output": tmp_path, "budget": 1})
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output": "out", "filter": {"min_epochs": 3, "max_epochs": 2}}))
    with pytest.raises(ConfigError, match=r"fit.yaml: filter: min_epochs \(3\) exceeds max_epochs \(2\)"):
        load_fit_config(path)
    path.write_text(yaml.safe_dump({**TINY, "output": "out", "cuts": {"track_builders": ["walkthru"]}}))
    with pytest.raises(ConfigError, match="did you mean 'walkthrough'"):
        load_fit_config(path)


def test_stage_defaults_survive_a_partial_section(tmp_path):
    path = tmp_path / "fit.yaml"
    path.write_text(
        yaml.safe_dump({"train": {"path": "a"}, "val": {"path": "b"}, "output": "o", "filter": {"lr": 0.01}})
    )
    config = load_fit_config(path)
    assert config.filter.model["name"] == "edge_filter" and config.filter.lr == 0.01
    assert config.gnn.model["name"] == "interaction_gnn"
    assert config.output == tmp_path / "o"  # relative to the YAML file
    assert config.cuts.min_hits is None  # chosen from the detector's hits per particle when the fit runs


def test_min_hits_candidates_follow_hits_per_particle():
    from tracking.fit.config import default_min_hits

    assert default_min_hits(None) == [3, 4, 5, 6]  # nothing known: the old fixed list
    assert default_min_hits(5.0) == [3, 4, 5, 6]  # VELO-like: short particles keep the short cuts
    assert default_min_hits(12.0) == list(range(3, 10))  # ACTS Generic: 12 hits, up to 9


@pytest.mark.slow
def test_tiny_fit_writes_a_directory_that_runs(tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text(yaml.safe_dump({**TINY, "output": "fitted"}))
    result = CliRunner().invoke(main, ["fit", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "validation: efficiency" in result.output
    out = tmp_path / "fitted"
    for name in ("pipeline.yaml", "detector.yaml", "map.npz", "filter.pt", "gnn.pt", "fit.yaml", "report.json"):
        assert (out / name).is_file(), name
    assert not (out / "work" / "cache").exists()  # training graphs are not kept by default

    spec = yaml.safe_load((out / "pipeline.yaml").read_text())
    for stage in spec["stages"]:
        for key in ("map", "checkpoint", "quality"):
            if key in stage:
                assert not Path(stage[key]).is_absolute()  # the directory can move
    report = json.loads((out / "report.json").read_text())
    assert f"{out}/" not in (out / "report.json").read_text()  # files of the directory: relative to it
    map_rows = report["steps"]["map"]["candidates"]
    assert len(map_rows) == 4 and report["steps"]["map"]["chosen"] in map_rows
    # the loss to module pairs no training event connected is part of the segment loss
    assert all(0.0 <= row["unconnected"] <= 1.0 - row["efficiency"] + 1e-12 for row in map_rows)
    filter_step = report["steps"]["filter"]
    assert filter_step["epochs"] == 1 and 0.0 <= filter_step["score_cut"] <= 1.0
    assert filter_step["probe"]["events"] == 1 and 1 <= filter_step["train_events"] <= 3
    assert report["steps"]["gnn"]["probe"] is None and report["steps"]["gnn"]["train_events"] == 3
    rows = report["steps"]["tracks"]["candidates"]
    # (gnn, filter alone) x builder x cuts x min_hits, then the short rule on the best setting, then (when
    # the best cut is 0.5) the walk's recovery pass at 0.3 for each min_hits and with the short rule, then the
    # same rule judged by a track-quality model trained on the last 2 training events: on the best setting
    # and on the looser score cut (0.2) when the best is 0.5, one model each
    best_cut = rows[8]["score_cut"]
    n_recovery = 4 if best_cut == 0.5 else 0
    # last, the extension at 0.1 on the setting best so far and on at most one (extension_settings) that
    # finds more particles at up to 1.5 max_fake
    # then the helix extension (2, 10) the same way, on the setting best after the first (it may be extended)
    n_helix = sum(row.get("extend_helix") is not None for row in rows)
    assert 1 <= n_helix <= 2 and all(row["extend_helix"] == [2.0, 10.0] for row in rows[len(rows) - n_helix :])
    rows, helix_rows = rows[: len(rows) - n_helix], rows[len(rows) - n_helix :]
    n_extension = sum(row.get("extend_cut") is not None for row in rows)
    assert 1 <= n_extension <= 2 and all(row["extend_cut"] == 0.1 for row in rows[len(rows) - n_extension :])
    rows, extension_rows = rows[: len(rows) - n_extension], rows[len(rows) - n_extension :]
    recovery_rows, quality_rows = rows[10 : 10 + n_recovery], rows[10 + n_recovery :]
    assert len(rows) == 2 * 4 + 2 + n_recovery + (2 if best_cut == 0.5 else 1)
    assert [row.get("short_hits") for row in rows[8:10]] == [5, 5]
    assert all(row.get("recovery_cut") is None for row in rows[:10] + quality_rows)
    assert [(row["recovery_cut"], row["min_hits"], row.get("short_hits")) for row in recovery_rows] == [
        (0.3, 3, None),
        (0.3, 4, None),
        (0.3, 3, 5),
        (0.3, 3, 5),
    ][:n_recovery]
    assert [row["short_hits"] for row in quality_rows] == [1000] * len(quality_rows)
    assert [row["score_cut"] for row in quality_rows] == ([0.5, 0.2] if best_cut == 0.5 else [0.2])
    chosen = report["steps"]["tracks"]["chosen"]
    if "quality" in chosen:  # the chosen model is track_quality.npz, the others are gone
        assert chosen["quality"] == "track_quality.npz" and (out / "track_quality.npz").is_file()
        assert sum(row["quality"].endswith("track_quality.npz") for row in quality_rows) == 1
    else:
        assert not (out / "track_quality.npz").exists()
    for name in ("recovery_cut", "extend_cut", "extend_helix"):
        if chosen.get(name) is not None:
            assert spec["stages"][-1][name] == chosen[name]
        else:
            assert name not in spec["stages"][-1]
    # each extension row extends a setting tried before it (its model, when it has one, is the same)
    keys = ("scores_from", "track_builder", "score_cut", "min_hits", "short_hits", "short_score_cut", "recovery_cut")
    tried = [{k: row.get(k) for k in keys} for row in rows]
    assert all({k: row.get(k) for k in keys} in tried for row in extension_rows)
    extended_keys = (*keys, "extend_cut")
    before_helix = [{k: row.get(k) for k in extended_keys} for row in rows + extension_rows]
    assert all({k: row.get(k) for k in extended_keys} in before_helix for row in helix_rows)
    assert all(
        row["quality"].startswith("not kept")
        for row in quality_rows
        if row is not chosen and not row["quality"].endswith("track_quality.npz")
    )
    assert sorted(p.name for p in out.glob("track_quality*")) in ([], ["track_quality.npz"])
    assert 0.0 <= report["validation"]["efficiency"] <= 1.0

    moved = tmp_path / "moved"
    out.rename(moved)
    pipeline = Pipeline.from_yaml(moved, device="cpu")  # a directory is a pipeline
    event = simulate_event(mu=5, seed=300)
    labels = as_numpy(pipeline(event).track_labels)
    assert labels.shape == (event.num_hits,) and np.issubdtype(labels.dtype, np.integer)


def test_stage_training_uses_the_budget_the_plan_left(tmp_path, monkeypatch):
    """A plan made while the machine was busy trains too few epochs: when budget is left after them, the
    stage resumes for as many more as it affords (up to max_epochs); without budget left it stops."""
    import json as _json

    from tracking.fit import fitter
    from tracking.fit.config import FitConfig, GnnFit

    calls: list[int] = []

    def fake_training(raw, config_path, nproc, progress, resume=True):
        calls.append(raw["schedule"]["epochs"])
        return [{"epoch": i + 1, "seconds": 0.01} for i in range(raw["schedule"]["epochs"])]

    monkeypatch.setattr(fitter, "_run_training", fake_training)
    monkeypatch.setattr(fitter, "_training_raw", lambda *args: {"data": {"train": {"n": 4}}, "schedule": {}})
    monkeypatch.setattr(fitter, "source_length", lambda source: 4)
    from tracking.training.config import SimulateConfig, SourceConfig

    source = SourceConfig(simulate=SimulateConfig(**TINY_SOURCE["simulate"]))
    config = FitConfig(train=source, val=source, output=tmp_path)
    stage = GnnFit(max_epochs=5)
    for budget, expected in ((60.0, [1, 5]), (0.0, [1])):
        calls.clear()
        (tmp_path / "gnn-plan.json").write_text(_json.dumps({"events": 4, "epochs": 1, "extend": False}))
        _, report = fitter.train_stage("d.yaml", config, "gnn", stage, {}, None, budget, tmp_path, False)
        assert calls == expected and report["epochs"] == expected[-1]


def test_a_stage_and_the_quality_model_learn_from_their_own_events(tmp_path):
    """``gnn.data`` / ``filter.data`` train a stage on other events than the map's (here simulated with more
    displaced particles), ``cuts.quality_data`` gives the track-quality model its first events; the
    training config the stage runs with parses, and the rest keeps the fit's ``train:`` events."""
    from tracking.fit import fitter
    from tracking.simulation import SimulationConfig
    from tracking.training.config import parse_config

    own = {"simulate": {"n": 3, "mu": 5, "seed": 7, "secondary_fraction": 0.5}}
    gnn_fit = {**TINY["gnn"], "data": own, "displaced_weight": 6.0, "displaced_r_min": 100.0, "short_weight": 3.0}
    gnn_fit["non_target_weight"] = 0.0
    raw = {**TINY, "output": str(tmp_path / "out"), "gnn": gnn_fit}
    raw["cuts"] = {**TINY["cuts"], "quality_data": own}
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_fit_config(path)
    gnn = fitter._training_raw(config, config.gnn, {"graph_builder": "layer_pairs"}, None, "d.yaml", tmp_path, "g")
    full = {"n": 3, "mu": 5.0, "seed": 7, "first_event": 0, "detector": "trackml", "interaction_probability": None}
    assert gnn["data"]["train"] == {"simulate": {**full, "secondary_fraction": 0.5}}
    assert parse_config(gnn).data.train.simulate.simulation_config().secondary_fraction == 0.5
    # the displaced particles' loss weight, from 100 mm on, reaches the training loss
    assert (parse_config(gnn).loss.displaced_weight, parse_config(gnn).loss.displaced_r_min) == (6.0, 100.0)
    # and the weight of particles with few hits (at most 5 by default)
    assert (parse_config(gnn).loss.short_weight, parse_config(gnn).loss.short_hits_max) == (3.0, 5)
    assert parse_config(gnn).loss.non_target_weight == 0.0
    flt = fitter._training_raw(config, config.filter, {"graph_builder": "layer_pairs"}, None, "d.yaml", tmp_path, "f")
    assert flt["data"]["train"] == {"simulate": {**full, "seed": 100, "secondary_fraction": None}}
    assert "displaced_r_min" not in flt["loss"] and "displaced_weight" not in flt["loss"]
    assert "short_weight" not in flt["loss"] and "non_target_weight" not in flt["loss"]
    assert fitter._own_data(config.gnn) == " on 3 simulated events (mu 5, seed 7, 0.5 displaced per primary)"
    assert fitter._own_data(config.filter) == ""

    events = fitter._quality_events(config)  # quality_events: 2, the first two of quality_data
    sim = SimulationConfig.for_detector("trackml", secondary_fraction=0.5)
    assert [e.event_id for e in events] == [0, 1]
    for i, event in enumerate(events):
        np.testing.assert_array_equal(as_numpy(event.x), as_numpy(simulate_event(5, 7, i, sim).x))
    # without quality_data: the last two training events
    config.cuts.quality_data = None
    assert [e.event_id for e in fitter._quality_events(config)] == [1, 2]
