// Fixed-radius neighbours on the GPU over a grid built by the caller (sorted points, cell keys and
// offsets): one thread per point, count then fill. The caller orders the pairs and applies a k cap
// (a segmented sort by distance), so this file only has to find every pair within the radius.
#include <cstdint>

#include "cuda_check.cuh"
#include "trackpipe/graph.hpp"

namespace trackpipe {

namespace {

constexpr int kThreads = 128;

__device__ int64_t find_cell(const RadiusGridInput& in, int64_t key) {
  int64_t lo = 0, hi = in.n_cells;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (in.cell_keys[mid] < key) lo = mid + 1; else hi = mid;
  }
  return (lo < in.n_cells && in.cell_keys[lo] == key) ? lo : -1;
}

template <typename Visit>
__device__ void visit_neighbours(const RadiusGridInput& in, int64_t s, float r2, Visit visit) {
  const int dim = in.dim;
  const int ds = dim > 3 ? 3 : -1;
  const float* p = in.sorted_points + s * dim;
  int64_t lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  for (int k = 0; k < in.n_hash; ++k) {
    const int64_t c = in.cell_coord[s * in.n_hash + k];
    lo[k] = c > 0 ? c - 1 : 0;
    hi[k] = c + 1 < in.cell_extent[k] ? c + 1 : in.cell_extent[k] - 1;
  }
  for (int64_t a = lo[0]; a <= hi[0]; ++a)
    for (int64_t b = lo[1]; b <= hi[1]; ++b)
      for (int64_t d = lo[2]; d <= hi[2]; ++d) {
        const int64_t cell = find_cell(in, a * in.cell_stride[0] + b * in.cell_stride[1] + d * in.cell_stride[2]);
        if (cell < 0) continue;
        int64_t t = in.cell_offsets[cell];
        const int64_t end = in.cell_offsets[cell + 1];
        if (ds >= 0) {
          const float x = p[ds];
          int64_t l = t, h = end;
          while (l < h) {
            const int64_t mid = l + (h - l) / 2;
            const float diff = __fsub_rn(in.sorted_points[mid * dim + ds], x);
            if (diff < 0 && __fmul_rn(diff, diff) > r2) l = mid + 1; else h = mid;
          }
          t = l;
        }
        for (; t < end; ++t) {
          const float* q = in.sorted_points + t * dim;
          if (ds >= 0) {
            const float diff = __fsub_rn(q[ds], p[ds]);
            if (diff > 0 && __fmul_rn(diff, diff) > r2) break;
          }
          const float d2 = detail::dist2_bounded(p, q, dim, r2);
          if (d2 <= r2 && t != s) visit(t, d2);
        }
      }
}

__global__ void count_kernel(RadiusGridInput in, float r2, int64_t* counts) {
  for (int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; s < in.n; s += int64_t(gridDim.x) * blockDim.x) {
    int64_t c = 0;
    visit_neighbours(in, s, r2, [&](int64_t, float) { ++c; });
    counts[s] = c;
  }
}

__global__ void fill_kernel(RadiusGridInput in, float r2, const int64_t* offsets, int64_t* out_src, int64_t* out_dst,
                            float* out_dist2) {
  for (int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; s < in.n; s += int64_t(gridDim.x) * blockDim.x) {
    int64_t pos = offsets[s];
    const int64_t self = in.sorted_index[s];
    visit_neighbours(in, s, r2, [&](int64_t t, float d2) {
      out_src[pos] = self;
      out_dst[pos] = in.sorted_index[t];
      out_dist2[pos] = d2;
      ++pos;
    });
  }
}

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

}  // namespace

void radius_count_cuda(const RadiusGridInput& in, int64_t* counts, void* stream) {
  if (in.n == 0) return;
  const float r2 = in.radius * in.radius;  // host multiply, same rounding as the CPU kernel
  count_kernel<<<blocks_for(in.n), kThreads, 0, detail::as_stream(stream)>>>(in, r2, counts);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
}

void radius_fill_cuda(const RadiusGridInput& in, const int64_t* offsets, int64_t* out_src, int64_t* out_dst,
                      float* out_dist2, void* stream) {
  if (in.n == 0) return;
  const float r2 = in.radius * in.radius;
  fill_kernel<<<blocks_for(in.n), kThreads, 0, detail::as_stream(stream)>>>(in, r2, offsets, out_src, out_dst,
                                                                            out_dist2);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
}

}  // namespace trackpipe
