"""`trackpipe tune` without the `tune` extra fails with the install command; `--show` needs a study."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from tracking.cli import main


def test_missing_optuna_names_the_extra(monkeypatch, write_study):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    result = CliRunner().invoke(main, ["tune", str(write_study({"model.hidden": {"choice": [4, 8]}}))])
    assert result.exit_code != 0 and 'pip install "trackpipe[tune]"' in result.output


def test_show_without_a_storage_says_what_to_give(tmp_path):
    result = CliRunner().invoke(main, ["tune", "--show", "nothing-here"])
    assert result.exit_code != 0 and "give --storage" in result.output
    result = CliRunner().invoke(main, ["tune"])
    assert result.exit_code != 0 and "give TUNE.yaml" in result.output


def test_ray_backend_without_ray_names_the_extras(monkeypatch, write_study):
    for name in ("ray", "ray.tune"):
        monkeypatch.setitem(sys.modules, name, None)  # import ray.tune -> ImportError
    path = str(write_study({"model.hidden": {"choice": [4, 8]}}))
    result = CliRunner().invoke(main, ["tune", path, "--backend", "ray", "--no-plots"])
    assert result.exit_code != 0 and 'pip install "trackpipe[serve,tune]"' in result.output
    result = CliRunner().invoke(main, ["tune", path, "--address", "auto"])
    assert result.exit_code != 0 and "--address is the Ray cluster of --backend ray" in result.output
    result = CliRunner().invoke(main, ["tune", path, "--backend", "ray", "--nproc", "2"])
    assert result.exit_code != 0 and "nproc > 1 (DDP inside a trial) needs backend: optuna" in result.output
