"""The ACORN reference path, run beside trackpipe on the same events (``bench_pipeline``).

Each stage follows what ACORN (GNN4ITk CommonFramework) really runs, and names the ACORN code it mirrors:

- **module map graph building**: :func:`acorn_module_map_edges`, ACORN's ``PyModuleMap`` -- a join of
  the full hit table with the map and again with the full hit table (hits x map x hits, batched), the
  doublet cuts applied one after another on the joined table; the same module ids as our stage
  (the stage's :class:`~tracking.modulemap.ModuleIdResolver`), the same edge set (asserted by the benchmark).
- **radius search** (metric learning): ``scipy.spatial.cKDTree.query_pairs`` (CPU) or a blocked
  ``torch.cdist`` (brute force, runs on a GPU too), both directions.
- **edge classification**: ACORN's ``Filter`` and ``InteractionGNN`` layouts
  (:class:`AcornFilter`, :class:`AcornInteractionGNN`) at our models' hidden size, depth and
  iterations, on ACORN's node features (no edge features); :func:`same_model_reference` runs *our*
  model the ACORN way (plain torch, torch triplet features) as a second row: framework overhead alone.
  Both run with trackpipe's fused CPU kernels (:mod:`tracking.nn.fused`) switched off: torch operators only.
- **track building**: :func:`numba_walkthrough`, ACORN's ``FastWalkthrough`` (scipy components, simple
  paths, numba walk); :func:`python_walkthrough` is ACORN's older ``CCandWalk`` in Python (the test
  oracle of our kernel); :func:`scipy_connected_components` for the plain components builder (with
  ``junction_removal``, the ACTS cleaning step, as vectorised numpy first).

Reference stages take and return :class:`tracking.event.Event` with numpy arrays (torch only inside
the models). The functions here are also test oracles of the kernels (``tests/ops``): one copy of each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from tracking.event import Event
from tracking.modulemap import ModuleMap, group_keys
from tracking.nn import fused
from tracking.ops.doublets import CUT_VARIABLES, MIN_DR

#: Joined rows per batch: ACORN's ``PyModuleMap.batch_size`` default (``int(1e6)``).
ACORN_BATCH_SIZE = 1_000_000
#: ACORN's doublet cuts in the order ``PyModuleMap.apply_doublet_cuts`` applies them, then the cut of
#: trackpipe's map that ACORN's lacks (``dzdr``). Each filters the joined table before the next is computed.
ACORN_CUT_ORDER: tuple[str, ...] = ("deta", "z0", "dphi", "phi_slope", "dzdr")


def _entry_frame(module_map: ModuleMap) -> pd.DataFrame:
    """The map as ACORN's ``MM_1`` table: module ids of both ends, then a min and max column per cut."""
    frame = pd.DataFrame({"mid_1": module_map.group_key[module_map.src], "mid_2": module_map.group_key[module_map.dst]})
    for k, name in enumerate(CUT_VARIABLES):
        frame[f"{name}min"] = module_map.cut_min[:, k]
        frame[f"{name}max"] = module_map.cut_max[:, k]
    return frame


def _hit_frame(module_map: ModuleMap, event: Event) -> pd.DataFrame:
    """ACORN's ``get_hit_features``: the full hit table (float32, as the kernels compute)."""
    columns: dict[str, Any] = {
        "hid": np.arange(event.num_hits, dtype=np.int64),
        "mid": group_keys(event, module_map.granularity),
    }
    for name in ("r", "x", "y", "z", "eta", "phi"):
        columns[name] = np.asarray(getattr(event, name), dtype=np.float32)
    return pd.DataFrame(columns)


def _acorn_doublet_cuts(pairs: pd.DataFrame) -> pd.DataFrame:
    """ACORN's ``apply_doublet_cuts``: each cut variable computed on the rows that passed the previous
    cut, the table filtered after every cut. The float32 arithmetic of
    :func:`tracking.ops.doublet_cut_variables` (the kernel's), inclusive windows (trackpipe's maps are
    learned as inclusive [min, max]; ACORN's strict ``<``/``>`` would drop the extreme training doublets)."""
    two_pi = np.float32(6.28318530717959)
    for name in ACORN_CUT_ORDER:
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "deta":
                value = pairs["eta_2"].to_numpy() - pairs["eta_1"].to_numpy()
            elif name == "dphi":
                value = pairs["phi_2"].to_numpy() - pairs["phi_1"].to_numpy()
                value = np.where(value > np.float32(np.pi), value - two_pi, value)
                value = np.where(value < -np.float32(np.pi), value + two_pi, value).astype(np.float32)
            else:
                dr = pairs["r_2"].to_numpy() - pairs["r_1"].to_numpy()
                dr = np.where(dr >= 0, np.maximum(dr, MIN_DR), np.minimum(dr, -MIN_DR)).astype(np.float32)
                if name == "phi_slope":
                    dphi = pairs["phi_2"].to_numpy() - pairs["phi_1"].to_numpy()
                    dphi = np.where(dphi > np.float32(np.pi), dphi - two_pi, dphi)
                    dphi = np.where(dphi < -np.float32(np.pi), dphi + two_pi, dphi).astype(np.float32)
                    value = dphi / dr
                else:
                    dzdr = (pairs["z_2"].to_numpy() - pairs["z_1"].to_numpy()) / dr
                    value = dzdr if name == "dzdr" else pairs["z_1"].to_numpy() - pairs["r_1"].to_numpy() * dzdr
        pairs = pairs[(value >= pairs[f"{name}min"].to_numpy()) & (value <= pairs[f"{name}max"].to_numpy())]
    return pairs


def acorn_module_map_edges(module_map: ModuleMap, event: Event, batch_size: int = ACORN_BATCH_SIZE) -> np.ndarray:
    """int64 [2, E] edges of ``event`` through ``module_map``, the way ACORN's ``PyModuleMap`` builds them.

    Mirrors ``PyModuleMap.build_graphs`` / ``get_doublet_edges`` / ``apply_doublet_cuts`` (GNN4ITk
    CommonFramework, ``graph_construction/models/py_module_map.py``): the **full** hit table (id, module,
    r, x, y, z, eta, phi) is joined with the map on the inner module, that table is joined again with
    the full hit table on the outer module in batches of ``batch_size`` rows (a hits x map x hits join),
    the cuts are applied one after another (:data:`ACORN_CUT_ORDER`), and the pairs are de-duplicated.
    ACORN's map is a *triplet* map (two doublet legs per row, then a join of the legs on the middle hit
    and two triplet cuts); trackpipe's is a doublet map, which has no triplet rows to join, so the
    reference does ACORN's doublet-leg work once per map entry and gives exactly
    :meth:`ModuleMap.build`'s edge set (the benchmark asserts it).
    """
    if event.num_hits == 0:
        return np.zeros((2, 0), dtype=np.int64)
    hits = _hit_frame(module_map, event)
    inner, outer = hits.add_suffix("_1"), hits.add_suffix("_2")
    merged = inner.merge(_entry_frame(module_map), how="inner", on="mid_1")
    found = []
    for start in range(0, len(merged), max(batch_size, 1)):
        pairs = merged.iloc[start : start + batch_size].merge(outer, how="inner", on="mid_2")
        pairs = pairs[pairs["hid_1"] != pairs["hid_2"]]  # a hit is no edge with itself (same-module entries)
        found.append(_acorn_doublet_cuts(pairs)[["hid_1", "hid_2"]])
    edges = pd.concat(found).drop_duplicates() if found else pd.DataFrame({"hid_1": [], "hid_2": []})
    return edges.to_numpy(dtype=np.int64).T.copy()


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


def _walk_order(num_nodes, in_deg, walk_nodes, start_key):
    """Walk starts in :func:`python_walkthrough`'s order: nodes with no kept in-edge, then the rest,
    each by ``(start_key[v], v)``."""
    ordered = walk_nodes[np.lexsort((walk_nodes, start_key[walk_nodes]))]
    return np.concatenate([ordered[in_deg[ordered] == 0], ordered])


def _numba_walk_kernel():
    """The jitted walk of :func:`numba_walkthrough` (compiled on first use; numba is an optional extra)."""
    global _WALK_KERNEL
    if _WALK_KERNEL is None:
        import numba

        @numba.njit(cache=False, nogil=True)
        def walk(starts, indptr, out_dst, out_score, out_id, walk_cut, track_of, first_track):
            # FastWalkthrough.walk_through: from each start follow the best-scoring out-edge above the
            # cut to an unused node (ties: the lower edge index); every visited node joins the track.
            n_tracks = first_track
            for s in range(starts.shape[0]):
                v = starts[s]
                if track_of[v] >= 0:
                    continue
                track_of[v] = n_tracks
                current = v
                while True:
                    best, best_score, best_id = -1, -1.0, 0
                    for k in range(indptr[current], indptr[current + 1]):
                        w = out_dst[k]
                        sc = out_score[k]
                        if track_of[w] >= 0 or not sc > walk_cut:
                            continue
                        if best < 0 or sc > best_score or (sc == best_score and out_id[k] < best_id):
                            best, best_score, best_id = w, sc, out_id[k]
                    if best < 0:
                        break
                    track_of[best] = n_tracks
                    current = best
                n_tracks += 1
            return n_tracks

        _WALK_KERNEL = walk
    return _WALK_KERNEL


_WALK_KERNEL: Any = None


def numba_walkthrough(
    edge_index: np.ndarray,
    num_nodes: int,
    scores: np.ndarray | None = None,
    cut: float = 0.5,
    walk_cut: float | None = None,
    min_hits: int = 1,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """ACORN's ``FastWalkthrough`` (GNN4ITk CommonFramework, ``track_building/models/fast_walkthrough.py``):
    ``filter_graph`` (score cut), ``get_simple_path`` (connected components that are simple directed
    paths are tracks; scipy components), then ``walk_through`` jitted with numba over a CSR of the kept
    edges. Same arguments and labels as :func:`python_walkthrough` and :func:`tracking.ops.walkthrough`
    (walk order and tie rules as there; ACORN's ``remove_cycles`` is a no-op on inner -> outer graphs)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    edge_index = np.asarray(edge_index)
    keep = edge_index[0] != edge_index[1]
    if scores is None:
        scores, cut, walk_cut = np.ones(edge_index.shape[1], np.float32), 0.0, 0.0
    else:
        scores = np.asarray(scores)
        keep &= scores > cut
    walk_cut = cut if walk_cut is None else walk_cut
    ids = np.flatnonzero(keep)
    src, dst, s = edge_index[0][ids], edge_index[1][ids], scores[ids].astype(np.float64)
    graph = csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(num_nodes, num_nodes))
    n_comp, comp = connected_components(graph, directed=False)
    out_deg = np.bincount(src, minlength=num_nodes)
    in_deg = np.bincount(dst, minlength=num_nodes)
    comp_nodes = np.bincount(comp, minlength=n_comp)
    comp_edges = np.bincount(comp[src], minlength=n_comp)
    branching = np.zeros(n_comp, bool)
    np.logical_or.at(branching, comp, (out_deg > 1) | (in_deg > 1))
    is_path = ~branching & (comp_edges == comp_nodes - 1)
    track_of = np.where(is_path[comp], comp, -1).astype(np.int64)  # path components: one track each
    by_src = np.argsort(src, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(out_deg)]).astype(np.int64)
    start_key = np.arange(num_nodes, dtype=np.float64) if order is None else np.asarray(order, np.float32)
    starts = _walk_order(num_nodes, in_deg, np.flatnonzero(~is_path[comp]), start_key)
    n_tracks = _numba_walk_kernel()(
        starts.astype(np.int64),
        indptr,
        dst[by_src].astype(np.int64),
        s[by_src],
        ids[by_src].astype(np.int64),
        float(walk_cut),
        track_of,
        n_comp,
    )
    on = track_of >= 0
    size = np.bincount(track_of[on], minlength=n_tracks)
    first = np.full(n_tracks, num_nodes, np.int64)
    np.minimum.at(first, track_of[on], np.flatnonzero(on))
    kept = np.flatnonzero(size >= max(min_hits, 1))
    label_of = np.full(n_tracks, -1, np.int64)
    label_of[kept[np.argsort(first[kept], kind="stable")]] = np.arange(len(kept))
    labels = np.full(num_nodes, -1, np.int64)
    labels[on] = label_of[track_of[on]]
    return labels


class AcornFilter(torch.nn.Module):
    """ACORN's ``Filter`` edge classifier layout (``edge_classifier/models/filter.py``): an MLP on the
    concatenated node features of the edge's two hits, no edge features (ACORN's ``make_mlp``:
    ``[hidden] * nb_layer + [1]``, LayerNorm, SiLU), scored in edge chunks."""

    def __init__(self, node_features: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        from tracking.nn.mlp import make_mlp

        self.network = make_mlp(2 * node_features, hidden, 1, n_layers)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.network(torch.cat([x[edge_index[0]], x[edge_index[1]]], dim=-1)).squeeze(-1)


class AcornInteractionGNN(torch.nn.Module):
    """ACORN's ``InteractionGNN`` layout (``gnn/models/interaction_gnn.py``): node encoder; edge encoder on
    ``[h_src, h_dst]`` (no edge features); per iteration an edge network on ``[h_src, h_dst, e]``, sum
    aggregation of the new edge states at both ends (``scatter_add``), a node network on
    ``[h, in, out]``, residual connections; an output network on ``[h_src, h_dst, e]``. Every MLP is
    materialised on the concatenated inputs, as ACORN does."""

    def __init__(self, node_features: int, hidden: int, n_iterations: int, mlp_layers: int, output_layers: int):
        super().__init__()
        from tracking.nn.mlp import make_mlp

        def mlp(width_in: int, n_layers: int = mlp_layers, out: int = hidden, act_out: bool = True):
            return make_mlp(width_in, hidden, out, n_layers, output_activation=act_out)

        self.n_iterations = n_iterations
        self.node_encoder = mlp(node_features)
        self.edge_encoder = mlp(2 * hidden)
        self.edge_network = mlp(3 * hidden)
        self.node_network = mlp(3 * hidden)
        self.output = mlp(3 * hidden, n_layers=output_layers, out=1, act_out=False)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        from tracking.nn.aggregation import aggregate

        src, dst = edge_index[0], edge_index[1]
        h = self.node_encoder(x)
        e = self.edge_encoder(torch.cat([h[src], h[dst]], dim=-1))
        for _ in range(self.n_iterations):
            e_new = self.edge_network(torch.cat([h[src], h[dst], e], dim=-1))
            incoming = aggregate(e_new, dst, h.shape[0], "sum")
            outgoing = aggregate(e_new, src, h.shape[0], "sum")
            h = h + self.node_network(torch.cat([h, incoming, outgoing], dim=-1))
            e = e + e_new
        return self.output(torch.cat([h[src], h[dst], e], dim=-1)).squeeze(-1)


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
    def __init__(self, module_map: ModuleMap, module_ids: Any = None) -> None:
        self.map = module_map
        self.module_ids = module_ids  # the stage's ModuleIdResolver: the same module ids as ours

    def __call__(self, event: Event) -> Event:
        if self.module_ids is not None:
            event = self.module_ids.resolve(event)[0]
        edges = acorn_module_map_edges(self.map, event)
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
        with torch.inference_mode(), fused.enabled(False):  # plain torch, as ACORN runs a model
            x = node_features(tensors)
            width = getattr(self.model, "edge_features", 0)
            attr = edge_features(tensors, edge_index, width=width, triplet_backend="torch") if width else None
            scores = torch.sigmoid(self.model(x, edge_index, attr).float()).numpy()
        edges = np.asarray(event.edge_index)
        if self.prune:
            keep = scores > self.score_cut
            edges, scores = edges[:, keep], scores[keep]
        return event.replace(edge_index=edges, edge_scores=scores, edge_truth=None, edge_features=None)


class _AcornModelScores:
    """An ACORN-layout model (random weights: timing only) on ACORN's node features, then the score cut."""

    def __init__(self, model: torch.nn.Module, score_cut: float, prune: bool, chunk_size: int | None) -> None:
        self.model = model.eval()
        self.score_cut = score_cut
        self.prune = prune
        self.chunk_size = chunk_size

    def __call__(self, event: Event) -> Event:
        from tracking.nn.features import node_features

        tensors = event.to("cpu")
        edge_index = torch.as_tensor(tensors.edge_index)
        step = max(self.chunk_size or edge_index.shape[1], 1)
        with torch.inference_mode(), fused.enabled(False):  # plain torch (scatter_add), as ACORN
            x = node_features(tensors)
            logits = [self.model(x, edge_index[:, a : a + step]) for a in range(0, edge_index.shape[1], step)]
            scores = torch.sigmoid(torch.cat(logits)).numpy() if logits else np.zeros(0, np.float32)
        edges = np.asarray(event.edge_index)
        if self.prune:
            keep = scores > self.score_cut
            edges, scores = edges[:, keep], scores[keep]
        return event.replace(edge_index=edges, edge_scores=scores, edge_truth=None, edge_features=None)


def acorn_layout(model: torch.nn.Module) -> torch.nn.Module:
    """ACORN's layout of ``model`` (a :class:`tracking.nn.EdgeFilter` or :class:`tracking.nn.InteractionGNN`)
    at the same hidden size, depth and iterations, seeded random weights."""
    from tracking.nn import EdgeFilter, InteractionGNN

    hp = model.hparams
    torch.manual_seed(0)
    if isinstance(model, EdgeFilter):
        return AcornFilter(hp["node_features"], hp["hidden"], hp["n_layers"])
    if isinstance(model, InteractionGNN):
        return AcornInteractionGNN(
            hp["node_features"], hp["hidden"], hp["n_iterations"], hp["mlp_layers"], hp["output_layers"]
        )
    raise NotImplementedError(f"no ACORN layout for {type(model).__name__}")


# A track builder's own track-quality step (its short-track rule, optionally with a track-quality model):
# (event, labels, edge_index, scores) -> labels. ACORN has none; the reference applies the stage's own after
# ACORN's algorithm, so that both sides do the same work and give the same tracks.
TrackRule = Callable[[Event, Any, Any, Any], Any]


class _ScipyComponents:
    def __init__(
        self, score_cut: float, min_hits: int, junction_removal: bool = False, rule: TrackRule | None = None
    ) -> None:
        self.score_cut = score_cut
        self.min_hits = min_hits
        self.junction_removal = junction_removal
        self.rule = rule

    def __call__(self, event: Event) -> Event:
        scores, cut = event.edge_scores, self.score_cut
        if self.junction_removal:
            scores, cut = numpy_junction_removal(event.edge_index, scores, cut).astype(np.float32), 0.5
        labels = scipy_connected_components(event.edge_index, event.num_hits, scores, cut, self.min_hits)
        if self.rule is not None:
            labels = self.rule(event, labels, event.edge_index, event.edge_scores)
        return event.replace(track_labels=labels)


class _Walk:
    def __init__(
        self,
        score_cut: float,
        walk_cut: float | None,
        min_hits: int,
        walk: Callable = python_walkthrough,
        rule: TrackRule | None = None,
    ) -> None:
        self.score_cut = score_cut
        self.walk_cut = walk_cut
        self.min_hits = min_hits
        self.walk = walk
        self.rule = rule

    def __call__(self, event: Event) -> Event:
        labels = self.walk(
            np.asarray(event.edge_index),
            event.num_hits,
            np.asarray(event.edge_scores),
            self.score_cut,
            self.walk_cut,
            self.min_hits,
            np.asarray(event.r),
        )
        if self.rule is not None:
            labels = self.rule(event, labels, event.edge_index, event.edge_scores)
        return event.replace(track_labels=labels)


class _WithExtension:
    """The stage's short-track rule (if any), then its track extensions (:func:`tracking.ops.extend_tracks`,
    then :func:`tracking.ops.extend_tracks_helix`); a class, not a closure, so that the benchmark can send the
    reference to its memory-measuring process."""

    def __init__(self, rule: TrackRule | None, extend_cut: float | None, extend_helix: Any, detector: Any) -> None:
        self.rule = rule
        self.extend_cut = extend_cut
        self.extend_helix = extend_helix
        self.detector = detector

    def __call__(self, event: Event, labels: Any, edge_index: Any, scores: Any) -> Any:
        from tracking.ops import extend_tracks, extend_tracks_helix

        if self.rule is not None:
            labels = self.rule(event, labels, edge_index, scores)
        order = self.detector.start_order(event)
        if self.extend_cut is not None:
            labels = extend_tracks(labels, edge_index, scores, self.extend_cut, order)
        if self.extend_helix is not None:
            labels = extend_tracks_helix(labels, edge_index, event.x, event.y, event.z, order, self.extend_helix)
        return labels


def _has_numba() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def reference_stage(stage: Any) -> ReferenceStage:
    """The ACORN equivalent of one trackpipe pipeline stage (same map, same cuts, ACORN's algorithm and
    model layout at the same size):

    - ``module_map`` -> :func:`acorn_module_map_edges` (``PyModuleMap``) with the stage's module ids;
    - ``edge_filter`` / ``interaction_gnn`` -> :func:`acorn_layout` (``Filter`` / ``InteractionGNN``) on
      ACORN's node features; its scores are not ours (random weights), so the benchmark feeds every
      reference stage our stage's input instead of the previous reference stage's output;
    - ``walkthrough`` -> :func:`numba_walkthrough` (``FastWalkthrough``; :func:`python_walkthrough`,
      ACORN's older ``CCandWalk``, when numba is not installed);
    - ``connected_components`` -> :func:`scipy_connected_components`;
    - a track builder's short-track rule (with its track-quality model, if any) and its track extensions
      (``extend_cut``, ``extend_helix``), which ACORN does not have, are the stage's own, applied after
      ACORN's algorithm on both sides.

    Raises ``NotImplementedError`` naming the plugin when there is no reference for it.
    """
    kind = getattr(stage, "plugin_kind", "")
    name = getattr(stage, "plugin_name", type(stage).__name__)
    label = f"{kind}:{name}"
    cfg = stage.config
    if kind == "graph_builder" and name in ("module_map", "layer_pairs"):
        return ReferenceStage(label, _MapGraph(stage.map, getattr(stage, "module_ids", None)))
    if kind == "graph_builder" and name == "metric_learning":
        return ReferenceStage(label, _RadiusGraph(stage.embedding, cfg.radius))
    if kind == "edge_classifier" and name in ("interaction_gnn", "edge_filter"):
        chunk = getattr(cfg, "chunk_size", None)
        return ReferenceStage(label, _AcornModelScores(acorn_layout(stage.model), cfg.score_cut, cfg.prune, chunk))
    rule = getattr(stage, "_short_rule", None) if getattr(cfg, "short_hits", 0) > 1 else None
    extend_cut, extend_helix = getattr(cfg, "extend_cut", None), getattr(cfg, "extend_helix", None)
    if extend_cut is not None or extend_helix is not None:
        rule = _WithExtension(rule, extend_cut, extend_helix, stage.detector)
    if kind == "track_builder" and name == "connected_components":
        return ReferenceStage(label, _ScipyComponents(cfg.score_cut, cfg.min_hits, cfg.junction_removal, rule))
    if kind == "track_builder" and name == "walkthrough":
        walk = numba_walkthrough if _has_numba() else python_walkthrough
        return ReferenceStage(label, _Walk(cfg.score_cut, cfg.walk_cut, cfg.min_hits, walk, rule))
    raise NotImplementedError(f"no ACORN-equivalent reference for {label}")


def same_model_reference(stage: Any) -> ReferenceStage | None:
    """For an edge classifier: *our* model run the way ACORN runs its models (plain ``forward`` on
    features computed in torch, the triplet features in their vectorised torch form). Against our
    stage this isolates framework overhead: the model is the same on both sides. None for other stages."""
    kind = getattr(stage, "plugin_kind", "")
    name = getattr(stage, "plugin_name", type(stage).__name__)
    if kind == "edge_classifier" and name in ("interaction_gnn", "edge_filter"):
        return ReferenceStage(f"{kind}:{name}", _ModelScores(stage.model, stage.config.score_cut, stage.config.prune))
    return None


def run_reference(stages: list[ReferenceStage], event: Event) -> Event:
    """The whole reference path on a numpy event."""
    event = event.numpy()
    for stage in stages:
        event = stage(event)
    return event
