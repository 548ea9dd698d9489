"""Training at scale: peak memory of one InteractionGNN training step on a mu = 200 event graph vs the
number of η–φ partitions (1, 2, 4, 8) with and without activation checkpointing, and DDP throughput
of 1 vs 2 processes.

Memory is measured in a fresh subprocess per setting: on CPU the step's rise of the resident-set
high-water mark (``VmHWM`` in ``/proc/self/status``) over its value just before the step; on CUDA
``torch.cuda.max_memory_allocated``. The baseline of each partitioned row is the 1-partition,
no-checkpointing step, so the ratio is the memory saved. On CUDA the graph comes from the
``module_map`` graph builder (about 1.3M edges at mu = 200); on CPU, where its full-graph step would
need about 15 GiB, from ``metric_learning`` on the raw hit features (about 200k edges).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, format_table

HIDDEN, ITERATIONS = 32, 4


def _graph_builder_spec() -> dict:
    from tracking import accel
    from tracking.config import RESOURCES_DIR

    if accel.cuda_available() and (RESOURCES_DIR / "module_map_default.npz").is_file():
        return {"graph_builder": "module_map"}
    return {"graph_builder": "metric_learning", "radius": 0.02, "k_max": 16}


def _build_graph(mu: float, path: Path) -> dict:
    import torch

    from tracking.simulation import simulate_event
    from tracking.training.config import parse_config
    from tracking.training.datasets import TrainingGraphs

    spec = _graph_builder_spec()
    config = parse_config(
        {"output": str(path.parent), "data": {"train": {"simulate": {"n": 1}}}, "graph_builder": spec}
    )
    sample = TrainingGraphs(config, torch.device("cpu"))(simulate_event(mu, 1, 0))
    torch.save(sample.as_dict(), path)
    return {"builder": spec["graph_builder"], "hits": int(sample.x.shape[0]), "edges": sample.num_edges}


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _step_worker(graph: str, partitions: int, checkpointing: bool, device: str) -> dict:
    """One training step in this (fresh) process; prints its memory and time as JSON."""
    import torch

    from tracking.nn import InteractionGNN
    from tracking.training import GraphSample, graph_loss, plan_partitions

    dev = torch.device(device)
    sample = GraphSample.from_dict(torch.load(graph, weights_only=True)).to(dev)
    torch.manual_seed(0)
    model = InteractionGNN(hidden=HIDDEN, n_iterations=ITERATIONS, checkpoint_iterations=checkpointing).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    parts = (
        plan_partitions(sample, ITERATIONS, None, n_regions=partitions)
        if partitions > 1
        else plan_partitions(sample, ITERATIONS, None)
    )
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev) / 2**20
    else:
        before = _peak_rss_mib()
    start = time.perf_counter()
    graph_loss(model, sample, 5.0, parts, backward=True)
    optimizer.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        peak = _peak_rss_mib()
    return {
        "seconds": time.perf_counter() - start,
        "peak_mib": peak,
        "step_mib": peak - before,
        "partitions": len(parts),
        "largest_partition_edges": max(p.num_edges for p in parts),
    }


def _measure_step(graph: Path, partitions: int, checkpointing: bool, device: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_training",
        "--step",
        str(graph),
        str(partitions),
        str(int(checkpointing)),
        device,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _throughput(workdir: Path, nproc: int, mu: float, events: int) -> float:
    """Training events per second of the second epoch (the first compiles and warms caches)."""
    import yaml

    out = workdir / f"ddp{nproc}"
    config = {
        "seed": 0,
        "output": str(out),
        "device": "cpu",
        "data": {"train": {"simulate": {"n": events, "mu": mu, "seed": 3}}, "cache_dir": str(workdir / "cache")},
        "graph_builder": _graph_builder_spec(),
        "model": {"name": "interaction_gnn", "hidden": HIDDEN, "n_iterations": ITERATIONS},
        "schedule": {"epochs": 2, "kind": "constant"},
    }
    path = workdir / f"ddp{nproc}.yaml"
    path.write_text(yaml.safe_dump(config))
    cores = os.cpu_count() or 1
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // nproc)))
    cmd = [sys.executable, "-m", "tracking", "train", str(path), "--quiet", "--no-resume", "--nproc", str(nproc)]
    # cwd away from a checkout, whose tracking/ (no compiled _core in a regular install) would shadow
    subprocess.run(cmd, check=True, env=env, capture_output=True, cwd=workdir)
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return events / history[-1]["seconds"]


def run(quick: bool = False) -> list[Row]:
    import torch

    from tracking import accel

    device = "cuda" if accel.cuda_available() else "cpu"
    mu = 20 if quick else 200
    partition_counts = (1, 4) if quick else (1, 2, 4, 8)  # --quick is a CI smoke run: fewer subprocesses
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        graph = workdir / "graph.pt"
        info = _build_graph(mu, graph)
        size = f"mu={mu}: {info['hits']} hits, {info['edges']} edges ({info['builder']})"
        unit_note = "peak RSS rise" if device == "cpu" else "cuda max_memory_allocated"
        reference = None
        for checkpointing in (False, True):
            for partitions in partition_counts:
                m = _measure_step(graph, partitions, checkpointing, device)
                value = m["step_mib"] if device == "cpu" else m["peak_mib"]
                if reference is None:
                    reference = value
                rows.append(
                    Row(
                        f"train step memory ({unit_note}), {partitions} partition(s), "
                        f"checkpointing {'on' if checkpointing else 'off'}",
                        size,
                        value,
                        baseline="1 partition, no checkpointing",
                        baseline_s=reference,
                        unit="MiB",
                        extra={**m, "device": device, "hidden": HIDDEN, "iterations": ITERATIONS},
                    )
                )
        events = 2 if quick else 8
        tmu = 20 if quick else 50
        one = _throughput(workdir, 1, tmu, events)
        two = _throughput(workdir, 2, tmu, events)
        rows.append(Row("DDP training throughput, 1 process", f"{events} events mu={tmu}", one, unit="events/s"))
        rows.append(
            Row(
                "DDP training throughput, 2 processes (gloo)",
                f"{events} events mu={tmu}",
                two,
                unit="events/s",
                extra={
                    "speedup_vs_1": two / one,
                    "cores": os.cpu_count(),
                    "torch_threads_total": torch.get_num_threads(),
                },
            )
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        print(json.dumps(_step_worker(sys.argv[2], int(sys.argv[3]), bool(int(sys.argv[4])), sys.argv[5])))
    else:
        result = run(quick="--quick" in sys.argv)
        print(format_table(result))
        print(json.dumps([r.as_dict() for r in result], indent=2))
