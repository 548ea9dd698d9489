"""Every command turns trackpipe's own errors into one line and exit status 2; bad numbers, outputs and
inputs are refused before anything heavy runs; --help and info do not import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from tracking.cli import main


@pytest.fixture(scope="module")
def acts_dir(tmp_path_factory):
    from tracking.io.acts_write import write_acts
    from tracking.simulation import simulate_events

    out = tmp_path_factory.mktemp("acts")
    write_acts(simulate_events(2, mu=2, seed=3), out)
    return out


def invoke(args):
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output
    return result


def one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails the test if a pipeline (and so a model) is loaded."""
    from tracking.pipeline import Pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the pipeline was loaded before the arguments were checked")

    monkeypatch.setattr(Pipeline, "from_yaml", refuse)


def test_missing_input_is_one_line_before_any_model_loads(tmp_path, no_model_loading):
    result = invoke(["run", str(tmp_path / "nope"), "-o", str(tmp_path / "t.root")])
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: DataError: input not found (file {tmp_path / 'nope'})"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "-1"], "Invalid value for '-n' / '--max-events': -1 is not in the range x>=1"),
        (["-n", "0"], "is not in the range x>=1"),
        (["--nproc", "0"], "is not in the range x>=1"),
        (["-o", "tracks.txt"], "unknown tracks format '.txt'; use one of .root, .parquet, .pq"),
    ],
)
def test_bad_numbers_and_outputs_are_refused_up_front(tmp_path, acts_dir, no_model_loading, args, message):
    base = ["run", str(acts_dir), "-o", str(tmp_path / "t.root")]
    result = invoke(base + args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "t.root").exists() and not (tmp_path / "tracks.txt").exists()


def test_parquet_without_pyarrow_is_refused_before_the_first_event(tmp_path, acts_dir, no_model_loading, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = invoke(["run", str(acts_dir), "-o", str(tmp_path / "t.parquet")])
    assert result.exit_code == 2
    assert 'pip install "trackpipe[parquet]"' in one_error_line(result)


@pytest.mark.parametrize("device", ["tpu", "cuda:3"])
def test_the_pipeline_files_device_is_honoured_and_checked(tmp_path, acts_dir, device, monkeypatch):
    from tracking import accel

    monkeypatch.setattr(accel, "cuda_device_count", lambda: 0)  # a CPU machine, even on a GPU one
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"device: {device}\nstages:\n  - track_builder: truth\n")
    out = tmp_path / "t.root"
    result = invoke(["run", str(acts_dir), "-o", str(out), "--pipeline", str(pipeline), "--quiet"])
    assert result.exit_code == 2 and f"device '{device}'" in one_error_line(result)
    # the command line overrides the file only when given
    result = invoke(["run", str(acts_dir), "-o", str(out), "--pipeline", str(pipeline), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0 and "on cpu" in result.output


def test_trailing_slash_writes_dir_tracks_root(tmp_path, acts_dir):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("device: cpu\nstages:\n  - track_builder: truth\n")
    result = invoke(["run", str(acts_dir), "-o", f"{tmp_path}/new/", "--pipeline", str(pipeline), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "tracks.root").is_file()


def test_a_bad_stage_sequence_names_the_stage(tmp_path, acts_dir):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("device: cpu\nstages:\n  - track_builder: walkthrough\n")
    result = invoke(["run", str(acts_dir), "-o", str(tmp_path / "t.root"), "--pipeline", str(pipeline)])
    assert result.exit_code == 2
    assert "stage 0 (track_builder:walkthrough) needs graph (from a graph_builder)" in one_error_line(result)


def test_every_command_reports_own_errors_as_one_line(tmp_path):
    """build-map on events without a particle table: a DataError from deep inside, shown as one line."""
    from tracking.io.trackml_write import write_trackml_csv
    from tracking.simulation import simulate_events

    write_trackml_csv(simulate_events(1, mu=2, seed=1), tmp_path)
    for particles in tmp_path.glob("*particles*"):
        particles.unlink()
    result = invoke(["build-map", str(tmp_path), "-o", str(tmp_path / "m.npz"), "--pt-min", "1"])
    assert result.exit_code == 2
    assert one_error_line(result).startswith("Error: DataError: ")


def test_help_and_info_do_not_import_torch():
    code = (
        "import sys\n"
        "from tracking.cli import main\n"
        "for args in (['--help'], ['run', '--help'], ['info'], ['info', '--json']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (args, e.code)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout


def test_simulate_bar_is_labelled_and_says_when_numba_compiles(tmp_path, monkeypatch):
    import tqdm

    from tracking.cli import simulate as simulate_cli

    seen: list[tuple[str, int]] = []

    class Bar:
        def __init__(self, *args, desc=None, **kwargs):
            self.n, self.desc = 0, desc
            seen.append((desc, 0))

        def set_description(self, desc):
            self.desc = desc

        def update(self, k):
            self.n += k
            seen.append((self.desc, self.n))

        def close(self):
            pass

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    result = invoke(["simulate", "-n", "2", "--mu", "1", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    compiling, simulating = simulate_cli.COMPILING, simulate_cli.SIMULATING
    assert "compiling (first event only)" in compiling
    assert seen == [(compiling, 0), (simulating, 1), (simulating, 2)]


def test_threads_option_sets_torch_threads(tmp_path, acts_dir):
    import torch

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("device: cpu\nstages:\n  - track_builder: truth\n")
    base = ["run", str(acts_dir), "-o", str(tmp_path / "t.root"), "--pipeline", str(pipeline), "--quiet"]
    result = invoke([*base, "--threads", "1"])
    assert result.exit_code == 0 and "1 torch thread(s) per process" in result.output
    assert torch.get_num_threads() == 1
    result = invoke([*base, "--threads", "0"])
    assert result.exit_code == 2 and "'--threads': 0 is not in the range x>=1" in one_error_line(result)
