"""The benchmark suite runner: discovers ``bench_*`` modules, runs them, prints one table, writes JSON.

Used by ``trackpipe bench`` and ``python -m benchmarks``. Every module runs in this process, one after
the other; a module that raises is reported as failed with its error and the suite goes on, one that
raises :class:`~.common.SkipBenchmark` is reported as skipped. Modules the suite expects but that are
not installed are listed as skipped, so a partial checkout still says what it did not measure.

JSON layout (``format`` 1)::

    {"format": 1, "created": ISO time, "quick": bool, "only": [...] | null, "wall_s": float,
     "machine": {cpu_model, logical_cpus, usable_cpus, gpus, ... tracking.cli.info.collect_info()},
     "modules": [{"name", "module", "status": "ok" | "failed" | "skipped", "reason", "seconds",
                  "rows": [Row.as_dict(), ...]}]}

Non-finite numbers are written as null, so the file is strict JSON.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import math
import os
import pkgutil
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import Row, SkipBenchmark, format_table

JSON_FORMAT = 1
MODULE_PREFIX = "bench_"
#: Sections the suite is expected to contain; one missing from the installation is listed as skipped.
EXPECTED_MODULES: tuple[str, ...] = (
    "simulation", "realism", "graph", "components", "aggregation", "training", "pipeline", "serve",
)  # fmt: skip


@dataclass
class ModuleResult:
    """The outcome of one benchmark module."""

    name: str  # short name: "graph" for bench_graph
    module: str  # importable module name
    status: str  # "ok", "failed" or "skipped"
    seconds: float = 0.0
    rows: list[Any] = field(default_factory=list)  # Row (of this or another copy of common.py)
    reason: str | None = None  # error or skip reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "status": self.status,
            "reason": self.reason,
            "seconds": self.seconds,
            "rows": [r.as_dict() for r in self.rows],
        }


def _package_name() -> str:
    # "benchmarks" from a checkout, "tracking.benchmarks" when installed from the wheel.
    return __name__.rpartition(".")[0]


def discover(package: str | None = None) -> dict[str, str]:
    """Short name -> module name of every ``bench_*`` module in ``package`` (default: this package)."""
    package = package or _package_name()
    pkg = importlib.import_module(package)
    found = {
        info.name[len(MODULE_PREFIX) :]: f"{package}.{info.name}"
        for info in pkgutil.iter_modules(pkg.__path__)
        if info.name.startswith(MODULE_PREFIX) and not info.ispkg
    }
    return dict(sorted(found.items()))


def _select(available: dict[str, str], only: Sequence[str] | None) -> list[str]:
    if not only:
        return list(available)
    chosen = []
    for raw in only:
        name = raw.removeprefix(MODULE_PREFIX).removesuffix(".py")
        if name not in available:
            known = ", ".join(available) or "none"
            raise ValueError(f"--only {raw!r}: no benchmark module bench_{name}.py; known: {known}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def run_module(name: str, module_name: str, quick: bool) -> ModuleResult:
    """Import and run one module; never raises for a failure inside the module."""
    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        run = getattr(module, "run", None)
        if not callable(run):
            raise TypeError(f"{module_name} has no run(quick=False) function")
        rows = list(run(quick=quick))
        # Duck-typed: a checkout's benchmarks.common.Row and the installed tracking.benchmarks one differ.
        bad = [type(r).__name__ for r in rows if not callable(getattr(r, "as_dict", None))]
        if bad:
            raise TypeError(f"{module_name}.run returned {bad[0]} items; expected benchmarks.common.Row")
    except SkipBenchmark as why:
        return ModuleResult(name, module_name, "skipped", time.perf_counter() - start, reason=str(why) or "skipped")
    except Exception as err:  # noqa: BLE001 - one broken section must not take the suite down
        where = traceback.extract_tb(err.__traceback__)[-1]
        reason = f"{type(err).__name__}: {err} (at {Path(where.filename).name}:{where.lineno})"
        return ModuleResult(name, module_name, "failed", time.perf_counter() - start, reason=reason)
    return ModuleResult(name, module_name, "ok", time.perf_counter() - start, rows=rows)


def run_suite(
    *,
    quick: bool = False,
    only: Sequence[str] | None = None,
    package: str | None = None,
    expected: Iterable[str] = EXPECTED_MODULES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the selected benchmark modules and return the JSON-ready result (see the module docstring).

    Raises ``ValueError`` when ``only`` names a module that does not exist.
    """
    available = discover(package)
    names = _select(available, only)
    start = time.perf_counter()
    results: list[ModuleResult] = []
    for name in names:
        if progress:
            progress(f"running {name} ...")
        result = run_module(name, available[name], quick)
        if progress:
            note = f" ({result.reason})" if result.reason else ""
            progress(f"  {name}: {result.status} in {result.seconds:.1f} s{note}")
        results.append(result)
    if not only:
        for name in expected:
            if name not in available:
                module = f"{package or _package_name()}.{MODULE_PREFIX}{name}"
                results.append(
                    ModuleResult(name, module, "skipped", reason=f"{MODULE_PREFIX}{name}.py is not installed")
                )
    return {
        "format": JSON_FORMAT,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "only": list(only) if only else None,
        "wall_s": time.perf_counter() - start,
        "machine": machine_info(),
        "modules": [r.as_dict() for r in results],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, logical and usable CPUs, GPUs, thread settings and versions (``trackpipe info``)."""
    import torch

    try:
        from tracking.cli.info import collect_info

        info: dict[str, Any] = dict(collect_info())
    except Exception as err:  # noqa: BLE001 - a broken native build still gets its timings recorded
        info = {"collect_info_error": f"{type(err).__name__}: {err}", "torch": torch.__version__}
    gpus = []
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    baselines = {}
    for name in ("scipy", "pandas"):  # what the baselines run on
        try:
            baselines[name] = importlib.import_module(name).__version__
        except ImportError:
            baselines[name] = None
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "gpus": gpus,
        "hostname": platform.node(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        **info,
        **baselines,
    }


def _clean(value: Any) -> Any:
    """``value`` with non-finite floats as None and paths/tuples as JSON types."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _clean(value.item())
    return value


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the suite result to ``path`` atomically, as strict JSON."""
    from tracking.atomic import atomic_output

    target = Path(path)
    with atomic_output(target) as tmp:
        Path(tmp).write_text(json.dumps(_clean(result), indent=2, allow_nan=False) + "\n")
    return target


def rows_of(module: dict[str, Any]) -> list[Row]:
    """The rows of one module entry of the JSON result, as :class:`Row` objects."""
    fields = Row.__dataclass_fields__
    return [
        Row(**{k: (math.nan if k == "ours_s" and v is None else v) for k, v in r.items() if k in fields})
        for r in module["rows"]
    ]


def format_result(result: dict[str, Any]) -> str:
    """One table over every module, a title line per module, failed and skipped modules with reasons."""
    sections = []
    for module in result["modules"]:
        title = f"{module['name']} ({module['status']}, {module['seconds']:.1f} s)"
        if module["status"] != "ok":
            title += f": {module['reason']}"
        sections.append((title, rows_of(module)))
    machine = result["machine"]
    head = (
        f"trackpipe {machine.get('trackpipe', '?')} on {machine['cpu_model']}, "
        f"{machine['usable_cpus']}/{machine['logical_cpus']} CPUs, torch threads {machine.get('torch_threads', '?')}, "
        f"OpenMP threads {machine.get('openmp_threads', '?')}, GPU: {', '.join(machine['gpus']) or 'none'}"
        f"{' (quick)' if result['quick'] else ''}"
    )
    failed = [m["name"] for m in result["modules"] if m["status"] == "failed"]
    tail = f"suite finished in {result['wall_s']:.1f} s" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    return "\n".join([head, "", format_table([], sections=sections), "", tail])


def main(argv: Sequence[str] | None = None, prog_name: str = "python -m benchmarks") -> None:
    """Entry point of ``python -m benchmarks``: the same options as ``trackpipe bench``."""
    from tracking.cli.bench import bench

    # Discover this package's modules, not necessarily tracking.benchmarks: a checkout runs its own.
    bench.main(
        args=list(argv) if argv is not None else sys.argv[1:],
        prog_name=prog_name,
        default_map={"package": _package_name()},
    )
