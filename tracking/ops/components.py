"""Track-building kernels: connected components, junction removal, walk-through.

Every function takes numpy arrays or torch tensors (CPU or CUDA) and returns the same kind on the same
device. Conventions, shared with the kernels (``csrc/include/trackpipe/components.hpp``):

- ``edge_index`` is int64 ``[2, E]``, directed inner -> outer, every index in ``[0, num_nodes)``;
- an edge is *kept* when its score is strictly greater than ``cut`` (a NaN score is never kept);
- labels are int64, compacted to ``0..k-1`` and numbered by the smallest node index of each group, so
  that CPU and CUDA results are identical arrays; ``-1`` = on no track.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import torch

from .._native import core
from ..arrays import as_numpy, cuda_stream
from ._validate import Array, check_edge_index, check_per_edge, integer, kind, real, same_place

__all__ = ["connected_components", "extend_tracks", "extend_tracks_helix", "junction_removal", "walkthrough"]


def _empty_like_kind(ref: Array, size: int, dtype: str) -> Array:
    if isinstance(ref, torch.Tensor):
        return torch.empty(size, dtype=getattr(torch, dtype), device=ref.device)
    return np.empty(size, dtype=dtype)


# -- public API ------------------------------------------------------------------------------------
def connected_components(
    edge_index: Array, num_nodes: int, scores: Array | None = None, cut: float = 0.5, min_hits: int = 1
) -> Array:
    """Connected-component label of every node, on the edges whose score is > ``cut``.

    Args:
        edge_index: int64 ``[2, E]``; the direction of an edge is ignored.
        num_nodes: number of nodes N; every index in ``edge_index`` must be below it.
        scores: float32 ``[E]``, or None to keep every edge.
        cut: an edge is kept when ``scores > cut`` (strictly).
        min_hits: components with fewer nodes are labelled -1.

    Returns:
        int64 ``[N]`` labels ``0..k-1`` numbered by each component's smallest node index, -1 for
        components smaller than ``min_hits``; same kind and device as ``edge_index``.
        Self-loops and duplicate edges are allowed. CPU and CUDA return identical labels.
    """
    num_nodes = integer("num_nodes", num_nodes)
    min_hits = integer("min_hits", min_hits)
    cut = real("cut", cut)
    edge_index = check_edge_index(edge_index, num_nodes)
    if scores is not None:
        scores = check_per_edge("scores", scores, edge_index, ("float32",))
    labels = _empty_like_kind(edge_index, num_nodes, "int64")
    if num_nodes == 0:
        return labels
    num_edges = edge_index.shape[1]
    if kind("edge_index", edge_index) == "cuda":
        with torch.cuda.device(edge_index.device):
            core.connected_components_cuda(
                edge_index.data_ptr(),
                edge_index.data_ptr() + 8 * num_edges,
                num_edges,
                0 if scores is None else scores.data_ptr(),
                cut,
                num_nodes,
                min_hits,
                labels.data_ptr(),
                cuda_stream(edge_index.device),
            )
        return labels
    host_scores = None if scores is None else as_numpy(scores)
    core.connected_components_cpu(as_numpy(edge_index), host_scores, cut, num_nodes, min_hits, as_numpy(labels))
    return labels


def junction_removal(edge_index: Array, scores: Array, cut: float, num_nodes: int) -> Array:
    """Mask of the edges that survive junction removal (the ACTS GNN plugin's cleaning step).

    An edge survives when its score is > ``cut`` and it is both the best-scoring kept out-edge of its
    source and the best-scoring kept in-edge of its target; "best" = highest score, ties broken by the
    lower edge index (-0.0 and +0.0 count as equal). Edges are directed inner -> outer, so afterwards
    no node has more than one kept edge on each side and every component is a path.

    Returns:
        bool ``[E]`` mask, same kind and device as ``edge_index``; feed ``scores`` where the mask is
        False set below the cut (or index the edges) into :func:`connected_components`.
    """
    num_nodes = integer("num_nodes", num_nodes)
    cut = real("cut", cut)
    edge_index = check_edge_index(edge_index, num_nodes)
    scores = check_per_edge("scores", scores, edge_index, ("float32",))
    num_edges = edge_index.shape[1]
    if num_edges >= 2**32:
        raise ValueError(f"edge_index: junction removal supports fewer than 2^32 edges, got {num_edges}")
    keep = _empty_like_kind(edge_index, num_edges, "bool")
    if num_edges == 0:
        return keep
    if kind("edge_index", edge_index) == "cuda":
        with torch.cuda.device(edge_index.device):
            core.junction_removal_cuda(
                edge_index.data_ptr(),
                edge_index.data_ptr() + 8 * num_edges,
                num_edges,
                scores.data_ptr(),
                cut,
                num_nodes,
                keep.data_ptr(),
                cuda_stream(edge_index.device),
            )
        return keep
    core.junction_removal_cpu(as_numpy(edge_index), as_numpy(scores), cut, num_nodes, as_numpy(keep))
    return keep


def walkthrough(
    edge_index: Array,
    num_nodes: int,
    scores: Array | None = None,
    cut: float = 0.5,
    walk_cut: float | None = None,
    min_hits: int = 1,
    order: Array | None = None,
    recovery_cut: float | None = None,
) -> Array:
    """Track labels by ACORN's CC-and-walk, with a greedy best-edge walk.

    On the graph of edges with score > ``cut`` (self-loops ignored): a connected component that is a
    simple directed path (no node with two kept in- or out-edges, no cycle) is one track. The other
    components are walked: start nodes are first their nodes with no kept in-edge, then any node still
    unused, each group in increasing ``(order[v], v)``. A walk follows, from node to node, the
    highest-scoring out-edge with score > ``walk_cut`` whose target is unused (ties: lower edge index);
    each node joins one track at most. ``walk_cut`` is ACORN's add-on threshold for ambiguous
    components: at or below ``cut`` it has no effect (None = ``cut``).

    Args:
        edge_index: int64 ``[2, E]``, directed inner -> outer.
        num_nodes: number of nodes N.
        scores: float32 ``[E]`` or None (every edge kept; walks take the lowest-index edge).
        cut, walk_cut: thresholds above.
        min_hits: tracks with fewer nodes are labelled -1 (their nodes stay used).
        order: optional real ``[N]`` start order (e.g. the hits' radius r); default the node index.
        recovery_cut: a second, looser pass (None = off): the nodes left on no track (labelled -1) are
            walked again, in the same way, over the edges between two of them with score > ``recovery_cut``
            (below ``cut``: short tracks with one edge under the cut; the tracks of the first pass stay).

    Returns:
        int64 ``[N]`` labels ``0..k-1`` numbered by each track's smallest node index, -1 = no track; same
        kind and device as ``edge_index`` (a CUDA input runs on the CPU and is copied back).
    """
    num_nodes = integer("num_nodes", num_nodes)
    min_hits = integer("min_hits", min_hits)
    cut = real("cut", cut)
    walk_cut = cut if walk_cut is None else real("walk_cut", walk_cut)
    edge_index = check_edge_index(edge_index, num_nodes)
    if scores is not None:
        scores = check_per_edge("scores", scores, edge_index, ("float32",))
    order_host = None
    if order is not None:
        same_place({"edge_index": edge_index, "order": order})
        if order.ndim != 1 or order.shape[0] != num_nodes:
            raise ValueError(f"order: expected shape [{num_nodes}] (one per node), got {tuple(order.shape)}")
        order_host = np.ascontiguousarray(as_numpy(order))
        if order_host.dtype.kind not in "fiu":
            raise ValueError(f"order: expected a real dtype, got {order_host.dtype}")
        order_host = order_host.astype(np.float32, copy=False)
        if np.isnan(order_host).any():
            raise ValueError("order: contains NaN")
    if recovery_cut is not None:
        recovery_cut = real("recovery_cut", recovery_cut)
    labels_host = np.empty(num_nodes, dtype=np.int64)
    if num_nodes > 0:
        host_edges = as_numpy(edge_index)
        host_scores = None if scores is None else as_numpy(scores)
        core.walkthrough_cpu(host_edges, host_scores, cut, walk_cut, num_nodes, order_host, min_hits, labels_host)
        if recovery_cut is not None and host_scores is not None:
            labels_host = _recover(host_edges, host_scores, recovery_cut, num_nodes, order_host, min_hits, labels_host)
    if isinstance(edge_index, torch.Tensor):
        return torch.from_numpy(labels_host).to(edge_index.device)
    return labels_host


def _recover(
    edges: np.ndarray,
    scores: np.ndarray,
    cut: float,
    num_nodes: int,
    order: np.ndarray | None,
    min_hits: int,
    labels: np.ndarray,
) -> np.ndarray:
    """:func:`walkthrough`'s recovery pass: the free nodes (``labels`` -1) walked over the edges between two
    of them with score > ``cut``; the new tracks join the old, all numbered by their smallest node again."""
    free = labels < 0
    keep = free[edges[0]] & free[edges[1]] & (scores > cut)
    if not keep.any():
        return labels
    second = np.empty(num_nodes, dtype=np.int64)
    sub_edges, sub_scores = np.ascontiguousarray(edges[:, keep]), np.ascontiguousarray(scores[keep])
    core.walkthrough_cpu(sub_edges, sub_scores, cut, cut, num_nodes, order, min_hits, second)
    second[~free] = -1  # nodes of first-pass tracks are lone nodes here (a track of one with min_hits <= 1)
    merged = np.where(second >= 0, second + int(labels.max(initial=-1)) + 1, labels)
    found = merged >= 0
    # renumber 0..k-1 in the order of each track's smallest node (the walk's own numbering)
    uniq, first = np.unique(merged[found], return_index=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    merged[found] = rank[np.searchsorted(uniq, merged[found])]
    return merged


def drop_weak_short_tracks(
    labels: Array, edge_index: Array, scores: Array, short_hits: int, score_cut: float, track_scores: Any = None
) -> Array:
    """A track-quality rule finer than one ``min_hits``: tracks of fewer than ``short_hits`` hits are kept
    only when the mean score of the graph edges joining two of their hits is > ``score_cut`` (the few
    hits of a short track are then a confident chain, not a fragment or a chance alignment), or, given
    ``track_scores`` (one per track, e.g. :class:`tracking.quality.TrackQualityModel` probabilities), when
    their track score is > ``score_cut``; their hits get -1 otherwise (the other tracks are numbered 0..
    again, in their order). Returns new labels on the device and of the kind of ``labels``; ``short_hits``
    <= 1 returns them unchanged."""
    if short_hits <= 1:
        return labels
    lab = as_numpy(labels).astype(np.int64, copy=True)
    if lab.size == 0 or lab.max(initial=-1) < 0:
        return labels
    n_tracks = int(lab.max()) + 1
    size = np.bincount(lab[lab >= 0], minlength=n_tracks)
    if track_scores is not None:
        mean = np.asarray(as_numpy(track_scores), dtype=np.float64)
        if mean.shape != (n_tracks,):
            raise ValueError(f"track_scores: expected one per track ({n_tracks}), got shape {mean.shape}")
    else:
        ei = as_numpy(edge_index).astype(np.int64, copy=False)
        sc = as_numpy(scores).astype(np.float64, copy=False)
        src_lab, dst_lab = lab[ei[0]], lab[ei[1]]
        inside = (src_lab >= 0) & (src_lab == dst_lab)
        total = np.bincount(src_lab[inside], weights=sc[inside], minlength=n_tracks)
        count = np.bincount(src_lab[inside], minlength=n_tracks)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    weak = (size < short_hits) & ~(mean > score_cut)
    drop = np.zeros(lab.shape, dtype=bool)
    drop[lab >= 0] = weak[lab[lab >= 0]]
    lab[drop] = -1
    kept = lab >= 0
    lab[kept] = np.unique(lab[kept], return_inverse=True)[1]  # tracks numbered 0.. again, in their order
    if isinstance(labels, torch.Tensor):
        return torch.from_numpy(lab).to(device=labels.device, dtype=labels.dtype)
    return lab.astype(labels.dtype, copy=False)


def extend_tracks(labels: Array, edge_index: Array, scores: Array, cut: float, order: Array) -> Array:
    """Grow tracks at both ends onto hits on no track, over graph edges with score > ``cut``, best first.

    A track's ends are its innermost and outermost hits (smallest and largest ``(order, node)``). Of all
    the claims "the outer end's out-edge to a hit on no track (label ``-1``)" and "the inner end's in-edge
    from one", the highest-scoring one anywhere is taken first (ties: lower track label, inner end first,
    lower hit): the hit joins that track and becomes its new end there; then again, until no claim is
    left. The walk leaves such hits when a particle's chain has one weak edge, or when the short-track rule
    dropped the piece beyond it: the stem it kept then holds less than half of the particle's hits (a fake
    under double majority) although the rest of the chain scores above ``cut``. Track labels are kept (no
    track is added, removed or renumbered); returns labels of the kind and on the device of ``labels``.

    Args:
        labels: int64 ``[N]`` track labels, -1 = on no track.
        edge_index: int64 ``[2, E]``, directed inner -> outer.
        scores: float32 ``[E]``.
        cut: an edge is used when its score is > cut.
        order: real ``[N]``: how far along its track a hit lies (the walk's start order, e.g. radius).
    """
    cut = real("cut", cut)
    lab = as_numpy(labels).astype(np.int64, copy=True)
    num_nodes = lab.shape[0]
    edge_index = check_edge_index(edge_index, num_nodes)
    scores = check_per_edge("scores", scores, edge_index, ("float32",))
    position = np.asarray(as_numpy(order), dtype=np.float64)
    if position.shape != (num_nodes,):
        raise ValueError(f"order: expected shape [{num_nodes}] (one per node), got {tuple(position.shape)}")
    ei = as_numpy(edge_index)
    sc = as_numpy(scores)
    keep = sc > cut
    src, dst, edge_score = ei[0][keep], ei[1][keep], sc[keep].astype(np.float64)
    on = np.flatnonzero(lab >= 0)
    if len(src) and len(on):
        # adjacency of the kept edges: side 1 = out-edges (outer ends grow outwards), side 0 = in-edges
        by_src, by_dst = np.argsort(src, kind="stable"), np.argsort(dst, kind="stable")
        starts = {
            1: (np.searchsorted(src[by_src], np.arange(num_nodes + 1)), dst[by_src], edge_score[by_src]),
            0: (np.searchsorted(dst[by_dst], np.arange(num_nodes + 1)), src[by_dst], edge_score[by_dst]),
        }
        ranked = on[np.lexsort((on, position[on], lab[on]))]  # by track, then along it
        bounds = np.flatnonzero(np.diff(lab[ranked])) + 1
        ends = {0: dict(zip(lab[ranked[np.r_[0, bounds]]].tolist(), ranked[np.r_[0, bounds]].tolist(), strict=True))}
        last = ranked[np.r_[bounds - 1, len(ranked) - 1]]
        ends[1] = dict(zip(lab[last].tolist(), last.tolist(), strict=True))

        def claims(track: int, side: int, node: int) -> list[tuple[float, int, int, int, int]]:
            offsets, other, weight = starts[side]
            span = range(offsets[node], offsets[node + 1])
            return [(-weight[k], track, side, int(other[k]), node) for k in span if lab[other[k]] < 0]

        heap = [item for side in (0, 1) for track, node in ends[side].items() for item in claims(track, side, node)]
        heapq.heapify(heap)
        while heap:
            _, track, side, hit, node = heapq.heappop(heap)
            if lab[hit] >= 0 or ends[side][track] != node:
                continue  # taken meanwhile, or that end has grown past node
            lab[hit] = track
            ends[side][track] = hit
            for item in claims(track, side, hit):
                heapq.heappush(heap, item)
    if isinstance(labels, torch.Tensor):
        return torch.from_numpy(lab).to(device=labels.device, dtype=labels.dtype)
    return lab.astype(as_numpy(labels).dtype, copy=False)


def local_parabolas(gid: np.ndarray, hx: np.ndarray, hy: np.ndarray, groups: int) -> dict[str, np.ndarray]:
    """Per group of points (``gid``, ``0..groups-1``): a least-squares parabola ``q = a + b s + c s^2`` in the
    group's own x-y frame (centred on its mean ``mx, my``, ``s`` along its principal direction ``(cos, sin)``,
    ``q`` across): exact for straight lines, a circle of curvature ``2c`` to first order. Vectorised over the
    groups; also returns each point's ``s`` and ``q`` and the sums of ``s^0..s^4`` (``n``, ``powers``)."""
    n = np.bincount(gid, minlength=groups).astype(np.float64)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(gid, weights=values, minlength=groups)

    mx, my = total(hx) / n, total(hy) / n
    cx, cy = hx - mx[gid], hy - my[gid]
    theta = 0.5 * np.arctan2(2 * total(cx * cy), total(cx * cx) - total(cy * cy))
    cos, sin = np.cos(theta), np.sin(theta)
    s = cx * cos[gid] + cy * sin[gid]
    q = cy * cos[gid] - cx * sin[gid]
    powers = [n, total(s), total(s**2), total(s**3), total(s**4)]
    a = np.stack([powers[i + j] for i in range(3) for j in range(3)], axis=1).reshape(groups, 3, 3)
    a = a + np.eye(3)[None] * (1e-10 * np.diagonal(a, axis1=1, axis2=2)[:, None, :] + 1e-12)
    rhs = np.stack([total(q), total(q * s), total(q * s**2)], axis=1)
    coef = np.linalg.solve(a, rhs[..., None])[..., 0]
    return {"mx": mx, "my": my, "cos": cos, "sin": sin, "coef": coef, "s": s, "q": q, "n": n, "powers": powers}


def parabola_distance(fit: dict[str, Any], g: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Distance (to first order in the parabola's slope) of points ``(px, py)`` from the parabola of their group
    ``g`` (a :func:`local_parabolas` result), measured across it in the group's frame."""
    cx, cy = px - fit["mx"][g], py - fit["my"][g]
    s = cx * fit["cos"][g] + cy * fit["sin"][g]
    q = cy * fit["cos"][g] - cx * fit["sin"][g]
    a, b, c = fit["coef"][g].T
    return np.abs(q - (a + b * s + c * s * s)) / np.sqrt(1.0 + (b + 2 * c * s) ** 2)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorised."""
    return np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(int(lengths.sum()))


def _local_helix(gid: np.ndarray, hx: np.ndarray, hy: np.ndarray, hz: np.ndarray, groups: int) -> dict[str, Any]:
    """:func:`local_parabolas` and, per group, a least-squares line ``z = za + zb s`` (``flat``: the points
    have no spread along ``s``, no line)."""
    fit = local_parabolas(gid, hx, hy, groups)
    n, powers, s = fit["n"], fit["powers"], fit["s"]
    sz, z_sum = np.bincount(gid, weights=s * hz, minlength=groups), np.bincount(gid, weights=hz, minlength=groups)
    det = n * powers[2] - powers[1] ** 2
    flat = ~(np.abs(det) > 1e-9 * np.maximum(n * powers[2], 1.0))
    zb = np.where(flat, 0.0, (n * sz - powers[1] * z_sum) / np.where(flat, 1.0, det))
    return {**fit, "za": (z_sum - zb * powers[1]) / n, "zb": zb, "flat": flat}


def _helix_residuals(fit: dict[str, np.ndarray], g: np.ndarray, px, py, pz) -> tuple[np.ndarray, np.ndarray]:
    """Distance across (x-y) and along z of points from their group's fitted helix (see :func:`_local_helix`)."""
    s = (px - fit["mx"][g]) * fit["cos"][g] + (py - fit["my"][g]) * fit["sin"][g]
    d_z = np.where(fit["flat"][g], np.inf, np.abs(pz - (fit["za"][g] + fit["zb"][g] * s)))
    return parabola_distance(fit, g, px, py), d_z


def extend_tracks_helix(
    labels: Array,
    edge_index: Array,
    x: Array,
    y: Array,
    z: Array,
    order: Array,
    tolerance: tuple[float, float],
    *,
    fit_hits: int = 5,
    min_hits: int = 4,
) -> Array:
    """Grow tracks at both ends onto hits on no track that lie on the track's helix, over graph edges of any score.

    Where a particle's edges score too low for the walk (a soft particle's segments the edge classifier
    learned as negatives) the walk keeps only part of it; that part, a *stem*, holds less than half of the
    particle's hits (a fake under double majority). The geometry still joins them: this is one step of a
    combinatorial Kalman filter, with a local helix for the filter. In rounds: every track of at least
    ``min_hits`` hits fits, at each end, a helix to its ``fit_hits`` hits nearest that end (a parabola across
    in its own x-y frame and a line in z; :func:`_local_helix`); its candidates are the hits on no track that
    share a graph edge (either direction) with the end hit and lie beyond it (``order`` strictly below the
    inner end's, above the outer end's); a candidate is acceptable when its distance from the helix is below
    ``tolerance`` (across in x-y, and along z), and the end claims its acceptable candidate of the lowest cost
    ``d_xy / tol_xy + d_z / tol_z`` (ties: the lower hit). A hit claimed by several ends goes to the lowest
    cost (ties: lower track label, inner end first); every winning claim is taken at once, then the next
    round fits again, until no end claims. Track labels are kept (no track is added, removed or
    renumbered); returns labels of the kind and on the device of ``labels``.

    Args:
        labels: int64 ``[N]`` track labels, -1 = on no track.
        edge_index: int64 ``[2, E]``: the candidates' edges (their scores are not used).
        x, y, z: ``[N]`` hit positions (mm).
        order: real ``[N]``: how far along its track a hit lies (the walk's start order, e.g. radius).
        tolerance: (across in x-y, along z), mm, both > 0.
        fit_hits: hits fitted at each end (>= 3).
        min_hits: tracks with fewer hits do not grow (>= 3).
    """
    tol_xy, tol_z = (real("tolerance", float(t), minimum=0.0, finite=True) for t in tolerance)
    if not (tol_xy > 0 and tol_z > 0):
        raise ValueError(f"tolerance: expected two values > 0 (x-y, z), got {tuple(tolerance)!r}")
    fit_hits = integer("fit_hits", fit_hits, minimum=3)
    min_hits = integer("min_hits", min_hits, minimum=3)
    lab = as_numpy(labels).astype(np.int64, copy=True)
    num_nodes = lab.shape[0]
    ei = as_numpy(check_edge_index(edge_index, num_nodes))
    per_hit = {}
    for name, value in (("x", x), ("y", y), ("z", z), ("order", order)):
        per_hit[name] = np.asarray(as_numpy(value), dtype=np.float64)
        if per_hit[name].shape != (num_nodes,):
            raise ValueError(f"{name}: expected shape [{num_nodes}] (one per node), got {per_hit[name].shape}")
    hx, hy, hz, position = per_hit["x"], per_hit["y"], per_hit["z"], per_hit["order"]
    # undirected adjacency: a hit's neighbours in both directions
    a, b = np.concatenate([ei[0], ei[1]]), np.concatenate([ei[1], ei[0]])
    by_a = np.argsort(a, kind="stable")
    offsets, neighbour = np.searchsorted(a[by_a], np.arange(num_nodes + 1)), b[by_a]
    # the (track, side) ends that may claim this round: every end first, then the ends of the tracks that grew
    # and the ends that lost a claim (an end with no acceptable candidate keeps none: its candidates only go)
    active: np.ndarray | None = None
    while True:
        on = np.flatnonzero(lab >= 0)
        ranked = on[np.lexsort((on, position[on], lab[on]))]
        if not len(ranked):
            break
        starts = np.flatnonzero(np.r_[True, np.diff(lab[ranked]) != 0])
        counts = np.diff(np.r_[starts, len(ranked)])
        track = lab[ranked[starts]]
        pair_track = np.repeat(track, 2)
        pair_side = np.tile([0, 1], len(track))
        pair_start, pair_count = np.repeat(starts, 2), np.repeat(counts, 2)
        keep = pair_count >= min_hits
        if active is not None:
            keep &= np.isin(pair_track * 2 + pair_side, active)
        pair_track, pair_side, pair_start, pair_count = (
            v[keep] for v in (pair_track, pair_side, pair_start, pair_count)
        )
        if not len(pair_track):
            break
        pairs = len(pair_track)
        m = np.minimum(pair_count, fit_hits)
        first = np.where(pair_side == 0, pair_start, pair_start + pair_count - m)
        gid = np.repeat(np.arange(pairs), m)
        near = ranked[_ranges(first, m)]
        fit = _local_helix(gid, hx[near], hy[near], hz[near], pairs)
        end = ranked[np.where(pair_side == 0, pair_start, pair_start + pair_count - 1)]
        degree = offsets[end + 1] - offsets[end]
        cand_pair = np.repeat(np.arange(pairs), degree)
        cand = neighbour[_ranges(offsets[end], degree)]
        beyond = np.where(
            pair_side[cand_pair] == 0,
            position[cand] < position[end[cand_pair]],
            position[cand] > position[end[cand_pair]],
        )
        ok = (lab[cand] < 0) & beyond
        cand_pair, cand = cand_pair[ok], cand[ok]
        d_xy, d_z = _helix_residuals(fit, cand_pair, hx[cand], hy[cand], hz[cand])
        ok = (d_xy < tol_xy) & (d_z < tol_z)
        cand_pair, cand, cost = cand_pair[ok], cand[ok], (d_xy / tol_xy + d_z / tol_z)[ok]
        if not len(cand):
            break
        # each end's best candidate, then each hit's best end
        pick = np.lexsort((cand, cost, cand_pair))
        pick = pick[np.r_[True, np.diff(cand_pair[pick]) != 0]]
        claim_pair, claim_hit, claim_cost = cand_pair[pick], cand[pick], cost[pick]
        win = np.lexsort((pair_side[claim_pair], pair_track[claim_pair], claim_cost, claim_hit))
        win = win[np.r_[True, np.diff(claim_hit[win]) != 0]]
        lab[claim_hit[win]] = pair_track[claim_pair[win]]
        lost = np.setdiff1d(np.arange(len(claim_pair)), win)
        grown = np.unique(pair_track[claim_pair[win]])
        active = np.union1d(
            np.concatenate([grown * 2, grown * 2 + 1]),
            pair_track[claim_pair[lost]] * 2 + pair_side[claim_pair[lost]],
        )
    if isinstance(labels, torch.Tensor):
        return torch.from_numpy(lab).to(device=labels.device, dtype=labels.dtype)
    return lab.astype(as_numpy(labels).dtype, copy=False)
