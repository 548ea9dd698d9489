"""The one definition of a rate, shared by the edge and track metrics."""

from __future__ import annotations

__all__ = ["ratio"]


def ratio(num: float, den: float) -> float:
    """num / den, NaN when there is nothing to divide (an undefined rate, not a zero one)."""
    return float(num) / float(den) if den else float("nan")
