from __future__ import annotations

import json
import platform

import click


def collect_info() -> dict[str, object]:
    """What this installation can do; shared by `trackpipe info` and the benchmark JSON."""
    import numpy
    import torch

    from .. import __version__, accel
    from .._native import core

    devices = []
    if accel.CUDA_COMPILED:
        devices = [core.cuda_device_description(i) for i in range(core.cuda_device_count())]
    return {
        "trackpipe": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_compiled": accel.CUDA_COMPILED,
        "cuda_devices": devices,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_cuda_available": torch.cuda.is_available(),
        "torch_scatter": accel.TORCH_SCATTER,
        "openmp": accel.OPENMP_COMPILED,
        "openmp_threads": int(core.max_threads()),
        "torch_threads": torch.get_num_threads(),
        "numpy": numpy.__version__,
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the information as JSON.")
def info(as_json: bool) -> None:
    """Show version, CUDA build and devices, torch, torch-scatter and threads."""
    data = collect_info()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    gpus = data["cuda_devices"]
    rows = [
        ("trackpipe", data["trackpipe"]),
        ("python", f"{data['python']} ({data['platform']})"),
        ("CUDA kernels", "compiled in" if data["cuda_compiled"] else "not compiled (CPU only build)"),
        ("GPUs visible", f"{len(gpus)}" + (": " + "; ".join(gpus) if gpus else "")),  # type: ignore[arg-type]
        ("torch", f"{data['torch']} (CUDA {data['torch_cuda'] or 'none'}, available: {data['torch_cuda_available']})"),
        (
            "torch-scatter",
            "installed" if data["torch_scatter"] else "not installed (optional; native torch scatter used)",
        ),
        ("OpenMP threads", f"{data['openmp_threads']}" + ("" if data["openmp"] else " (built without OpenMP)")),
        ("torch threads", str(data["torch_threads"])),
        ("numpy", data["numpy"]),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
