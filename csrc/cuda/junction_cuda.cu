// Junction removal on the GPU: the best in- and out-edge of every node by one atomicMax on a packed
// (score, ~edge index) key per endpoint, then a pass that keeps the edges that won at both ends.
// Same keys as the CPU kernel, so the masks are identical.
#include <cstdint>

#include "cuda_check.cuh"
#include "grid_stride.cuh"
#include "trackpipe/components.hpp"

namespace trackpipe {
namespace {

using detail::first_index;
using detail::grid_for;
using detail::grid_stride;
using detail::kThreads;

__global__ void best_edges(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                           unsigned long long* best_out, unsigned long long* best_in) {
  for (int64_t e = first_index(); e < num_edges; e += grid_stride()) {
    const float score = scores[e];
    if (!(score > cut)) continue;
    const unsigned long long key = detail::junction_key(score, e);
    atomicMax(best_out + src[e], key);
    atomicMax(best_in + dst[e], key);
  }
}

__global__ void keep_winners(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                             const unsigned long long* best_out, const unsigned long long* best_in, bool* keep) {
  for (int64_t e = first_index(); e < num_edges; e += grid_stride()) {
    const float score = scores[e];
    bool kept = false;
    if (score > cut) {
      const unsigned long long key = detail::junction_key(score, e);
      kept = best_out[src[e]] == key && best_in[dst[e]] == key;
    }
    keep[e] = kept;
  }
}

}  // namespace

void junction_removal_cuda(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                           int64_t num_nodes, bool* keep, void* stream_ptr) {
  if (num_edges <= 0) return;
  const cudaStream_t stream = detail::as_stream(stream_ptr);
  const size_t bytes = static_cast<size_t>(num_nodes > 0 ? num_nodes : 1) * sizeof(unsigned long long);
  unsigned long long* best = nullptr;
  TRACKPIPE_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&best), 2 * bytes, stream));
  unsigned long long* best_out = best;
  unsigned long long* best_in = best + (bytes / sizeof(unsigned long long));
  try {
    TRACKPIPE_CUDA_CHECK(cudaMemsetAsync(best, 0, 2 * bytes, stream));
    const unsigned grid = grid_for(num_edges);
    best_edges<<<grid, kThreads, 0, stream>>>(src, dst, num_edges, scores, cut, best_out, best_in);
    TRACKPIPE_CUDA_CHECK_LAUNCH();
    keep_winners<<<grid, kThreads, 0, stream>>>(src, dst, num_edges, scores, cut, best_out, best_in, keep);
    TRACKPIPE_CUDA_CHECK_LAUNCH();
  } catch (...) {
    cudaFreeAsync(best, stream);
    throw;
  }
  TRACKPIPE_CUDA_CHECK(cudaFreeAsync(best, stream));
}

}  // namespace trackpipe
