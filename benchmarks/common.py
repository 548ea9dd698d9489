"""Timing and reporting shared by every benchmark module.

A benchmark module ``benchmarks/bench_<area>.py`` exposes ``run(quick: bool = False) -> list[Row]``
and runs standalone with ``python -m benchmarks.bench_<area>``; ``trackpipe bench`` (``python -m
benchmarks``) discovers and runs them all (see :mod:`.suite`). A module whose whole section cannot run
here (no GPU, no data) raises :class:`SkipBenchmark`; a single case that cannot run is a
:func:`skipped_row`.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


class SkipBenchmark(Exception):
    """Raised by a benchmark module's ``run`` when its section cannot run on this machine (the reason is
    the message); the suite lists it as skipped, not failed."""


@dataclass
class Row:
    name: str  # what is measured, e.g. "connected components (1M nodes, 5M edges)"
    size: str  # input size in words
    ours_s: float  # seconds, best of repeats (or a value in `unit`); NaN for a skipped row
    baseline: str = ""  # what we compare against
    baseline_s: float | None = None
    extra: dict[str, Any] | None = None
    unit: str = "s"  # "s" (shown in ms), "MiB", or "" for a plain number such as a growth exponent
    skipped: str | None = None  # why this case did not run (no GPU, no data, --quick)

    @property
    def ratio(self) -> float | None:
        """baseline / ours for times and memory: > 1 means we are faster (or smaller); None otherwise."""
        if self.unit not in ("s", "MiB") or self.baseline_s is None or self.skipped:
            return None
        if not (math.isfinite(self.ours_s) and self.ours_s > 0 and math.isfinite(self.baseline_s)):
            return None
        return self.baseline_s / self.ours_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def skipped_row(name: str, reason: str, size: str = "-") -> Row:
    """A row that records a case that did not run, and why."""
    return Row(name, size, math.nan, skipped=reason)


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


def format_value(value: float | None, unit: str) -> str:
    """A measured value for the table: seconds in ms, MiB with one decimal, plain numbers with two."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "s":
        return f"{value * 1e3:.2f} ms"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:.2f}{(' ' + unit) if unit else ''}"


TABLE_HEADER = ("benchmark", "size", "ours", "baseline", "baseline time", "ratio")


def table_cells(row: Row) -> tuple[str, ...]:
    """The table cells of one row, in :data:`TABLE_HEADER` order."""
    if row.skipped:
        return (row.name, row.size, f"skipped: {row.skipped}", "-", "-", "-")
    return (
        row.name,
        row.size,
        format_value(row.ours_s, row.unit),
        row.baseline or "-",
        "-" if row.baseline_s is None else format_value(row.baseline_s, row.unit),
        "-" if row.ratio is None else f"{row.ratio:.2f}x",
    )


def format_table(rows: list[Row], sections: list[tuple[str, list[Row]]] | None = None) -> str:
    """An aligned text table of ``rows``; with ``sections`` (title, rows), one table with a title line
    before each section's rows (``rows`` is then ignored)."""
    groups = sections if sections is not None else [("", rows)]
    bodies = [(title, [table_cells(r) for r in group]) for title, group in groups]
    all_cells = [TABLE_HEADER, *(cells for _, body in bodies for cells in body)]
    widths = [max(len(x[c]) for x in all_cells) for c in range(len(TABLE_HEADER))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(f"{cells[c]:<{widths[c]}}" for c in range(len(cells))).rstrip()

    lines = [line(TABLE_HEADER), "  ".join("-" * w for w in widths)]
    for title, body in bodies:
        if title:
            lines.append(f"[{title}]")
        lines.extend(line(cells) for cells in body)
    return "\n".join(lines)
