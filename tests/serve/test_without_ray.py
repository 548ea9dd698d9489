"""Without the serve extra: the client and wire format work, and `trackpipe serve` names the install command."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_serve_without_ray_names_the_extra_and_the_client_needs_no_ray():
    code = """
        import sys
        sys.modules["ray"] = None  # as if not installed
        import tracking.client, tracking.serve.wire, tracking.serve.batching
        from click.testing import CliRunner
        from tracking.cli import main

        result = CliRunner().invoke(main, ["serve", "--port", "18999"])
        assert result.exit_code == 1, (result.exit_code, result.output)
        print(result.output)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'pip install "trackpipe[serve]"' in result.stdout
