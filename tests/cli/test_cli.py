import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tracking.cli import COMMANDS, main


def test_help_lists_every_command_with_one_line():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name, (_, _, summary) in COMMANDS.items():
        assert name in result.output
        assert summary.split()[0] in result.output


def test_every_command_imports_and_has_help():
    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_info_json():
    result = CliRunner().invoke(main, ["info", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert {"trackpipe", "cuda_compiled", "cuda_devices", "torch", "torch_scatter", "openmp_threads"} <= set(data)


def test_plugins_lists_first_party():
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0
    assert "track_builder" in result.output and "truth" in result.output and "trackpipe" in result.output


def test_console_script_runs(tmp_path):
    # cwd away from the checkout, whose tracking/ has no compiled _core in a non-editable install
    script = Path(sys.executable).with_name("trackpipe")
    for cmd in ([str(script), "--version"], [sys.executable, "-m", "tracking", "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tmp_path)
        assert "trackpipe" in out.stdout
