"""Counters of a serving process: requests, errors by name, latency percentiles, batch sizes.

Kept by the HTTP ingress (one replica, so its numbers are the whole service's) and returned as JSON by
``GET /metrics``. Latency percentiles are over the last :data:`WINDOW` answered requests.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

import numpy as np

WINDOW = 10_000


def percentiles(values: Any, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float | None]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` of ``values`` (None when there are none)."""
    data = np.asarray(list(values), dtype=np.float64)
    return {f"p{q:g}": (float(np.percentile(data, q)) if len(data) else None) for q in qs}


class ServeMetrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.retries = 0  # events sent again because their pipeline replica died under them
        self.events_ok = 0
        self.hits_ok = 0
        self.status: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.batch_sizes: Counter[int] = Counter()
        self.latency_s: deque[float] = deque(maxlen=WINDOW)
        self.pipeline_s: deque[float] = deque(maxlen=WINDOW)

    def record_ok(self, seconds: float, hits: int, batch_size: int, pipeline_s: float) -> None:
        self.requests += 1
        self.events_ok += 1
        self.hits_ok += hits
        self.status[200] += 1
        self.batch_sizes[batch_size] += 1
        self.latency_s.append(seconds)
        self.pipeline_s.append(pipeline_s)

    def record_error(self, status: int, name: str) -> None:
        self.requests += 1
        self.status[status] += 1
        self.errors[name] += 1

    def snapshot(self) -> dict[str, Any]:
        uptime = time.time() - self.started
        sizes = self.batch_sizes
        n_batched = sum(sizes.values())
        return {
            "uptime_s": uptime,
            "requests": self.requests,
            "events_ok": self.events_ok,
            "hits_ok": self.hits_ok,
            "retries": self.retries,
            "errors": dict(self.errors),
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "latency_s": {**percentiles(self.latency_s), "window": len(self.latency_s)},
            "pipeline_s": percentiles(self.pipeline_s),
            "batch_size": {
                "histogram": {str(k): v for k, v in sorted(sizes.items())},
                "mean": (sum(k * v for k, v in sizes.items()) / n_batched) if n_batched else None,
            },
        }


__all__ = ["WINDOW", "ServeMetrics", "percentiles"]
