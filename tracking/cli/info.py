from __future__ import annotations

import json
import platform

import click


def _installed_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def collect_info(torch_runtime: bool = True) -> dict[str, object]:
    """What this installation can do; shared by `trackpipe info` and the benchmark JSON.

    ``torch_runtime=False`` leaves out what only importing torch can tell (its CUDA build and
    devices, its threads), which takes seconds; the rest comes from our own module and metadata.
    """
    from .. import __version__, accel
    from .._native import core

    devices = []
    if accel.CUDA_COMPILED:
        devices = [core.cuda_device_description(i) for i in range(core.cuda_device_count())]
    data: dict[str, object] = {
        "trackpipe": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_compiled": accel.CUDA_COMPILED,
        "cuda_devices": devices,
        "torch": _installed_version("torch"),
        "torch_scatter": accel.TORCH_SCATTER,
        "openmp": accel.OPENMP_COMPILED,
        "openmp_threads": int(core.max_threads()),
        "nn_kernels_avx2": bool(core.nn_kernels_vectorised()),
        "numpy": _installed_version("numpy"),
    }
    if torch_runtime:
        import torch

        data.update(
            torch=torch.__version__,
            torch_cuda=torch.version.cuda,
            torch_cuda_available=torch.cuda.is_available(),
            torch_threads=torch.get_num_threads(),
        )
    return data


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the information as JSON.")
@click.option(
    "--torch",
    "torch_runtime",
    is_flag=True,
    help="Also import torch (seconds) to show its CUDA build, whether it sees a GPU, and its threads.",
)
def info(as_json: bool, torch_runtime: bool) -> None:
    """Show version, CUDA build and devices, torch, torch-scatter and threads."""
    data = collect_info(torch_runtime)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    gpus = data["cuda_devices"]
    rows = [
        ("trackpipe", data["trackpipe"]),
        ("python", f"{data['python']} ({data['platform']})"),
        ("CUDA kernels", "compiled in" if data["cuda_compiled"] else "not compiled (CPU only build)"),
        ("GPUs visible", f"{len(gpus)}" + (": " + "; ".join(gpus) if gpus else "")),  # type: ignore[arg-type]
        (
            "torch",
            f"{data['torch']} (CUDA {data['torch_cuda'] or 'none'}, available: {data['torch_cuda_available']})"
            if torch_runtime
            else f"{data['torch']} (--torch for its CUDA build and devices)",
        ),
        (
            "torch-scatter",
            "installed" if data["torch_scatter"] else "not installed (optional; native torch scatter used)",
        ),
        ("OpenMP threads", f"{data['openmp_threads']}" + ("" if data["openmp"] else " (built without OpenMP)")),
        (
            "fused nn kernels",
            "AVX2 + FMA" if data["nn_kernels_avx2"] else "portable (no AVX2 + FMA on this CPU)",
        ),
        *([("torch threads", str(data["torch_threads"]))] if torch_runtime else []),
        ("numpy", data["numpy"]),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
