// Connected components and junction removal on the CPU.
//
// Union-find with the decreasing-parent invariant parent[x] <= x: links always hang the larger root
// under the smaller one, so every tree's root is the smallest node of its component. That makes the
// final labels deterministic (and equal to the CUDA kernel's) and lets one ascending sweep finish the
// path compression, because a node's parent has always been visited before the node itself.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "trackpipe/components.hpp"

#ifdef TRACKPIPE_OPENMP
#include <omp.h>
#endif

namespace trackpipe {
namespace {

// Below this many edges the threads cost more than they save.
constexpr int64_t kParallelMinEdges = int64_t{1} << 18;
// How far ahead the serial sweep prefetches the parents it will touch (random accesses dominate).
constexpr int64_t kPrefetchDistance = 16;

inline bool edge_kept(const float* scores, float cut, int64_t e) { return scores == nullptr || scores[e] > cut; }

// Rem's algorithm with splicing (Patwary, Blair, Manne, "Experiments on union-find algorithms for
// the disjoint-set data structure", SEA 2010): the fastest serial union-find in their study; it
// compresses while it walks both paths and stops as soon as they meet.
template <class Index>
inline void unite_rem(Index* parent, Index x, Index y) {
  while (parent[x] != parent[y]) {
    if (parent[x] > parent[y]) {
      if (x == parent[x]) {
        parent[x] = parent[y];
        return;
      }
      const Index z = parent[x];
      parent[x] = parent[y];
      x = z;
    } else {
      if (y == parent[y]) {
        parent[y] = parent[x];
        return;
      }
      const Index z = parent[y];
      parent[y] = parent[x];
      y = z;
    }
  }
}

template <class Index>
void unite_serial(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                  Index* parent) {
  for (int64_t e = 0; e < num_edges; ++e) {
    if (e + kPrefetchDistance < num_edges) {
      __builtin_prefetch(parent + src[e + kPrefetchDistance], 1);
      __builtin_prefetch(parent + dst[e + kPrefetchDistance], 1);
    }
    if (!edge_kept(scores, cut, e)) continue;
    unite_rem(parent, static_cast<Index>(src[e]), static_cast<Index>(dst[e]));
  }
}

#ifdef TRACKPIPE_OPENMP
template <class Index>
inline Index load_relaxed(const Index* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

// Find with path halving. Concurrent halving writes only ever replace a parent by one of its
// ancestors, so a stale read is still a valid (if longer) path to the root.
template <class Index>
inline Index find_concurrent(Index* parent, Index x) {
  while (true) {
    const Index p = load_relaxed(parent + x);
    if (p == x) return x;
    const Index g = load_relaxed(parent + p);
    if (g != p) __atomic_store_n(parent + x, g, __ATOMIC_RELAXED);
    x = g;
  }
}

// Lock-free union (Anderson & Woll; Jayanti & Tarjan, "Concurrent disjoint set union", 2016): a root
// is linked under the smaller root by a CAS that fails if another thread linked it first.
template <class Index>
void unite_parallel(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                    Index* parent) {
#pragma omp parallel for schedule(static, 4096)
  for (int64_t e = 0; e < num_edges; ++e) {
    if (!edge_kept(scores, cut, e)) continue;
    Index a = static_cast<Index>(src[e]);
    Index b = static_cast<Index>(dst[e]);
    while (true) {
      a = find_concurrent(parent, a);
      b = find_concurrent(parent, b);
      if (a == b) break;
      if (a < b) std::swap(a, b);
      Index expected = a;
      if (__atomic_compare_exchange_n(parent + a, &expected, b, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
    }
  }
}
#endif

// Turns the forest into compact labels: roots (component minima) numbered in ascending order.
template <class Index>
int64_t compact_labels(Index* parent, int64_t num_nodes, int64_t min_hits, int64_t* labels) {
  int64_t next = 0;
  if (min_hits <= 1) {
    for (int64_t v = 0; v < num_nodes; ++v) {
      const Index p = parent[v];
      if (p == static_cast<Index>(v)) {
        labels[v] = next++;
      } else {
        const Index root = parent[p];  // p < v is already flattened onto its root
        parent[v] = root;
        labels[v] = labels[root];
      }
    }
    return next;
  }
  // Sizes are counted in `labels` itself (at each root) before the roots are numbered.
  std::fill(labels, labels + num_nodes, int64_t{0});
  for (int64_t v = 0; v < num_nodes; ++v) {
    const Index root = parent[parent[v]];
    parent[v] = root;
    ++labels[root];
  }
  for (int64_t v = 0; v < num_nodes; ++v) {
    const Index root = parent[v];
    if (root == static_cast<Index>(v)) {
      labels[v] = labels[v] >= min_hits ? next++ : -1;
    } else {
      labels[v] = labels[root];
    }
  }
  return next;
}

template <class Index>
int64_t components_impl(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                        int64_t num_nodes, int64_t min_hits, int64_t* labels) {
  std::vector<Index> parent(static_cast<size_t>(num_nodes));
  for (int64_t v = 0; v < num_nodes; ++v) parent[v] = static_cast<Index>(v);
#ifdef TRACKPIPE_OPENMP
  if (num_edges >= kParallelMinEdges && omp_get_max_threads() > 1) {
    unite_parallel(src, dst, num_edges, scores, cut, parent.data());
  } else {
    unite_serial(src, dst, num_edges, scores, cut, parent.data());
  }
#else
  unite_serial(src, dst, num_edges, scores, cut, parent.data());
#endif
  return compact_labels(parent.data(), num_nodes, min_hits, labels);
}

}  // namespace

int64_t connected_components_cpu(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores,
                                 float cut, int64_t num_nodes, int64_t min_hits, int64_t* labels) {
  if (num_nodes <= 0) return 0;
  // 32-bit parents halve the memory traffic of the random accesses that dominate the run time.
  if (num_nodes <= std::numeric_limits<int32_t>::max()) {
    return components_impl<int32_t>(src, dst, num_edges, scores, cut, num_nodes, min_hits, labels);
  }
  return components_impl<int64_t>(src, dst, num_edges, scores, cut, num_nodes, min_hits, labels);
}

void junction_removal_cpu(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                          int64_t num_nodes, bool* keep) {
  // 0 means "no kept edge": every real key is > 0 (see detail::junction_key).
  std::vector<uint64_t> best_out(static_cast<size_t>(num_nodes), 0);
  std::vector<uint64_t> best_in(static_cast<size_t>(num_nodes), 0);
  for (int64_t e = 0; e < num_edges; ++e) {
    if (!(scores[e] > cut)) continue;
    const uint64_t key = detail::junction_key(scores[e], e);
    best_out[src[e]] = std::max(best_out[src[e]], key);
    best_in[dst[e]] = std::max(best_in[dst[e]], key);
  }
  for (int64_t e = 0; e < num_edges; ++e) {
    if (!(scores[e] > cut)) {
      keep[e] = false;
      continue;
    }
    const uint64_t key = detail::junction_key(scores[e], e);
    keep[e] = best_out[src[e]] == key && best_in[dst[e]] == key;
  }
}

}  // namespace trackpipe
