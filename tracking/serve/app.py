"""The Ray Serve application of ``trackpipe serve``: an HTTP ingress and the pipeline replicas behind it.

``Ingress`` (one replica, no CPU reserved) parses and validates requests (:mod:`.wire`; a bad one is
answered 4xx there and never reaches a replica), keeps the service's metrics, and forwards each event to
``PipelineReplica`` through a deployment handle. The replicas (``--replicas N``, each with its own GPU
share) collect events with ``@serve.batch`` and run them through :class:`~.batching.BatchRunner`. A
replica that dies is restarted by Ray; the ingress retries the events it had in flight on another (or
the restarted) replica and answers 503 only when none is reachable, so no request goes unanswered.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from ..arrays import as_numpy
from ..errors import DataError, TrackpipeError
from ..extras import require
from .config import ServeConfig
from .metrics import ServeMetrics
from .wire import (
    HEALTH_PATH,
    JSON,
    METRICS_PATH,
    RECONSTRUCT_PATH,
    EventTooLarge,
    MethodNotAllowed,
    NotFound,
    RequestError,
    TrackResponse,
    decode_request,
    encode_response,
    error_body,
    max_body_bytes,
)

RETRIES = 2  # extra attempts of an event whose replica died under it


class ReplicaUnavailable(TrackpipeError, RuntimeError):
    """No pipeline replica answered (they died and were not back within the retries)."""


def _json_response(payload: bytes, status: int = 200, media_type: str = JSON) -> Any:
    from starlette.responses import Response

    return Response(content=payload, status_code=status, media_type=media_type)


class PipelineReplica:
    """One copy of the pipeline; batches of events go through :class:`~.batching.BatchRunner`."""

    def __init__(self, pipeline_path: str, device: str, threads: int, batched: bool) -> None:
        import torch

        from ..pipeline import Pipeline
        from .batching import BatchRunner

        torch.set_num_threads(threads)
        self.pipeline = Pipeline.from_yaml(pipeline_path, device=device)
        self.runner = BatchRunner(self.pipeline, batched=batched)
        self.lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"stages": list(self.pipeline.labels), "device": str(self.pipeline.device), "pid": os.getpid()}

    def _run(self, items: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        from .batching import event_from_columns

        start = time.perf_counter()
        events = [event_from_columns(event_id, columns) for event_id, columns in items]
        with self.lock:
            results = self.runner(events)
        seconds = time.perf_counter() - start
        return [
            {
                "track_id": as_numpy(result.event.track_labels),
                "stages_s": result.stage_s,
                "batch_size": result.batch_size,
                "pipeline_s": seconds,
            }
            for result in results
        ]

    def _run_one(self, item: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            return self._run([item])
        except Exception as err:  # noqa: BLE001 - answered to its own request as a 422/500
            status = 422 if isinstance(err, DataError) else 500
            notes = " ".join(getattr(err, "__notes__", []))
            return [{"error": type(err).__name__, "status": status, "message": f"{err} {notes}".strip()}]

    async def reconstruct_batch(self, items: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        # A worker thread keeps the replica's event loop free to queue the next batch meanwhile.
        if len(items) == 1:
            return await asyncio.to_thread(self._run_one, items[0])
        return await asyncio.to_thread(self._run_batch_safely, items)

    def _run_batch_safely(self, items: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return self._run(items)
        except Exception:  # noqa: BLE001 - one bad event must not fail its batch-mates: run them alone
            return [answer for item in items for answer in self._run_one(item)]


class Ingress:
    """HTTP front: routes, validation, metrics; forwards events to the pipeline replicas."""

    def __init__(self, pipeline: Any, max_hits: int) -> None:
        self.pipeline = pipeline
        self.max_hits = max_hits
        self.metrics = ServeMetrics()

    async def __call__(self, request: Any) -> Any:
        path, method = request.url.path.rstrip("/") or "/", request.method
        start = time.perf_counter()
        try:
            if path == HEALTH_PATH:
                if method != "GET":
                    raise MethodNotAllowed(f"{path} takes GET, got {method}")
                return _json_response(await self._health())
            if path == METRICS_PATH:
                if method != "GET":
                    raise MethodNotAllowed(f"{path} takes GET, got {method}")
                return _json_response(json.dumps(self.metrics.snapshot()).encode())
            if path != RECONSTRUCT_PATH:
                raise NotFound(f"no endpoint {path}; POST {RECONSTRUCT_PATH}, GET {HEALTH_PATH} or {METRICS_PATH}")
            if method != "POST":
                raise MethodNotAllowed(f"{path} takes POST, got {method}")
            return await self._reconstruct(request, start)
        except RequestError as err:
            self.metrics.record_error(err.status, type(err).__name__)
            return _json_response(error_body(err, err.status), err.status)
        except ReplicaUnavailable as err:
            self.metrics.record_error(503, type(err).__name__)
            return _json_response(error_body(err, 503), 503)
        except Exception as err:  # noqa: BLE001 - a 500 naming the error; the server keeps serving
            self.metrics.record_error(500, type(err).__name__)
            return _json_response(error_body(err, 500), 500)

    async def _health(self) -> bytes:
        info = await self.pipeline.describe.remote()
        return json.dumps({"status": "ok", **info}).encode()

    async def _reconstruct(self, request: Any, start: float) -> Any:
        limit = max_body_bytes(self.max_hits)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise EventTooLarge(f"body of {declared} bytes is over the limit of {limit} (--max-hits)")
        body = await request.body()
        hits = decode_request(
            body, request.headers.get("content-type"), accept=request.headers.get("accept"), max_hits=self.max_hits
        )
        decoded = time.perf_counter()
        answer = await self._forward(hits.event_id, hits.columns)
        if "error" in answer:
            status = int(answer["status"])
            self.metrics.record_error(status, answer["error"])
            return _json_response(json.dumps(answer).encode(), status)
        seconds = time.perf_counter() - start
        timings = {
            "decode_s": decoded - start,
            "pipeline_s": answer["pipeline_s"],
            "batch_size": answer["batch_size"],
            "stages_s": answer["stages_s"],
            "server_s": seconds,
        }
        response = TrackResponse(hits.event_id, hits.columns["hit_id"], answer["track_id"], timings)
        payload, media_type = encode_response(response, hits.response_type)
        self.metrics.record_ok(seconds, hits.num_hits, answer["batch_size"], answer["pipeline_s"])
        return _json_response(payload, 200, media_type)

    async def _forward(self, event_id: int, columns: dict[str, Any]) -> dict[str, Any]:
        from ray.exceptions import RayActorError

        last: Exception | None = None
        for attempt in range(1 + RETRIES):
            if attempt:
                self.metrics.retries += 1
                await asyncio.sleep(0.5)
            try:
                return await self.pipeline.reconstruct.remote((event_id, columns))
            except RayActorError as err:  # the replica died under the request; Ray restarts it
                last = err
        raise ReplicaUnavailable(f"no pipeline replica answered after {1 + RETRIES} attempts: {last}")


def build_app(config: ServeConfig, *, batched: bool = True) -> Any:
    """The Ray Serve application (ingress bound to the pipeline deployment) for ``config``."""
    serve = require("ray.serve")

    batch = serve.batch(max_batch_size=config.batch_size, batch_wait_timeout_s=config.batch_wait_ms / 1e3)

    class _Replica(PipelineReplica):
        @batch
        async def reconstruct(self, items: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
            return await self.reconstruct_batch(items)

    replica = serve.deployment(
        _Replica,
        name="trackpipe_pipeline",
        num_replicas=config.replicas,
        ray_actor_options={"num_cpus": config.cpus_per_replica, "num_gpus": config.gpus_per_replica},
        max_ongoing_requests=max(4 * config.batch_size, 16),
    )
    ingress = serve.deployment(
        Ingress, name="trackpipe_ingress", num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1024
    )
    device = config.device if config.gpus_per_replica > 0 else "cpu"
    pipeline = replica.bind(str(config.pipeline), device, config.threads, batched)
    return ingress.bind(pipeline, config.max_hits)


def serve_forever(config: ServeConfig, *, batched: bool = True, announce: Callable[[str], None] = print) -> None:
    """Start (or join) Ray, deploy, announce the URL, and serve until SIGINT / SIGTERM."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = require("ray")
    serve = require("ray.serve")
    if config.address is None:
        cpus = max(os.cpu_count() or 1, math.ceil(config.replicas * config.cpus_per_replica))
        ray.init(num_cpus=cpus, include_dashboard=False, namespace="trackpipe", log_to_driver=False)
    else:
        ray.init(address=config.address, namespace="trackpipe", log_to_driver=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": config.host, "port": config.port})
        serve.run(build_app(config, batched=batched), name="trackpipe", route_prefix="/", blocking=False)
        announce(f"trackpipe serve: listening on http://{config.host}:{config.port} ({config.replicas} replica(s))")
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()


__all__ = ["Ingress", "PipelineReplica", "ReplicaUnavailable", "build_app", "serve_forever"]
