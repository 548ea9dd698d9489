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

// Below this many edges the threads cost more than they save: a mu = 200 event graph (~0.5M edges)
// takes ~3 ms serially, and on a shared machine a descheduled thread costs more than that.
constexpr int64_t kParallelMinEdges = int64_t{1} << 21;
// Edges are filtered by the cut a chunk at a time into a small stack buffer (branch-free), so the
// unpredictable score test does not stall the union loop and no filtered edge list is materialised.
constexpr int64_t kChunk = 1024;
// How far ahead the union loop prefetches the parents it will touch (random accesses dominate).
constexpr int kPrefetchDistance = 8;

template <class Index>
struct KeptChunk {
  Index u[kChunk];
  Index v[kChunk];
  int size = 0;

  void fill(const int64_t* src, const int64_t* dst, const float* scores, float cut, int64_t begin, int64_t end) {
    size = 0;
    if (scores == nullptr) {
      for (int64_t e = begin; e < end; ++e, ++size) {
        u[size] = static_cast<Index>(src[e]);
        v[size] = static_cast<Index>(dst[e]);
      }
      return;
    }
    for (int64_t e = begin; e < end; ++e) {
      u[size] = static_cast<Index>(src[e]);
      v[size] = static_cast<Index>(dst[e]);
      size += scores[e] > cut;
    }
  }

  void prefetch(const Index* parent, int i) const {
    if (i + kPrefetchDistance < size) {
      __builtin_prefetch(parent + u[i + kPrefetchDistance], 1);
      __builtin_prefetch(parent + v[i + kPrefetchDistance], 1);
    }
  }
};

// Find with path halving (Tarjan & van Leeuwen 1984). With the parents' decreasing order, linking by
// index measured faster here than Rem's splicing algorithm and than union by size.
template <class Index>
inline Index find_halving(Index* parent, Index x) {
  while (true) {
    const Index p = parent[x];
    if (p == x) return x;
    const Index g = parent[p];
    parent[x] = g;
    x = g;
  }
}

template <class Index>
void unite_serial(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                  Index* parent) {
  KeptChunk<Index> chunk;
  for (int64_t begin = 0; begin < num_edges; begin += kChunk) {
    chunk.fill(src, dst, scores, cut, begin, std::min(num_edges, begin + kChunk));
    for (int i = 0; i < chunk.size; ++i) {
      chunk.prefetch(parent, i);
      const Index a = find_halving(parent, chunk.u[i]);
      const Index b = find_halving(parent, chunk.v[i]);
      if (a < b) {
        parent[b] = a;
      } else if (b < a) {
        parent[a] = b;
      }
    }
  }
}

#ifdef TRACKPIPE_OPENMP
template <class Index>
inline Index load_relaxed(const Index* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

// Concurrent halving writes only ever replace a parent by one of its ancestors, so a stale read is
// still a valid (if longer) path to the root.
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

// Lock-free union (Anderson & Woll 1991; Jayanti & Tarjan, "Concurrent disjoint set union", 2016): a
// root is linked under the smaller root by a CAS that fails if another thread linked it first.
template <class Index>
void unite_parallel(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                    Index* parent) {
  const int64_t num_chunks = (num_edges + kChunk - 1) / kChunk;
#pragma omp parallel
  {
    KeptChunk<Index> chunk;
#pragma omp for schedule(static, 4)
    for (int64_t c = 0; c < num_chunks; ++c) {
      chunk.fill(src, dst, scores, cut, c * kChunk, std::min(num_edges, (c + 1) * kChunk));
      for (int i = 0; i < chunk.size; ++i) {
        chunk.prefetch(parent, i);
        Index a = chunk.u[i];
        Index b = chunk.v[i];
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
