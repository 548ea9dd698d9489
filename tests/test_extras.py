"""numba (extra `sim`) and matplotlib (extra `plots`) stay out of the base install's import path, and a
missing one says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tracking.extras import EXTRAS


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_pipeline_and_cli_do_not_import_the_extras():
    # Blocked as if not installed: anything below that imports them fails.
    result = _run(
        """
        import sys
        for name in ("numba", "matplotlib"):
            sys.modules[name] = None
        import tracking, tracking.runner, tracking.cli.run
        from tracking import registry
        from tracking.cli import main
        from tracking.config import RESOURCES_DIR
        from tracking.pipeline import Pipeline

        for args in (["--help"], ["run", "--help"]):
            try:
                main(args)
            except SystemExit as exit:
                assert exit.code == 0, (args, exit.code)
        Pipeline.from_yaml(RESOURCES_DIR / "default_pipeline.yaml", device="cpu")
        registry.create("reader", "trackml_csv", {})
        # the module-map builder reads the simulated detector's geometry (module_ids: auto)
        from tracking.simulation import trackml_detector

        trackml_detector()
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize(
    ("module", "code"),
    [
        ("numba", "from tracking.simulation import simulate_event; simulate_event(mu=1)"),
        ("matplotlib", "from tracking.metrics.plots import plot_efficiency; plot_efficiency(None, 'x.png', xlabel='')"),
    ],
)
def test_missing_extra_names_its_install_command(module, code):
    result = _run(f"import sys; sys.modules[{module!r}] = None\n{code}")
    assert result.returncode != 0
    assert f'pip install "trackpipe[{EXTRAS[module][0]}]"' in result.stderr, result.stderr
