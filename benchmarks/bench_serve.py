"""``trackpipe serve`` under load on loopback, against the same pipeline in process.

A server subprocess (one Ray cluster on this machine, ``--replicas R``, batching on) gets ``N`` client
threads that each send events (``.npz``) back to back for ``T`` seconds; reported: served events/s,
latency p50/p95/p99 as the client sees it, failures, and the ratio of the served throughput to the
in-process pipeline's on the same events with the same torch threads (``trackpipe run`` without files).
A first row says whether batching pays: the batch runner on batches of ``B`` events against the
same events one by one, in process (ratio > 1: batching is faster).

Bounded by default (``--quick``: skipped, a Ray cluster alone takes tens of seconds to start). Set
``TRACKPIPE_SERVE_CLIENTS`` (default 4), ``TRACKPIPE_SERVE_SECONDS`` (20), ``TRACKPIPE_SERVE_MU`` (20),
``TRACKPIPE_SERVE_EVENTS`` (16 distinct events), ``TRACKPIPE_SERVE_BATCH`` (the server's ``--max-batch-size``;
default: the server's own, 1 on CPU and 8 with GPUs; the in-process batching row uses 8) and
``TRACKPIPE_SERVE_REPLICAS`` (``1``; on a GPU machine ``1,2,4`` replicas sharing GPU 0).
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import time
from typing import Any

import numpy as np

from .common import Row, SkipBenchmark

SEED = 50_000


def _env(name: str, default: str) -> str:
    return os.environ.get(f"TRACKPIPE_SERVE_{name}", default)


def load_test(client: Any, events: list, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads sending ``events`` round robin for ``seconds``; latencies, failures, events/s."""
    from tracking.client import event_columns
    from tracking.serve.wire import NPZ, encode_request

    bodies = [encode_request(event_columns(e), e.event_id, form=NPZ) for e in events]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        k = offset
        while time.perf_counter() < stop_at:
            body, content_type = bodies[k % len(bodies)]
            k += 1
            start = time.perf_counter()
            try:
                client._call("/v1/reconstruct", body, {"Content-Type": content_type, "Accept": content_type})
                ok = True
            except Exception as err:  # noqa: BLE001 - counted as a failure, the load goes on
                ok, why = False, f"{type(err).__name__}: {err}"
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    failures.append(why)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.asarray(latencies)
    pct = {q: float(np.percentile(lat, q)) if len(lat) else math.nan for q in (50, 95, 99)}
    return {"events": len(latencies), "failures": failures, "wall_s": wall, "events_per_s": len(lat) / wall, **pct}


def in_process(events: list, batch: int, *, batched: bool = True, device: str = "cpu") -> dict[str, float]:
    """Seconds per event of the pipeline in process: one by one, and through the batch runner."""
    import torch

    from tracking.pipeline import Pipeline
    from tracking.runner import DEFAULT_PIPELINE
    from tracking.serve.batching import BatchRunner

    torch.set_num_threads(1)
    pipeline = Pipeline.from_yaml(DEFAULT_PIPELINE, device=device)
    alone, together = BatchRunner(pipeline, batched=False), BatchRunner(pipeline)
    alone(events[:2])  # warm-up: first-call allocations and lazy loads
    out = {}
    for name, runner in (("alone", alone), ("batched", together))[: 2 if batched else 1]:
        start = time.perf_counter()
        for first in range(0, len(events), batch):
            runner(events[first : first + batch])
        out[name] = (time.perf_counter() - start) / len(events)
    return out


def run(quick: bool = False) -> list[Row]:
    if quick:
        raise SkipBenchmark("--quick: starting Ray takes tens of seconds; run `trackpipe bench --only serve`")
    if importlib.util.find_spec("ray") is None:
        raise SkipBenchmark('Ray Serve is not installed: pip install "trackpipe[serve]"')
    import torch

    from tracking import accel
    from tracking.client import event_columns
    from tracking.serve.batching import event_from_columns
    from tracking.serve.launch import LocalServer
    from tracking.simulation import simulate_events

    clients, seconds = int(_env("CLIENTS", "4")), float(_env("SECONDS", "20"))
    mu, n_events = float(_env("MU", "20")), int(_env("EVENTS", "16"))
    server_batch = os.environ.get("TRACKPIPE_SERVE_BATCH")
    batch = int(server_batch or 8)
    gpu = accel.cuda_available()
    replicas = [int(r) for r in _env("REPLICAS", "1,2,4" if gpu else "1").split(",")]
    events = [event_from_columns(e.event_id, event_columns(e)) for e in simulate_events(n_events, mu=mu, seed=SEED)]
    hits = int(np.mean([e.num_hits for e in events]))
    size = f"mu={mu:g}, {hits} hits/event, {clients} clients x {seconds:g} s"
    rows = []
    device = "cuda" if gpu else "cpu"
    reference = in_process(events, batch, device=device)
    rows.append(
        Row(
            f"batching on {device}: {batch} events per pass vs one by one (in process)",
            f"mu={mu:g}, {hits} hits/event",
            reference["batched"],
            "one event at a time",
            reference["alone"],
            extra={"per_event_s": reference},
        )
    )
    for n_replicas in replicas:
        args = ["--replicas", str(n_replicas), "--torch-threads", "1"]
        args += ["--max-batch-size", server_batch] if server_batch else []
        if gpu:
            args += ["--gpus-per-replica", f"{1 / n_replicas:.4f}", "--device", "cuda"]
        with LocalServer(args) as server:
            for event in events[:2]:  # warm-up: the replica's first call loads lazily
                server.client.reconstruct(event)
            result = load_test(server.client, events, clients, seconds)
            metrics = server.client.metrics()
            # Again right after the load (server idle): on a shared machine the load drifts within minutes;
            # the faster of the two in-process figures is the baseline (the conservative ratio).
            after = in_process(events, batch, batched=False, device=device)["alone"]
        alone_s = min(reference["alone"], after)
        served_batch = server_batch or ("8" if gpu else "1")
        label = f"served, {n_replicas} replica(s){' on GPU 0' if gpu else ''}, batches <= {served_batch}"
        extra = {
            "events_per_s": result["events_per_s"],
            "in_process_events_per_s": 1 / alone_s,
            "in_process_s_before_after": [reference["alone"], after],
            "ratio_to_in_process": result["events_per_s"] * alone_s,
            "failures": len(result["failures"]),
            "first_failures": result["failures"][:3],
            "startup_s": server.startup_s,
            "mean_batch_size": metrics["batch_size"]["mean"],
            "torch_threads": torch.get_num_threads(),
        }
        # ours_s: served seconds per event (1 / throughput) beside in-process seconds per event.
        rows.append(Row(label + ": s per event", size, 1 / max(result["events_per_s"], 1e-9), "in process, same events",
                        alone_s, extra=extra))  # fmt: skip
        for q in (50, 95, 99):
            rows.append(Row(f"{label}: latency p{q}", size, result[q]))
        rows.append(Row(f"{label}: failures", f"{result['events'] + len(result['failures'])} requests",
                        float(len(result["failures"])), unit=""))  # fmt: skip
    return rows


if __name__ == "__main__":
    from .common import format_table

    print(format_table(run()))
