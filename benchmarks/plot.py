"""Per-stage latency vs event size (hits), trackpipe and the ACORN-equivalent reference, as a PNG.

Reads the rows that :mod:`.bench_pipeline` marks with ``extra["kind"] == "stage_latency"`` from a
suite result (the dict that ``trackpipe bench --json`` writes). Standalone::

    python -m benchmarks.plot RESULTS.json OUT.png
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

LATENCY_KIND = "stage_latency"


def stage_series(result: dict[str, Any]) -> dict[tuple[str, str], list[tuple[int, float | None, float | None]]]:
    """(device, stage) -> sorted [(hits, ours_s, reference_s)] from the suite result's latency rows."""
    series: dict[tuple[str, str], list[tuple[int, float | None, float | None]]] = defaultdict(list)
    for module in result.get("modules", []):
        for row in module.get("rows", []):
            extra = row.get("extra") or {}
            if extra.get("kind") != LATENCY_KIND or row.get("skipped"):
                continue
            series[(extra.get("device", "cpu"), extra["stage"])].append(
                (int(extra["hits"]), row.get("ours_s"), row.get("baseline_s"))
            )
    return {key: sorted(points) for key, points in series.items()}


def plot_stage_latency(result: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """Write the plot to ``path`` atomically (one panel per device); None when ``result`` has no
    per-stage latency rows (e.g. ``--only graph``)."""
    series = stage_series(result)
    if not series:
        return None
    from tracking.atomic import atomic_output
    from tracking.extras import require

    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = sorted({device for device, _ in series})
    fig, axes = plt.subplots(1, len(devices), figsize=(7.5 * len(devices), 5.5), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, device in zip(axes[0], devices):
        stages = [stage for d, stage in series if d == device]
        for i, stage in enumerate(stages):
            points = series[(device, stage)]
            colour = colours[i % len(colours)]
            for column, style, who in ((1, "-o", "trackpipe"), (2, "--s", "reference")):
                xy = [(hits, p[column]) for p in points if (hits := p[0]) and p[column] is not None]
                if xy:
                    ax.plot(*zip(*xy), style, color=colour, label=f"{stage} ({who})", markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hits per event")
        ax.set_ylabel("latency per event [s]")
        ax.set_title(f"per-stage latency on {device}: trackpipe (solid) vs ACORN-equivalent (dashed)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    machine = result.get("machine", {})
    fig.suptitle(f"{machine.get('cpu_model', '')}, {machine.get('usable_cpus', '?')} CPUs", fontsize=9)
    fig.tight_layout()
    target = Path(path)
    with atomic_output(target) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.plot RESULTS.json OUT.png")
    written = plot_stage_latency(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
    print(written or "no per-stage latency rows in the results")
