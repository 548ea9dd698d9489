"""A ``trackpipe serve`` subprocess on a free loopback port, ready when ``GET /health`` answers.

For load tests, tests and notebooks: ``with LocalServer(["--max-batch-size", "4"]) as server:
server.client.reconstruct(event)``. Leaving the block stops Serve and the local Ray cluster it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType

from ..client import ServeError, TrackpipeClient


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``trackpipe serve ARGS --port <free>`` in a new process group; its output goes to ``log_path``."""

    def __init__(self, args: Sequence[str] = (), *, start_timeout_s: float = 300.0, threads: int = 1) -> None:
        self.args = list(args)
        self.start_timeout_s = start_timeout_s
        self.port = free_port()
        self.client = TrackpipeClient(f"http://127.0.0.1:{self.port}", timeout=300)
        self.log = tempfile.NamedTemporaryFile(prefix="trackpipe-serve-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = self.log.name
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads), RAY_USAGE_STATS_ENABLED="0")
        self.process: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self.start_time = 0.0

    def start(self) -> LocalServer:
        command = [sys.executable, "-m", "tracking", "serve", "--port", str(self.port), *self.args]
        start = time.perf_counter()
        # away from any source checkout: Ray puts the driver's working directory on its workers' sys.path,
        # and a source tree there (without its compiled _core) would shadow the installed trackpipe.
        # Paths in ``args`` must therefore be absolute.
        self.process = subprocess.Popen(
            command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            cwd=tempfile.gettempdir(),
        )
        self.start_time = start
        return self

    def wait_ready(self) -> dict:
        """Block until ``/health`` answers; RuntimeError with the log's tail if the server dies or times out."""
        assert self.process is not None, "start() first"
        deadline = self.start_time + self.start_timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trackpipe serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                health = self.client.health()
            except (OSError, ServeError):
                time.sleep(1)
                continue
            self.startup_s = time.perf_counter() - self.start_time
            return health
        raise RuntimeError(f"trackpipe serve not healthy after {self.start_timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)  # the server shuts Serve and its local Ray cluster down
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.stop()
        self.log.close()
        os.unlink(self.log_path)

    def __enter__(self) -> LocalServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


__all__ = ["LocalServer", "free_port"]
