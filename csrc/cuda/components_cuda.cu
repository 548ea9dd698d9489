// Connected components on the GPU in the ECL-CC style (Jaiganesh & Burtscher, "A high-performance
// connected components implementation for GPUs", HPDC 2018), run directly on the edge list: one
// hooking pass over the kept edges with intermediate pointer jumping and CAS links of the larger
// root under the smaller, then a flattening pass. Roots are component minima, so the compaction
// (an inclusive scan over root flags) numbers components exactly as the CPU kernel does.
#include <cub/device/device_scan.cuh>

#include <cstdint>
#include <limits>
#include <stdexcept>

#include "cuda_check.cuh"
#include "grid_stride.cuh"
#include "trackpipe/components.hpp"

namespace trackpipe {
namespace {

using detail::first_index;
using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;

// Stream-ordered device buffer, freed on every exit path (including a throwing CUDA check).
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  cudaStream_t stream;
  DeviceBuffer(size_t count, cudaStream_t s) : stream(s) {
    if (count > 0) TRACKPIPE_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ptr), count * sizeof(T), stream));
  }
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFreeAsync(ptr, stream);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

__device__ inline int atomic_cas(int* p, int expected, int desired) { return atomicCAS(p, expected, desired); }
template <class Index>
__global__ void init_parent(Index* parent, int64_t num_nodes) {
  for (int64_t v = first_index(); v < num_nodes; v += grid_stride()) {
    parent[v] = static_cast<Index>(v);
  }
}

// ECL-CC's representative(): walks to the root, pointing each visited node at its grandparent.
// Parents only ever move to ancestors, so a stale read still leads to the root.
template <class Index>
__device__ Index representative(Index* parent, Index x) {
  Index current = parent[x];
  if (current == x) return x;
  Index previous = x;
  Index next;
  while (current > (next = parent[current])) {
    parent[previous] = next;
    previous = current;
    current = next;
  }
  return current;
}

template <class Index>
__global__ void hook_edges(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                           Index* parent) {
  for (int64_t e = first_index(); e < num_edges; e += grid_stride()) {
    if (scores != nullptr && !(scores[e] > cut)) continue;
    const Index u = static_cast<Index>(src[e]);
    const Index v = static_cast<Index>(dst[e]);
    if (u == v) continue;
    Index ru = representative(parent, u);
    Index rv = representative(parent, v);
    // A failed CAS returns the node's new parent, which is smaller: the loop always makes progress.
    while (ru != rv) {
      if (ru < rv) {
        const Index old = atomic_cas(parent + rv, rv, ru);
        if (old == rv) break;
        rv = old;
      } else {
        const Index old = atomic_cas(parent + ru, ru, rv);
        if (old == ru) break;
        ru = old;
      }
    }
  }
}

template <class Index>
__global__ void flatten(Index* parent, int64_t num_nodes) {
  for (int64_t v = first_index(); v < num_nodes; v += grid_stride()) {
    Index root = parent[v];
    while (root != parent[root]) root = parent[root];
    parent[v] = root;
  }
}

template <class Index>
__global__ void count_sizes(const Index* parent, int64_t num_nodes, int64_t* sizes) {
  for (int64_t v = first_index(); v < num_nodes; v += grid_stride()) {
    atomicAdd(reinterpret_cast<unsigned long long*>(sizes + parent[v]), 1ULL);
  }
}

// flags[v] = 1 for a root whose component is large enough; may alias `sizes` (each thread reads and
// writes only its own entry).
template <class Index>
__global__ void root_flags(const Index* parent, int64_t num_nodes, int64_t min_hits, int64_t* sizes_then_flags) {
  for (int64_t v = first_index(); v < num_nodes; v += grid_stride()) {
    const bool root = parent[v] == static_cast<Index>(v);
    const bool large = min_hits <= 1 || sizes_then_flags[v] >= min_hits;
    sizes_then_flags[v] = (root && large) ? 1 : 0;
  }
}

// rank = inclusive scan of the flags: a root r is flagged iff rank[r] != rank[r - 1], and then its
// label is rank[r] - 1.
template <class Index>
__global__ void write_labels(const Index* parent, const int64_t* rank, int64_t num_nodes, int64_t* labels) {
  for (int64_t v = first_index(); v < num_nodes; v += grid_stride()) {
    const int64_t r = static_cast<int64_t>(parent[v]);
    const int64_t here = rank[r];
    const int64_t before = r > 0 ? rank[r - 1] : 0;
    labels[v] = here != before ? here - 1 : -1;
  }
}

template <class Index>
int64_t components_impl(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                        int64_t num_nodes, int64_t min_hits, int64_t* labels, cudaStream_t stream) {
  DeviceBuffer<Index> parent(static_cast<size_t>(num_nodes), stream);
  DeviceBuffer<int64_t> rank(static_cast<size_t>(num_nodes), stream);
  const unsigned node_grid = grid_for(num_nodes);
  init_parent<Index><<<node_grid, kThreads, 0, stream>>>(parent.ptr, num_nodes);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
  if (num_edges > 0) {
    hook_edges<Index><<<grid_for(num_edges), kThreads, 0, stream>>>(src, dst, num_edges, scores, cut, parent.ptr);
    TRACKPIPE_CUDA_CHECK_LAUNCH();
  }
  flatten<Index><<<node_grid, kThreads, 0, stream>>>(parent.ptr, num_nodes);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
  // `labels` serves as scratch for the sizes and then the flags before it receives the labels.
  if (min_hits > 1) {
    TRACKPIPE_CUDA_CHECK(cudaMemsetAsync(labels, 0, static_cast<size_t>(num_nodes) * sizeof(int64_t), stream));
    count_sizes<Index><<<node_grid, kThreads, 0, stream>>>(parent.ptr, num_nodes, labels);
    TRACKPIPE_CUDA_CHECK_LAUNCH();
  }
  root_flags<Index><<<node_grid, kThreads, 0, stream>>>(parent.ptr, num_nodes, min_hits, labels);
  TRACKPIPE_CUDA_CHECK_LAUNCH();

  // CUB takes an int item count; larger graphs would need a chunked scan.
  const int num_items = static_cast<int>(num_nodes);
  size_t temp_bytes = 0;
  TRACKPIPE_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, temp_bytes, labels, rank.ptr, num_items, stream));
  DeviceBuffer<unsigned char> temp(temp_bytes, stream);
  TRACKPIPE_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp.ptr, temp_bytes, labels, rank.ptr, num_items, stream));

  write_labels<Index><<<node_grid, kThreads, 0, stream>>>(parent.ptr, rank.ptr, num_nodes, labels);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
  int64_t num_components = 0;
  TRACKPIPE_CUDA_CHECK(
      cudaMemcpyAsync(&num_components, rank.ptr + (num_nodes - 1), sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
  TRACKPIPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  return num_components;
}

}  // namespace

int64_t connected_components_cuda(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores,
                                  float cut, int64_t num_nodes, int64_t min_hits, int64_t* labels, void* stream) {
  if (num_nodes <= 0) return 0;
  if (num_nodes > std::numeric_limits<int>::max()) {
    throw std::invalid_argument("connected_components_cuda: more than 2^31 - 1 nodes is not supported");
  }
  return components_impl<int>(src, dst, num_edges, scores, cut, num_nodes, min_hits, labels,
                              detail::as_stream(stream));
}

}  // namespace trackpipe
