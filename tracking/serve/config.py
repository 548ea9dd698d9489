"""The configuration of ``trackpipe serve`` (built with :func:`tracking.config.build`, like every config)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from ..config import Range
from .wire import DEFAULT_MAX_HITS


@dataclass
class ServeConfig:
    """Where to listen, what to serve, and how to batch and replicate it."""

    pipeline: Path = Path("builtin:default_pipeline.yaml")  # pipeline YAML; every Ray node must see the path
    host: str = "127.0.0.1"  # loopback only by default: the service has no authentication of its own
    port: Annotated[int, Range(ge=1, le=65535)] = 8000
    replicas: Annotated[int, Range(ge=1)] = 1  # pipeline replicas (Ray actors), each with its own model copy
    gpus_per_replica: Annotated[float, Range(ge=0)] = 0.0  # fractions share a GPU between replicas
    cpus_per_replica: Annotated[float, Range(ge=0)] = 1.0
    # Events per pass through the edge classifiers. None: 8 with GPUs, 1 (no batching) on CPU, where
    # `trackpipe bench --only serve` measured batches of 8 at 0.48-0.85x the speed of one event at a time.
    max_batch_size: Annotated[int, Range(ge=1)] | None = None
    batch_wait_ms: Annotated[float, Range(ge=0)] = 20.0  # how long a batch may wait to fill
    max_hits: Annotated[int, Range(ge=1)] = DEFAULT_MAX_HITS  # larger events get 413
    device: str = "auto"  # auto | cpu | cuda[:N], inside each replica (Ray assigns its GPUs)
    torch_threads: Annotated[int, Range(ge=1)] | None = None  # per replica; default: cpus_per_replica (>= 1)
    address: str | None = None  # Ray cluster to join (ray://host:10001 or auto); None starts a local one

    def __post_init__(self) -> None:
        if self.device.startswith("cuda") and self.gpus_per_replica == 0:
            raise ValueError(f"device {self.device!r} needs gpus_per_replica > 0 (Ray hides GPUs from the replica)")

    @property
    def batch_size(self) -> int:
        if self.max_batch_size is not None:
            return self.max_batch_size
        return 8 if self.gpus_per_replica > 0 else 1

    @property
    def threads(self) -> int:
        return self.torch_threads or max(1, int(self.cpus_per_replica))


__all__ = ["ServeConfig"]
