from __future__ import annotations

from tracking.serve.metrics import ServeMetrics, percentiles


def test_percentiles_and_counters():
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert percentiles(range(101))["p50"] == 50.0
    metrics = ServeMetrics()
    for k in range(10):
        metrics.record_ok(0.1 * (k + 1), hits=100, batch_size=2 if k % 2 else 1, pipeline_s=0.05)
    metrics.record_error(400, "ColumnError")
    snap = metrics.snapshot()
    assert snap["requests"] == 11 and snap["events_ok"] == 10 and snap["hits_ok"] == 1000
    assert snap["errors"] == {"ColumnError": 1} and snap["status"] == {"200": 10, "400": 1}
    assert snap["batch_size"] == {"histogram": {"1": 5, "2": 5}, "mean": 1.5}
    assert abs(snap["latency_s"]["p50"] - 0.55) < 1e-9 and snap["latency_s"]["window"] == 10
