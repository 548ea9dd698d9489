"""The benchmark suite runner with fake bench modules: table, JSON structure, failures reported and
not fatal, --only filtering, the plot, and the CLI. No timing assertions (timings are not pass/fail)."""

from __future__ import annotations

import itertools
import json
import math
import sys
import textwrap

import pytest
from click.testing import CliRunner

from tracking.benchmarks import suite
from tracking.benchmarks.common import Row, format_table, skipped_row
from tracking.benchmarks.plot import plot_stage_latency, stage_series
from tracking.cli import main

_counter = itertools.count()

FAKE_MODULES = {
    "bench_alpha": """
        from tracking.benchmarks.common import Row, skipped_row

        def run(quick=False):
            rows = [Row("alpha kernel", "10 items", 0.002, "numpy", 0.008, extra={"quick": quick})]
            rows.append(skipped_row("alpha on GPU", "no CUDA device"))
            return rows
    """,
    "bench_broken": """
        def run(quick=False):
            raise RuntimeError("kernel exploded")
    """,
    "bench_nogpu": """
        from tracking.benchmarks.common import SkipBenchmark

        def run(quick=False):
            raise SkipBenchmark("needs a GPU")
    """,
    "bench_stages": """
        from tracking.benchmarks.common import Row

        def run(quick=False):
            rows = []
            for hits, ours, ref in ((1000, 0.01, 0.05), (4000, 0.04, 0.3)):
                for stage in ("graph_builder", "track_builder"):
                    rows.append(Row(f"{stage} latency", f"{hits} hits", ours, "reference", ref,
                                    extra={"kind": "stage_latency", "stage": stage, "hits": hits, "device": "cpu"}))
            rows.append(Row("growth exponent", "2 sizes", 1.0, "reference", 1.3, unit=""))
            rows.append(Row("peak memory", "4000 hits", 12.5, "reference", 50.0, unit="MiB"))
            return rows
    """,
    "bench_badrows": """
        def run(quick=False):
            return [("not", "a", "row")]
    """,
    "helper_not_a_bench": """
        raise ImportError("must never be imported by the suite")
    """,
}


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A uniquely named package of fake bench modules on sys.path; its modules are unloaded afterwards."""
    name = f"fake_benchmarks_{next(_counter)}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in FAKE_MODULES.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _by_name(result):
    return {m["name"]: m for m in result["modules"]}


def test_discover_finds_only_bench_modules(fake_package):
    found = suite.discover(fake_package)
    assert list(found) == ["alpha", "badrows", "broken", "nogpu", "stages"]
    assert found["alpha"] == f"{fake_package}.bench_alpha"


def test_discover_real_package_has_pipeline_and_simulation():
    found = suite.discover()
    assert {"pipeline", "simulation"} <= set(found)


def test_run_suite_reports_failures_without_stopping(fake_package):
    messages = []
    result = suite.run_suite(
        quick=True, package=fake_package, expected=("alpha", "missing_one"), progress=messages.append
    )
    modules = _by_name(result)
    assert modules["alpha"]["status"] == "ok"
    assert modules["alpha"]["rows"][0]["ratio"] == pytest.approx(4.0)
    assert modules["alpha"]["rows"][0]["extra"] == {"quick": True}
    assert modules["alpha"]["rows"][1]["skipped"] == "no CUDA device"
    assert modules["broken"]["status"] == "failed"
    assert "RuntimeError: kernel exploded" in modules["broken"]["reason"]
    assert "bench_broken.py" in modules["broken"]["reason"]
    assert modules["nogpu"] == {**modules["nogpu"], "status": "skipped", "reason": "needs a GPU", "rows": []}
    assert modules["badrows"]["status"] == "failed" and "tuple" in modules["badrows"]["reason"]
    # the expected-but-absent module is listed as skipped with the reason
    assert modules["missing_one"]["status"] == "skipped"
    assert "bench_missing_one.py is not installed" in modules["missing_one"]["reason"]
    # modules ran after the broken one
    assert modules["stages"]["status"] == "ok" and len(modules["stages"]["rows"]) == 6
    assert any("broken: failed" in m for m in messages)


def test_result_is_strict_json_with_machine_info(fake_package, tmp_path):
    result = suite.run_suite(quick=True, package=fake_package, only=["alpha"])
    path = suite.write_json(result, tmp_path / "out" / "bench.json")
    loaded = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert loaded["format"] == suite.JSON_FORMAT and loaded["quick"] is True and loaded["only"] == ["alpha"]
    machine = loaded["machine"]
    for key in (
        "cpu_model",
        "logical_cpus",
        "usable_cpus",
        "gpus",
        "torch",
        "torch_threads",
        "openmp_threads",
        "python",
        "numpy",
        "trackpipe",
    ):
        assert key in machine, key
    assert machine["logical_cpus"] >= 1
    skipped = loaded["modules"][0]["rows"][1]
    assert skipped["ours_s"] is None and skipped["ratio"] is None  # NaN written as null
    assert [p.name for p in path.parent.iterdir()] == ["bench.json"]  # atomic: no temporary left


def test_only_filters_and_rejects_unknown_names(fake_package):
    result = suite.run_suite(package=fake_package, only=["bench_alpha", "nogpu", "alpha"])
    assert [m["name"] for m in result["modules"]] == ["alpha", "nogpu"]
    with pytest.raises(ValueError, match="no benchmark module bench_nope.py; known: alpha, badrows"):
        suite.run_suite(package=fake_package, only=["nope"])


def test_table_lists_every_module_and_formats_units(fake_package):
    text = suite.format_result(suite.run_suite(package=fake_package))
    header = text.splitlines()[2]
    assert header.split() == ["benchmark", "size", "ours", "baseline", "baseline", "time", "ratio"]
    assert "[broken (failed" in text and "kernel exploded" in text
    assert "[nogpu (skipped" in text and "needs a GPU" in text
    assert "skipped: no CUDA device" in text
    assert "2.00 ms" in text and "8.00 ms" in text and "4.00x" in text
    assert "12.5 MiB" in text and "50.0 MiB" in text
    growth = next(line for line in text.splitlines() if line.startswith("growth exponent"))
    assert "1.00" in growth and "1.30" in growth and "x" not in growth.split("reference")[1]
    assert "FAILED: badrows, broken" in text


def test_row_ratio_and_plain_format_table():
    assert Row("a", "s", 0.5, "b", 1.0).ratio == 2.0
    assert Row("a", "s", 0.0, "b", 1.0).ratio is None
    assert Row("a", "s", 1.0).ratio is None
    assert Row("a", "s", 2.0, "b", 3.0, unit="").ratio is None
    assert skipped_row("x", "why").ratio is None and math.isnan(skipped_row("x", "why").ours_s)
    table = format_table([Row("a", "1 item", 0.001, "ref", 0.002)])
    assert table.splitlines()[2].split() == ["a", "1", "item", "1.00", "ms", "ref", "2.00", "ms", "2.00x"]


def test_plot_written_from_stage_rows(fake_package, tmp_path):
    result = suite.run_suite(package=fake_package, only=["stages"])
    series = stage_series(result)
    assert series[("cpu", "graph_builder")] == [(1000, 0.01, 0.05), (4000, 0.04, 0.3)]
    path = plot_stage_latency(result, tmp_path / "latency.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_stage_latency(suite.run_suite(package=fake_package, only=["alpha"]), tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_cli_bench(fake_package, tmp_path):
    runner = CliRunner()
    out = tmp_path / "res.json"
    result = runner.invoke(
        main,
        [
            "bench",
            "--quick",
            "--package",
            fake_package,
            "--only",
            "alpha,stages",
            "--only",
            "broken",
            "--json",
            str(out),
        ],
    )
    # a crashed module does not stop the others, but the run fails (CI must notice)
    assert result.exit_code == 1, result.output
    assert "alpha kernel" in result.output and "kernel exploded" in result.output
    assert "benchmark module(s) failed: broken" in result.output
    data = json.loads(out.read_text())
    assert [m["name"] for m in data["modules"]] == ["alpha", "stages", "broken"]
    assert out.with_suffix(".png").is_file()  # the plot goes next to the JSON by default

    ok = runner.invoke(main, ["bench", "--quick", "--package", fake_package, "--only", "alpha", "--no-plot"])
    assert ok.exit_code == 0, ok.output

    listed = runner.invoke(main, ["bench", "--list", "--package", fake_package])
    assert listed.exit_code == 0 and "stages" in listed.output

    bad = runner.invoke(main, ["bench", "--package", fake_package, "--only", "nope"])
    assert bad.exit_code == 2 and "no benchmark module bench_nope.py" in bad.output


def test_cli_bench_explicit_plot_and_no_plot(fake_package, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        main, ["bench", "--package", fake_package, "--only", "stages", "--plot", str(tmp_path / "p.png")]
    )
    assert res.exit_code == 0 and (tmp_path / "p.png").is_file()
    res = runner.invoke(
        main, ["bench", "--package", fake_package, "--only", "alpha", "--json", str(tmp_path / "a.json"), "--no-plot"]
    )
    assert res.exit_code == 0 and not (tmp_path / "a.png").exists()


def test_python_m_benchmarks_list(tmp_path):
    # The installed suite (tracking.benchmarks); cwd away from the checkout, whose tracking/ has no
    # compiled _core in a non-editable install. `python -m benchmarks` from a dev checkout is the same code.
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "tracking.benchmarks", "--list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "bench_simulation" in proc.stdout
