// Track building on a scored edge list: connected components, junction removal, walk-through.
//
// Conventions shared by every kernel here:
// - edges are given as two arrays `src`, `dst` of length `num_edges` (the rows of an int64 [2, E]
//   edge_index), directed inner -> outer; every index must lie in [0, num_nodes) (the caller checks);
// - an edge is *kept* when `scores == nullptr` or `scores[e] > cut` (strictly greater; a NaN score is
//   never kept). No filtered copy of the edges is made: the cut is applied while reading them;
// - labels are int64, compacted to 0..k-1 and numbered in increasing order of the smallest node index
//   of each group, so that the CPU and CUDA kernels return identical arrays; -1 = on no track.
// CUDA twins take device pointers and a cudaStream_t passed as void* (see device.hpp).
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define TRACKPIPE_HOST_DEVICE __host__ __device__
#else
#define TRACKPIPE_HOST_DEVICE
#endif

namespace trackpipe {

// Connected components of the undirected graph of kept edges (self-loops and duplicate edges are
// harmless). Components with fewer than `min_hits` nodes get -1. Writes `labels[num_nodes]` and
// returns the number of components labelled (k).
int64_t connected_components_cpu(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores,
                                 float cut, int64_t num_nodes, int64_t min_hits, int64_t* labels);
int64_t connected_components_cuda(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores,
                                  float cut, int64_t num_nodes, int64_t min_hits, int64_t* labels, void* stream);

// Junction removal: among kept edges, an edge survives when it is the best outgoing edge of its
// source AND the best incoming edge of its target. "Best" = highest score, ties broken by the lower
// edge index. Writes `keep[num_edges]` (1 = survives). Needs scores and num_edges < 2^32.
void junction_removal_cpu(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                          int64_t num_nodes, bool* keep);
void junction_removal_cuda(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                           int64_t num_nodes, bool* keep, void* stream);

// Walk-through (ACORN's CC-and-walk, greedy variant). On the graph of kept edges (self-loops ignored):
// 1. a connected component that is a simple directed path (every node has at most one kept in-edge and
//    one kept out-edge, and edges = nodes - 1) is one track;
// 2. the other components are walked: starts are first their nodes with no kept in-edge, then any
//    node still unused, each group in increasing (`order[v]`, v) (`order == nullptr`: by v). From a
//    start the walk repeatedly follows the highest-scoring out-edge with score > `walk_cut` whose
//    target is unused (ties: lower edge index); every visited node is used and belongs to that track.
// Tracks with fewer than `min_hits` nodes get -1 (their nodes stay used). Labels are compacted as
// above. Writes `labels[num_nodes]`, returns the number of tracks.
int64_t walkthrough_cpu(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                        float walk_cut, int64_t num_nodes, const float* order, int64_t min_hits, int64_t* labels);

namespace detail {

// Orders edges for junction removal with one integer comparison, so that the GPU can pick the best
// edge of a node with a single atomicMax: high 32 bits = the score's bits mapped to an unsigned int
// with the same order (sign flipped for positives, all bits flipped for negatives), low 32 bits =
// ~edge index, so that of two equal scores the lower edge index wins. -0 is folded onto +0 so that
// equal scores compare equal. Never 0 for a non-NaN score, so 0 can mean "no edge".
TRACKPIPE_HOST_DEVICE inline uint64_t junction_key(float score, int64_t edge) {
  if (score == 0.0f) score = 0.0f;
  uint32_t bits;
  memcpy(&bits, &score, sizeof bits);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<uint64_t>(bits) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - static_cast<uint32_t>(edge));
}

}  // namespace detail
}  // namespace trackpipe
