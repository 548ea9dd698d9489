"""The default pipeline, stage by stage, beside the ACORN reference path (:mod:`.reference`: PyModuleMap,
ACORN's Filter and InteractionGNN layouts at our sizes, FastWalkthrough).

Inputs: simulated events at mu = 20, 50, 100, 200 (``--quick``: 20, 50), seeds fixed, and the full
real TrackML event ``../shared/data/trackml/event000001000-hits.csv.gz`` (120k hits; not in quick
mode). Truth is stripped before timing: production inference has none, and the graph builders would
otherwise also label edges. Both paths get the same event, the same map, the same module ids and, stage by
stage, the same input (our stage's input); the graph builders must give the same edge set or the
benchmark fails (:class:`GraphMismatchError`). The reference end to end is the sum of its stages.
Edge classifiers get a second row, ``[same model]``: our model run ACORN's way (plain torch), so the
ratio is framework overhead alone. Every row records the torch thread count.

With onnxruntime installed (``pip install "trackpipe[export]"``; not in quick mode), the pipeline runs a
second time on the mu = 200 and real events with ``backend: onnxruntime`` for its edge classifiers: rows
marked ``[onnxruntime]``, against the same reference figures (measured once, above). The export happens in
the warm-up call, outside the timings (a pipeline exports once per machine: the export is cached).

The pipeline is the shipped default (``builtin:default_pipeline.yaml``) when it exists. Otherwise an
equivalent one is built here: ``module_map`` with the shipped map (or one learned from simulated
events, seeds disjoint from the benchmark's), ``interaction_gnn`` with a randomly initialised model of
the default size (timing does not depend on the weights), and ``connected_components``. A random
model scores edges arbitrarily, so its score cut is set to keep the fraction of edges that are true
on a calibration event: the track builder then sees as many edges as with a trained model.

Reported per stage and end to end: best-of-N latency of both paths and the ratio; the growth exponent
k of latency ~ hits^k (least squares on log-log over the simulated sizes); peak memory.

Peak memory method: each (path, stage) runs once in a fresh Python subprocess that unpickles the
stage and its input event, resets the kernel's RSS high-water mark (``/proc/self/clear_refs`` = 5),
runs the stage and reads ``VmHWM`` - ``VmRSS``-before: the extra resident memory the stage needed,
whatever allocated it (numpy, pandas, torch, OpenMP, C++). ``MALLOC_MMAP_THRESHOLD_`` is fixed so
glibc returns large freed blocks instead of recycling them, which would hide allocations.
(tracemalloc sees only Python's allocator and misses torch and C++.)
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .common import Row, format_table, skipped_row
from .reference import ReferenceStage, reference_stage, same_model_reference, same_partition

SIM_SEED = 20_000  # benchmark events: seed SIM_SEED + mu
MAP_SEED = 30_000  # map-learning events, disjoint from the above
MU_FULL = (20, 50, 100, 200)
MU_QUICK = (20, 50)
REAL_EVENT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "trackml" / "event000001000-hits.csv.gz"
LATENCY_KIND = "stage_latency"
SAME_MODEL_KIND = "same_model_latency"  # our model in ACORN's harness: framework overhead alone
# Importable name of this module, also when run as `python -m benchmarks.bench_pipeline` (__main__).
MODULE_NAME = __spec__.name if __spec__ is not None else __name__
END_TO_END = "end to end"


def _real_event_path() -> Path:
    """The real TrackML event: $TRACKPIPE_DATA/trackml/... or ../shared/data/trackml/... of the checkout."""
    root = os.environ.get("TRACKPIPE_DATA")
    return Path(root) / "trackml" / REAL_EVENT.name if root else REAL_EVENT


@dataclass
class PipelineSetup:
    stages: list[Any]  # trackpipe stages (plugins), in order
    labels: list[str]
    source: str  # where the pipeline came from, in words
    notes: dict[str, Any] = field(default_factory=dict)
    tmpdir: tempfile.TemporaryDirectory | None = None


def _strip_truth(event):
    return event.replace(particle_id=None, particles=None, edge_truth=None)


def _label(stage: Any) -> str:
    return f"{getattr(stage, 'plugin_kind', 'stage')}:{getattr(stage, 'plugin_name', type(stage).__name__)}"


def build_pipeline(quick: bool) -> PipelineSetup:
    """The shipped default pipeline, or the equivalent built in code (see the module docstring)."""
    from tracking import registry
    from tracking.config import RESOURCES_DIR
    from tracking.errors import ConfigError, DataError
    from tracking.pipeline import Pipeline
    from tracking.runner import DEFAULT_PIPELINE

    default_yaml = RESOURCES_DIR / DEFAULT_PIPELINE.removeprefix("builtin:")
    fallback_reason = f"{default_yaml.name} is not shipped"
    if default_yaml.is_file():
        try:
            pipeline = Pipeline.from_yaml(DEFAULT_PIPELINE, device="cpu")
            return PipelineSetup(pipeline.stages, list(pipeline.labels), f"shipped {DEFAULT_PIPELINE}")
        except (ConfigError, DataError, FileNotFoundError) as err:  # e.g. its model not produced yet
            fallback_reason = f"{DEFAULT_PIPELINE} does not load: {err}"

    import torch

    from tracking.modulemap import ModuleMap, learn_module_map
    from tracking.nn import InteractionGNN
    from tracking.nn.checkpoint import save_model
    from tracking.simulation import simulate_event
    from tracking.truth import label_edges

    notes: dict[str, Any] = {"why_built_in_code": fallback_reason}
    tmp = tempfile.TemporaryDirectory(prefix="trackpipe-bench-")
    shipped_map = RESOURCES_DIR / "module_map_default.npz"
    if shipped_map.is_file():
        map_path = shipped_map
        notes["map"] = f"shipped {shipped_map.name}"
    else:
        n_map_events = 3 if quick else 20
        learned = learn_module_map(simulate_event(mu=200, seed=MAP_SEED + i) for i in range(n_map_events))
        map_path = learned.save(Path(tmp.name) / "module_map.npz")
        notes["map"] = f"learned from {n_map_events} simulated mu=200 events (seeds {MAP_SEED}+)"
    module_map = ModuleMap.load(map_path)
    notes["map_entries"] = module_map.num_entries

    torch.manual_seed(0)
    # Full: the default size, so the timing is that of a trained model of the same shape. Quick (a CI
    # smoke run on 2 shared cores): a small model, so the GNN does not dominate the run.
    model = InteractionGNN(hidden=32, n_iterations=3) if quick else InteractionGNN()
    checkpoint = save_model(model, Path(tmp.name) / "gnn.pt")
    notes["model"] = f"random InteractionGNN{model.hparams}"

    graph = registry.create("graph_builder", "module_map", {"map": map_path})
    scorer = registry.create("edge_classifier", "interaction_gnn", {"checkpoint": checkpoint, "prune": False})
    calibration_mu = 20 if quick else 200
    calibration = label_edges(graph(simulate_event(mu=calibration_mu, seed=MAP_SEED - 1).to("cpu")))
    scores = scorer(calibration).edge_scores.numpy()
    true_fraction = float(np.asarray(calibration.edge_truth).mean()) if calibration.num_edges else 0.5
    score_cut = float(np.quantile(scores, 1 - true_fraction)) if len(scores) else 0.5
    score_cut = min(max(score_cut, 0.0), 1.0)
    notes["score_cut"] = (
        f"{score_cut:.6f} (keeps the true-edge fraction {true_fraction:.3f} of a mu={calibration_mu} graph)"
    )
    classifier = registry.create(
        "edge_classifier", "interaction_gnn", {"checkpoint": checkpoint, "score_cut": score_cut}
    )
    tracks = registry.create("track_builder", "connected_components", {"score_cut": score_cut, "min_hits": 3})
    stages = [graph, classifier, tracks]
    return PipelineSetup(
        stages, [_label(s) for s in stages], "built in code (default pipeline unavailable)", notes, tmp
    )


def _edge_set(edge_index, n: int) -> np.ndarray:
    e = edge_index.cpu().numpy() if hasattr(edge_index, "cpu") else np.asarray(edge_index)
    return np.sort(e[0].astype(np.int64) * n + e[1])


def _sync(device) -> Callable[[], None]:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


class GraphMismatchError(RuntimeError):
    """The reference and our graph builder gave different edge sets: the comparison would be unfair."""


@dataclass
class Measurement:
    name: str  # "mu=20" or "TrackML event 1000"
    mu: int | None
    hits: int
    stage_ours: dict[str, float]
    stage_ref: dict[str, float]
    end_to_end: tuple[float, float]
    counts: dict[str, Any]
    inputs: dict[str, tuple[Any, Any]]  # stage label -> (ours input event, reference input event)
    outputs: dict[str, tuple[Any, Any]]  # stage label -> (ours output event, reference output event)
    stage_same_model: dict[str, float] = field(default_factory=dict)  # our model run ACORN's way


def measure(
    event,
    stages: list[Any],
    labels: list[str],
    references: list[ReferenceStage],
    repeat: int,
    name: str,
    mu: int | None,
    device="cpu",
    warmup: int = 1,
    reference_from: Measurement | None = None,
    same_model: list[ReferenceStage | None] | None = None,
) -> Measurement:
    """Latency of every stage of both paths on ``event`` (best of ``repeat`` after ``warmup`` calls),
    interleaved so that both see the same machine state, plus end to end, plus agreement checks.

    Identical inputs: every reference stage gets *our* stage's input (as numpy), so each ratio compares
    the same work (the ACORN-layout models have random weights; their scores cannot feed the next
    stage). The reference end to end is the sum of its stages. The graph builders must give the same
    edge set: :class:`GraphMismatchError` otherwise. ``same_model``: per stage, our model run ACORN's
    way (:func:`.reference.same_model_reference`), timed on the same input (framework overhead).

    ``reference_from``: a measurement of the same event whose reference figures and outputs are
    reused instead of running the reference again (our GPU path against the CPU reference)."""
    from tracking.pipeline import Pipeline

    sync = _sync(device)
    event = _strip_truth(event.numpy())
    ours_in = event.to(device)
    stage_ours, stage_ref, stage_same, inputs = {}, {}, {}, {}
    outputs: dict[str, tuple[Any, Any]] = {}
    extra = same_model or [None] * len(stages)
    for label, stage, ref, alt in zip(labels, stages, references, extra):
        ref_in = ours_in.numpy() if reference_from is None else reference_from.inputs[label][1]
        inputs[label] = (ours_in, ref_in)

        def ours_call(stage=stage, ev=ours_in):
            out = stage(ev)
            sync()
            return out

        stage_ours[label], next_ours = timed(ours_call, repeat=repeat, warmup=warmup)
        if reference_from is None:
            stage_ref[label], ref_out = timed(lambda ref=ref, ev=ref_in: ref(ev), repeat=repeat, warmup=warmup)
            if alt is not None:
                stage_same[label] = timed(lambda alt=alt, ev=ref_in: alt(ev), repeat=repeat, warmup=warmup)[0]
        else:
            stage_ref[label], ref_out = reference_from.stage_ref[label], reference_from.outputs[label][1]
            stage_same = dict(reference_from.stage_same_model)
        outputs[label] = (next_ours, ref_out)
        ours_in = next_ours
    pipeline = Pipeline(stages, device=device, labels=labels)
    e2e_repeat = max(1, repeat - 1)
    e2e_ours = timed(lambda: (pipeline(event), sync()), repeat=e2e_repeat, warmup=0)[0]
    e2e_ref = sum(stage_ref.values())

    counts: dict[str, Any] = {"hits": event.num_hits}
    n = event.num_hits
    for label, (ours_out, ref_out) in outputs.items():
        if label.startswith("graph_builder"):
            counts["edges"] = int(ours_out.num_edges)
            counts["edges_reference"] = int(ref_out.num_edges)
            equal = bool(np.array_equal(_edge_set(ours_out.edge_index, n), _edge_set(ref_out.edge_index, n)))
            counts["graph_edges_equal"] = equal
            if not equal:
                raise GraphMismatchError(
                    f"{name}: {label} gave {ours_out.num_edges} edges, its ACORN reference "
                    f"{ref_out.num_edges}, and the edge sets differ: the two paths would not compare like with like"
                )
        elif label.startswith("edge_classifier"):
            counts[f"edges_after_{label.split(':')[1]}"] = int(ours_out.num_edges)
        elif label.startswith("track_builder"):
            labels_ours = ours_out.track_labels.cpu().numpy()
            counts["tracks"] = int(labels_ours.max() + 1) if len(labels_ours) else 0
            counts["tracks_reference"] = int(np.asarray(ref_out.track_labels).max() + 1) if n else 0
            counts["same_tracks"] = same_partition(labels_ours, ref_out.track_labels)
    return Measurement(
        name, mu, event.num_hits, stage_ours, stage_ref, (e2e_ours, e2e_ref), counts, inputs, outputs, stage_same
    )


def timed(fn: Callable[[], Any], repeat: int, warmup: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls after ``warmup`` untimed ones, and the last call's result
    (so a stage's output feeds the next stage without an extra run)."""
    result = None
    for _ in range(warmup):
        result = fn()
    best = math.inf
    for _ in range(repeat):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def growth_exponent(hits: list[int], seconds: list[float]) -> float:
    """k of seconds ~ hits^k: least-squares slope on log-log (NaN with fewer than 2 sizes)."""
    ok = [(h, s) for h, s in zip(hits, seconds) if h > 0 and s > 0 and math.isfinite(s)]
    if len(ok) < 2:
        return math.nan
    x, y = np.log([h for h, _ in ok]), np.log([s for _, s in ok])
    return float(np.polyfit(x, y, 1)[0])


# -- peak memory in fresh subprocesses ----------------------------------------------------------------


def _proc_status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def _memory_child(payload_path: str, result_path: str) -> None:
    """Run in a fresh process: the extra resident memory one stage needs on its input."""
    import torch

    with open(payload_path, "rb") as f:
        stage, event, threads = pickle.load(f)
    torch.set_num_threads(threads)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _proc_status_kib("VmRSS")
    start = time.perf_counter()
    stage(event)
    seconds = time.perf_counter() - start
    peak = _proc_status_kib("VmHWM")
    Path(result_path).write_text(json.dumps({"rss_before_kib": before, "peak_kib": peak, "seconds": seconds}))


def _package_root() -> Path:
    # The directory from which this module's top-level package imports (the checkout for `benchmarks`).
    depth = MODULE_NAME.count(".")
    return Path(__file__).resolve().parents[depth]


def peak_memory_mib(stage: Any, event: Any, timeout: float = 600) -> float:
    """Extra resident MiB that ``stage(event)`` needs, measured in a fresh subprocess (see module doc)."""
    import torch

    with tempfile.TemporaryDirectory(prefix="trackpipe-mem-") as tmp:
        payload, result = Path(tmp) / "payload.pkl", Path(tmp) / "result.json"
        with open(payload, "wb") as f:
            pickle.dump((stage, event, torch.get_num_threads()), f, protocol=pickle.HIGHEST_PROTOCOL)
        env = dict(
            os.environ,
            MALLOC_MMAP_THRESHOLD_="131072",
            PYTHONPATH=os.pathsep.join(filter(None, [str(_package_root()), os.environ.get("PYTHONPATH")])),
        )
        code = "import importlib, sys; importlib.import_module(sys.argv[1])._memory_child(sys.argv[2], sys.argv[3])"
        # cwd away from a checkout, whose tracking/ (no compiled _core) would shadow the installed one
        proc = subprocess.run(
            [sys.executable, "-c", code, MODULE_NAME, str(payload), str(result)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp,
        )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"memory subprocess failed ({proc.returncode}): {tail}")
        data = json.loads(result.read_text())
    return (data["peak_kib"] - data["rss_before_kib"]) / 1024


def _memory_rows(m: Measurement, labels: list[str], stages: list[Any], references: list[ReferenceStage]) -> list[Row]:
    rows = []
    size = f"{m.name}, {m.hits} hits"
    for label, stage, ref in zip(labels, stages, references):
        ours_in, ref_in = m.inputs[label]
        try:
            ours_mib = peak_memory_mib(stage, ours_in)
            ref_mib = peak_memory_mib(ref, ref_in)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            rows.append(skipped_row(f"{label} peak memory", f"{type(err).__name__}: {err}", size))
            continue
        rows.append(
            Row(
                f"{label} peak memory",
                size,
                ours_mib,
                "ACORN-equivalent",
                ref_mib,
                unit="MiB",
                extra={
                    "kind": "stage_memory",
                    "stage": label,
                    "hits": m.hits,
                    "mu": m.mu,
                    "method": "RSS high-water delta in a fresh subprocess (/proc clear_refs, VmHWM)",
                },
            )
        )
    return rows


# -- rows --------------------------------------------------------------------------------------------


def _latency_rows(
    m: Measurement, labels: list[str], device: str, ref_device: str = "cpu", backend: str = "torch"
) -> list[Row]:
    size = f"{m.name}, {m.hits} hits, {m.counts.get('edges', '?')} edges"
    suffix = ("" if device == "cpu" else f" [{device}]") + ("" if backend == "torch" else f" [{backend}]")
    baseline = "ACORN" + ("" if device == ref_device else f" ({ref_device})")
    threads = _threads()
    rows = []
    for label in labels:
        rows.append(
            Row(
                f"{label}{suffix}",
                size,
                m.stage_ours[label],
                baseline,
                m.stage_ref[label],
                extra={
                    "kind": LATENCY_KIND,
                    "stage": label,
                    "hits": m.hits,
                    "mu": m.mu,
                    "device": device,
                    "threads": threads,
                    "backend": backend,
                },
            )
        )
        if label in m.stage_same_model:
            rows.append(
                Row(
                    f"{label} [same model]{suffix}",
                    size,
                    m.stage_ours[label],
                    "our model, ACORN's harness" + ("" if device == ref_device else f" ({ref_device})"),
                    m.stage_same_model[label],
                    extra={
                        "kind": SAME_MODEL_KIND,
                        "stage": label,
                        "hits": m.hits,
                        "mu": m.mu,
                        "device": device,
                        "threads": threads,
                    },
                )
            )
    rows.append(
        Row(
            f"{END_TO_END}{suffix}",
            size,
            m.end_to_end[0],
            baseline,
            m.end_to_end[1],
            extra={
                "kind": LATENCY_KIND,
                "stage": END_TO_END,
                "hits": m.hits,
                "mu": m.mu,
                "device": device,
                "threads": threads,
                "backend": backend,
                "reference": "sum of the reference stages",
                "checks": m.counts,
            },
        )
    )
    return rows


def _growth_rows(measured: list[Measurement], labels: list[str], device: str) -> list[Row]:
    simulated = [m for m in measured if m.mu is not None]
    if len(simulated) < 2:
        return []
    hits = [m.hits for m in simulated]
    span = f"mu {simulated[0].mu}-{simulated[-1].mu}, {min(hits)}-{max(hits)} hits"
    suffix = "" if device == "cpu" else f" [{device}]"
    rows = []
    for label in [*labels, END_TO_END]:
        ours = [m.end_to_end[0] if label == END_TO_END else m.stage_ours[label] for m in simulated]
        ref = [m.end_to_end[1] if label == END_TO_END else m.stage_ref[label] for m in simulated]
        rows.append(
            Row(
                f"{label} growth exponent k (t ~ hits^k){suffix}",
                span,
                growth_exponent(hits, ours),
                "ACORN-equivalent",
                growth_exponent(hits, ref),
                unit="",
                extra={"kind": "growth_exponent", "stage": label, "device": device},
            )
        )
    return rows


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _events(quick: bool):
    """(name, mu, event) for every simulated benchmark input."""
    from tracking.simulation import simulate_event

    for mu in MU_QUICK if quick else MU_FULL:
        yield f"mu={mu}", mu, simulate_event(mu=mu, seed=SIM_SEED + mu)


def _real_event():
    from tracking import registry

    path = _real_event_path()
    if not path.is_file():
        return None, f"real event not found at {path}"
    reader = registry.create("reader", "trackml_csv")
    return next(iter(reader(path))), None


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Row]:
    """Per-stage and end-to-end latency, growth exponents and peak memory, ours vs the reference."""

    from tracking import accel

    say = progress or (lambda msg: print(msg, file=sys.stderr))
    setup = build_pipeline(quick)
    stages, labels = setup.stages, setup.labels
    references = [reference_stage(s) for s in stages]
    same_model = [same_model_reference(s) for s in stages]
    repeat = 1 if quick else 3
    rows: list[Row] = [
        Row(
            "pipeline under test",
            setup.source,
            math.nan,
            unit="",
            extra={"kind": "setup", "labels": labels, **setup.notes},
        )
    ]
    measured: list[Measurement] = []
    for name, mu, event in _events(quick):
        say(f"  pipeline: {name} ({event.num_hits} hits)")
        # quick: no warm-up, so first-call costs (thread pools, lazy init) land in the smallest size
        measured.append(
            measure(
                event,
                stages,
                labels,
                references,
                repeat if (mu or 0) < 200 else max(1, repeat - 1),
                name,
                mu,
                warmup=0 if quick else 1,
                same_model=same_model,
            )
        )
    real = None
    if quick:
        real_reason = "--quick"
    else:
        real_event, real_reason = _real_event()
        if real_event is not None:
            say(f"  pipeline: TrackML event 1000 ({real_event.num_hits} hits)")
            real = measure(
                real_event,
                stages,
                labels,
                references,
                max(1, repeat - 1),
                "TrackML event 1000",
                None,
                same_model=same_model,
            )
            measured.append(real)
    for m in measured:
        rows.extend(_latency_rows(m, labels, "cpu"))
    if real is None:
        rows.append(skipped_row("real TrackML event 1000 (120k hits), all stages", real_reason))
    rows.extend(_growth_rows(measured, labels, "cpu"))

    memory_inputs = [m for m in measured if m.mu == (50 if quick else 200) or m is real]
    for m in memory_inputs:
        say(f"  pipeline: peak memory, {m.name}")
        rows.extend(_memory_rows(m, labels, stages, references))

    rows.extend(_onnxruntime_rows(quick, stages, labels, references, measured, say))
    if accel.cuda_available():
        rows.extend(_gpu_rows(quick, stages, labels, references, measured, say))
    else:
        rows.append(skipped_row("pipeline stages on GPU", "no CUDA device (or trackpipe built without CUDA)"))
    if setup.tmpdir is not None:
        setup.tmpdir.cleanup()
    return rows


def _onnxruntime_rows(quick: bool, stages, labels, references, cpu_measured: list[Measurement], say) -> list[Row]:
    """The pipeline with ``backend: onnxruntime`` edge classifiers on the mu = 200 and real events, against
    the reference figures already measured on them."""
    import dataclasses
    import importlib.util

    what = "edge classifiers with backend: onnxruntime"
    if quick:
        return [skipped_row(what, "--quick (the first call exports each model: tens of seconds)")]
    missing = [m for m in ("onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        return [skipped_row(what, f"{', '.join(missing)} not installed (pip install 'trackpipe[export]')")]
    ort_stages = [
        type(s)(dataclasses.replace(s.config, backend="onnxruntime")).to(s.device)
        if hasattr(s.config, "backend")
        else s
        for s in stages
    ]
    if all(o is s for o, s in zip(ort_stages, stages)):
        return [skipped_row(what, "the pipeline has no edge classifier with a backend option")]
    rows: list[Row] = []
    for m in cpu_measured:
        if m.mu is not None and m.mu != 200:
            continue
        say(f"  pipeline [onnxruntime]: {m.name}")
        event = m.inputs[labels[0]][1]
        g = measure(event, ort_stages, labels, references, 2, m.name, m.mu, reference_from=m)
        rows.extend(_latency_rows(g, labels, "cpu", backend="onnxruntime"))
    return rows


def _gpu_rows(quick: bool, stages, labels, references, cpu_measured: list[Measurement], say) -> list[Row]:
    """Our stages on the GPU, the reference on the CPU (ACORN's graph building and components are CPU
    code); plus peak GPU memory per stage."""
    import copy

    import torch

    device = torch.device("cuda", 0)
    gpu_stages = [copy.deepcopy(s).to(device) for s in stages]
    rows: list[Row] = []
    measured = []
    for m in cpu_measured:
        event = m.inputs[labels[0]][1]
        say(f"  pipeline [cuda]: {m.name}")
        g = measure(
            event, gpu_stages, labels, references, 1 if quick else 3, m.name, m.mu, device=device, reference_from=m
        )
        measured.append(g)
        rows.extend(_latency_rows(g, labels, "cuda"))
    rows.extend(_growth_rows(measured, labels, "cuda"))
    last = measured[-1]
    for label, stage in zip(labels, gpu_stages):
        ours_in = last.inputs[label][0]
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        stage(ours_in)
        torch.cuda.synchronize(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        rows.append(
            Row(
                f"{label} peak GPU memory [cuda]",
                f"{last.name}, {last.hits} hits",
                peak,
                unit="MiB",
                extra={
                    "kind": "stage_memory",
                    "stage": label,
                    "device": "cuda",
                    "method": "torch.cuda.max_memory_allocated delta (torch allocations only)",
                },
            )
        )
    return rows


if __name__ == "__main__":
    quick_run = "--quick" in sys.argv
    result = run(quick=quick_run)
    print(format_table(result))
    print(json.dumps([r.as_dict() for r in result], indent=2, default=str))
