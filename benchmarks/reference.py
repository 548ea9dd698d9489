"""An ACORN-equivalent reference path, run beside trackpipe on the same events and the same model.

What ACORN (and Exa.TrkX before it) does in Python, written the way ACORN writes it:

- **module map graph building** (ACORN's ``PyModuleMap``): the hits table is merged with the module
  map on the inner module, then with the hits again on the outer module (pandas joins), and the cut
  windows are applied to the joined pairs with vectorised numpy. The map is processed in chunks of
  entries so that the joined table stays bounded (ACORN batches the map the same way); the result is
  the same edge set as :func:`tracking.ops.build_doublets` (the benchmark checks it).
- **radius search** (metric learning): ``scipy.spatial.cKDTree.query_pairs`` (CPU) or a blocked
  ``torch.cdist`` (brute force, runs on a GPU too), both directions.
- **edge classification**: the same :class:`tracking.nn.InteractionGNN` / :class:`tracking.nn.EdgeFilter`
  and the same features, in torch (ACORN's models are torch as well; the triplet features through
  their vectorised torch form, not our native kernel), then the edges under the cut are dropped.
- **track building** (ACORN's ``CCandWalk`` first step): keep edges above the score cut, build a
  ``scipy.sparse`` matrix from the edge list (the CSR build is part of the cost),
  ``scipy.sparse.csgraph.connected_components``, drop components below ``min_hits``, relabel; with
  ``junction_removal`` (the ACTS cleaning step) first a vectorised numpy version of it; the walk-through
  as ACORN's ``CCandWalk``: scipy components, then Python walks along the best edges.

Reference stages take and return :class:`tracking.event.Event` with numpy arrays (torch only inside
the GNN), so one stage's output feeds the next like in trackpipe's pipeline.

The functions here are also the test oracles of the track-building kernels (``tests/ops``): one copy of
each, so the benchmark's baseline is the very code the tests check our kernels against.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from tracking.event import Event
from tracking.modulemap import ModuleMap, group_keys
from tracking.ops import doublet_cut_variables

#: Joined hit pairs per chunk of map entries: bounds the pandas tables (about 100 bytes per pair).
MAX_PAIRS_PER_CHUNK = 2_000_000


def _map_frame(module_map: ModuleMap) -> pd.DataFrame:
    return pd.DataFrame(
        {"src_key": module_map.group_key[module_map.src], "dst_key": module_map.group_key[module_map.dst]}
    )


def _chunks(sizes: np.ndarray, limit: int) -> list[slice]:
    """Consecutive slices of entries of about ``limit`` summed ``sizes`` each (an entry is never split)."""
    if len(sizes) == 0:
        return []
    start = np.cumsum(sizes) - sizes  # joined rows before each entry
    chunk = (start // max(limit, 1)).astype(np.int64)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(chunk)) + 1, [len(sizes)]])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def pandas_module_map_edges(module_map: ModuleMap, event: Event, max_pairs: int = MAX_PAIRS_PER_CHUNK) -> np.ndarray:
    """int64 [2, E] edges of ``event`` through ``module_map``, by pandas joins (ACORN's PyModuleMap).

    The joins carry hit indices only; the cut variables of the joined pairs come from
    :func:`tracking.ops.doublet_cut_variables` (vectorised numpy, the kernels' float32 arithmetic), so
    the edge set equals :meth:`ModuleMap.build`'s (order differs: map entry, then pandas' join order).
    """
    hits = pd.DataFrame(
        {"key": group_keys(event, module_map.granularity), "hit": np.arange(event.num_hits, dtype=np.int64)}
    )
    r, phi, z, eta = (np.asarray(getattr(event, c), dtype=np.float32) for c in ("r", "phi", "z", "eta"))
    entries = _map_frame(module_map)
    entries["entry"] = np.arange(len(entries), dtype=np.int64)
    per_key = hits["key"].value_counts()
    pairs = (entries["src_key"].map(per_key).fillna(0) * entries["dst_key"].map(per_key).fillna(0)).to_numpy()
    lo_all, hi_all = module_map.cut_min, module_map.cut_max
    found: list[np.ndarray] = []
    for part in _chunks(pairs, max_pairs):
        joined = (
            entries.iloc[part]
            .merge(hits, left_on="src_key", right_on="key")
            .merge(hits, left_on="dst_key", right_on="key", suffixes=("_a", "_b"))
        )
        if joined.empty:
            continue
        hit_a, hit_b = joined["hit_a"].to_numpy(), joined["hit_b"].to_numpy()
        values = doublet_cut_variables(r, phi, z, eta, hit_a, hit_b)
        entry = joined["entry"].to_numpy()
        keep = hit_a != hit_b  # a hit paired with itself (same-module entries) is no edge, as in the kernel
        for k in range(values.shape[1]):
            keep &= (values[:, k] >= lo_all[entry, k]) & (values[:, k] <= hi_all[entry, k])
        found.append(np.stack([hit_a[keep], hit_b[keep]]))
    return np.concatenate(found, axis=1) if found else np.zeros((2, 0), dtype=np.int64)


def ckdtree_radius_pairs(points: np.ndarray, radius: float) -> np.ndarray:
    """int64 [2, E]: both directions of every pair within ``radius`` (``cKDTree.query_pairs``)."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.asarray(points, dtype=np.float64)).query_pairs(radius, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros((2, 0), dtype=np.int64)
    both = np.concatenate([pairs, pairs[:, ::-1]]).astype(np.int64)
    return both[np.lexsort((both[:, 1], both[:, 0]))].T.copy()


def torch_radius_pairs(points: torch.Tensor, radius: float, block: int = 4096) -> torch.Tensor:
    """int64 [2, E]: ordered pairs i != j within ``radius``, by blocked ``torch.cdist`` (brute force on any device)."""
    src, dst = [], []
    for start in range(0, len(points), block):
        d = torch.cdist(points[start : start + block], points)
        i, j = torch.nonzero(d <= radius, as_tuple=True)
        i = i + start
        off = i != j
        src.append(i[off])
        dst.append(j[off])
    if not src:
        return torch.zeros((2, 0), dtype=torch.int64, device=points.device)
    return torch.stack([torch.cat(src), torch.cat(dst)])


def scipy_connected_components(
    edge_index: np.ndarray, num_nodes: int, scores: np.ndarray | None = None, cut: float = 0.5, min_hits: int = 3
) -> np.ndarray:
    """int64 [N] track labels the ACORN way: score cut, COO -> CSR, scipy components, size cut.

    The labels follow :func:`tracking.ops.connected_components`'s convention (``0..k-1`` by each
    component's smallest node, -1 below ``min_hits``): scipy numbers components in the order of their
    smallest node, and the compaction keeps that order.
    """
    import scipy.sparse as sps
    from scipy.sparse.csgraph import connected_components

    if num_nodes == 0:
        return np.empty(0, dtype=np.int64)
    edge_index = np.asarray(edge_index)
    if scores is not None:
        edge_index = edge_index[:, np.asarray(scores) > cut]
    ones = np.ones(edge_index.shape[1], dtype=np.int8)
    graph = sps.coo_matrix((ones, (edge_index[0], edge_index[1])), shape=(num_nodes, num_nodes)).tocsr()
    _, labels = connected_components(graph, directed=False, return_labels=True)
    sizes = np.bincount(labels)
    big = sizes[labels] >= min_hits
    _, compact = np.unique(labels[big], return_inverse=True)
    out = np.full(num_nodes, -1, dtype=np.int64)
    out[big] = compact
    return out


def same_partition(a: Any, b: Any) -> bool:
    """Whether two label arrays (-1 = on no track) group the hits identically: the same hits on no
    track, and a one-to-one map between the other labels."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    pairs = np.unique(np.stack([a[a >= 0], b[b >= 0]]), axis=1) if (a >= 0).any() else np.zeros((2, 0))
    return pairs.shape[1] == len(np.unique(pairs[0])) == len(np.unique(pairs[1]))


def python_walkthrough(
    edge_index: np.ndarray,
    num_nodes: int,
    scores: np.ndarray | None = None,
    cut: float = 0.5,
    walk_cut: float | None = None,
    min_hits: int = 1,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """ACORN's CC-and-walk in Python over scipy components, by the rules of :func:`tracking.ops.walkthrough`
    (same arguments, same labels): a component that is a simple directed path is a track; the others are
    walked from their nodes with no kept in-edge, then any unused node, in ``(order[v], v)`` order, along
    the best-scoring out-edge (ties: lower edge index) above ``walk_cut`` to an unused node."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    edge_index = np.asarray(edge_index)
    keep = edge_index[0] != edge_index[1]
    if scores is None:  # every edge kept, and walks take the lowest-index edge
        scores, cut, walk_cut = np.ones(edge_index.shape[1], np.float32), 0.0, 0.0
    else:
        scores = np.asarray(scores)
        keep &= scores > cut
    walk_cut = cut if walk_cut is None else walk_cut
    src, dst, s = edge_index[0][keep], edge_index[1][keep], scores[keep]
    ids = np.flatnonzero(keep)
    graph = csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(num_nodes, num_nodes))
    n_comp, comp = connected_components(graph, directed=False)
    out_deg = np.bincount(src, minlength=num_nodes)
    in_deg = np.bincount(dst, minlength=num_nodes)
    comp_nodes = np.bincount(comp, minlength=n_comp)
    comp_edges = np.bincount(comp[src], minlength=n_comp)
    branching = np.zeros(n_comp, bool)
    np.logical_or.at(branching, comp, (out_deg > 1) | (in_deg > 1))
    is_path = ~branching & (comp_edges == comp_nodes - 1)
    out_edges: dict[int, list[tuple[float, int, int]]] = {}
    for u, v, score, e in zip(src.tolist(), dst.tolist(), s.tolist(), ids.tolist()):
        out_edges.setdefault(u, []).append((score, -e, v))
    members: dict[int, list[int]] = {}
    for v in np.flatnonzero(is_path[comp]).tolist():
        members.setdefault(int(comp[v]), []).append(v)
    tracks = list(members.values())
    start_key = np.arange(num_nodes) if order is None else np.asarray(order, dtype=np.float32)
    start_key = start_key.tolist()
    walk_nodes = sorted(np.flatnonzero(~is_path[comp]).tolist(), key=lambda v: (start_key[v], v))
    used = set()

    def walk(start):
        track, current = [start], start
        used.add(start)
        while True:
            options = [o for o in out_edges.get(current, ()) if o[2] not in used and o[0] > walk_cut]
            if not options:
                break
            current = max(options)[2]
            used.add(current)
            track.append(current)
        tracks.append(track)

    for v in walk_nodes:
        if v not in used and in_deg[v] == 0:
            walk(v)
    for v in walk_nodes:
        if v not in used:
            walk(v)
    labels = np.full(num_nodes, -1, np.int64)
    for label, track in enumerate(sorted((t for t in tracks if len(t) >= min_hits), key=min)):
        labels[track] = label
    return labels


def numpy_junction_removal(edge_index: np.ndarray, scores: np.ndarray, cut: float) -> np.ndarray:
    """bool [E]: edges above ``cut`` that are the best kept out-edge of their source and the best kept
    in-edge of their target (ties: lower edge index), vectorised numpy (as ACTS' cleaning step)."""
    edge_index, scores = np.asarray(edge_index), np.asarray(scores)
    kept = np.flatnonzero(scores > cut)
    order = kept[np.lexsort((kept, -scores[kept].astype(np.float64)))]  # best first, ties by index
    best_out = np.zeros(len(scores), dtype=bool)
    best_in = np.zeros(len(scores), dtype=bool)
    best_out[order[np.unique(edge_index[0, order], return_index=True)[1]]] = True
    best_in[order[np.unique(edge_index[1, order], return_index=True)[1]]] = True
    return best_out & best_in


# -- reference stages --------------------------------------------------------------------------------


class ReferenceStage:
    """One stage of the reference path: a label and ``__call__(event) -> event`` on numpy events."""

    def __init__(self, label: str, fn: Callable[[Event], Event]) -> None:
        self.label = label
        self.fn = fn

    def __call__(self, event: Event) -> Event:
        return self.fn(event)

    def __repr__(self) -> str:
        return f"ReferenceStage({self.label})"


class _MapGraph:
    def __init__(self, module_map: ModuleMap) -> None:
        self.map = module_map

    def __call__(self, event: Event) -> Event:
        edges = pandas_module_map_edges(self.map, event)
        return event.replace(edge_index=edges, edge_scores=None, edge_features=None, edge_truth=None)


class _RadiusGraph:
    def __init__(self, embedding: Any, radius: float) -> None:
        self.embedding = embedding
        self.radius = radius

    def __call__(self, event: Event) -> Event:
        from tracking.nn.features import node_features

        with torch.inference_mode():
            points = self.embedding(node_features(event.to("cpu"))).float().numpy()
        pairs = ckdtree_radius_pairs(points, self.radius)
        r = np.asarray(event.r)
        a, b = pairs
        inner = (r[a] < r[b]) | ((r[a] == r[b]) & (a < b))
        keep = np.unique(np.where(inner, a, b) * np.int64(event.num_hits) + np.where(inner, b, a))
        edges = np.stack([keep // event.num_hits, keep % event.num_hits])
        return event.replace(edge_index=edges, edge_scores=None, edge_features=None, edge_truth=None)


class _ModelScores:
    def __init__(self, model: torch.nn.Module, score_cut: float, prune: bool) -> None:
        self.model = model
        self.score_cut = score_cut
        self.prune = prune

    def __call__(self, event: Event) -> Event:
        from tracking.nn.features import edge_features, node_features

        tensors = event.to("cpu")
        edge_index = torch.as_tensor(tensors.edge_index)
        with torch.inference_mode():
            x = node_features(tensors)
            width = getattr(self.model, "edge_features", 0)
            attr = edge_features(tensors, edge_index, width=width, triplet_backend="torch") if width else None
            scores = torch.sigmoid(self.model(x, edge_index, attr).float()).numpy()
        edges = np.asarray(event.edge_index)
        if self.prune:
            keep = scores > self.score_cut
            edges, scores = edges[:, keep], scores[keep]
        return event.replace(edge_index=edges, edge_scores=scores, edge_truth=None, edge_features=None)


class _ScipyComponents:
    def __init__(self, score_cut: float, min_hits: int, junction_removal: bool = False) -> None:
        self.score_cut = score_cut
        self.min_hits = min_hits
        self.junction_removal = junction_removal

    def __call__(self, event: Event) -> Event:
        scores, cut = event.edge_scores, self.score_cut
        if self.junction_removal:
            scores, cut = numpy_junction_removal(event.edge_index, scores, cut).astype(np.float32), 0.5
        labels = scipy_connected_components(event.edge_index, event.num_hits, scores, cut, self.min_hits)
        return event.replace(track_labels=labels)


class _PythonWalk:
    def __init__(self, score_cut: float, walk_cut: float | None, min_hits: int) -> None:
        self.score_cut = score_cut
        self.walk_cut = walk_cut
        self.min_hits = min_hits

    def __call__(self, event: Event) -> Event:
        labels = python_walkthrough(
            np.asarray(event.edge_index),
            event.num_hits,
            np.asarray(event.edge_scores),
            self.score_cut,
            self.walk_cut,
            self.min_hits,
            np.asarray(event.r),
        )
        return event.replace(track_labels=labels)


def reference_stage(stage: Any) -> ReferenceStage:
    """The ACORN-equivalent of one trackpipe pipeline stage (same map, model and cuts).

    Raises ``NotImplementedError`` naming the plugin when there is no reference for it.
    """
    kind = getattr(stage, "plugin_kind", "")
    name = getattr(stage, "plugin_name", type(stage).__name__)
    label = f"{kind}:{name}"
    cfg = stage.config
    if kind == "graph_builder" and name in ("module_map", "layer_pairs"):
        return ReferenceStage(label, _MapGraph(stage.map))
    if kind == "graph_builder" and name == "metric_learning":
        return ReferenceStage(label, _RadiusGraph(stage.embedding, cfg.radius))
    if kind == "edge_classifier" and name in ("interaction_gnn", "edge_filter"):
        return ReferenceStage(label, _ModelScores(stage.model, cfg.score_cut, cfg.prune))
    if kind == "track_builder" and name == "connected_components":
        return ReferenceStage(label, _ScipyComponents(cfg.score_cut, cfg.min_hits, cfg.junction_removal))
    if kind == "track_builder" and name == "walkthrough":
        return ReferenceStage(label, _PythonWalk(cfg.score_cut, cfg.walk_cut, cfg.min_hits))
    raise NotImplementedError(f"no ACORN-equivalent reference for {label}")


def run_reference(stages: list[ReferenceStage], event: Event) -> Event:
    """The whole reference path on a numpy event."""
    event = event.numpy()
    for stage in stages:
        event = stage(event)
    return event
