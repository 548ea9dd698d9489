"""Timing and reporting shared by every benchmark module.

A benchmark module ``benchmarks/bench_<area>.py`` exposes ``run(quick: bool = False) -> list[Row]``
and runs standalone with ``python -m benchmarks.bench_<area>``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Row:
    name: str  # what is measured, e.g. "connected components (1M nodes, 5M edges)"
    size: str  # input size in words
    ours_s: float  # seconds, best of repeats
    baseline: str = ""  # what we compare against
    baseline_s: float | None = None
    extra: dict[str, Any] | None = None

    @property
    def ratio(self) -> float | None:
        """baseline time / our time: > 1 means we are faster."""
        return None if self.baseline_s is None or self.ours_s <= 0 else self.baseline_s / self.ours_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def best_time(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls after ``warmup`` untimed calls (least disturbed by noise)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def format_table(rows: list[Row]) -> str:
    header = ("benchmark", "size", "ours", "baseline", "baseline time", "ratio")
    body = [
        (
            r.name,
            r.size,
            f"{r.ours_s * 1e3:.2f} ms",
            r.baseline or "-",
            "-" if r.baseline_s is None else f"{r.baseline_s * 1e3:.2f} ms",
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
        )
        for r in rows
    ]
    widths = [max(len(str(x[c])) for x in [header, *body]) for c in range(len(header))]
    lines = ["  ".join(f"{str(x[c]):<{widths[c]}}" for c in range(len(header))) for x in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
