// Doublet builder on the GPU: one thread per work item (map entry, inner hit), count then fill, so
// that edges land in the same (entry, inner, outer) order as on the CPU.
#include <cstdint>

#include "cuda_check.cuh"
#include "trackpipe/graph.hpp"

namespace trackpipe {

namespace {

constexpr int kThreads = 256;

__device__ int64_t entry_of_item(const int64_t* entry_item_offsets, int64_t n_entries, int64_t w) {
  // last m with entry_item_offsets[m] <= w (entries with no inner hits are skipped over)
  int64_t lo = 0, hi = n_entries;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (entry_item_offsets[mid] <= w) lo = mid; else hi = mid;
  }
  return lo;
}

template <typename Visit>
__device__ void visit_item(const DoubletInput& in, const int64_t* entry_item_offsets, int64_t w, Visit visit) {
  const int64_t m = entry_of_item(entry_item_offsets, in.n_entries, w);
  const int64_t a = in.src_group[m];
  const int64_t b = in.dst_group[m];
  const int64_t i = in.group_offsets[a] + (w - entry_item_offsets[m]);
  const float* lo = in.cut_min + m * kNumCutVariables;
  const float* hi = in.cut_max + m * kNumCutVariables;
  const int64_t b_begin = in.group_offsets[b];
  const int64_t b_end = in.group_offsets[b + 1];
  if (b_begin == b_end) return;
  const float* phi = in.phi;
  auto lower = [&](float x) {
    int64_t l = b_begin, h = b_end;
    while (l < h) {
      const int64_t mid = l + (h - l) / 2;
      if (phi[mid] < x) l = mid + 1; else h = mid;
    }
    return l;
  };
  auto upper = [&](float x) {
    int64_t l = b_begin, h = b_end;
    while (l < h) {
      const int64_t mid = l + (h - l) / 2;
      if (!(x < phi[mid])) l = mid + 1; else h = mid;
    }
    return l;
  };
  const float ra = in.r[i], phia = in.phi[i], za = in.z[i], etaa = in.eta[i];
  int64_t first[2] = {0, 0}, last[2] = {0, 0};
  // same float expressions as the CPU (a + b is exact-rounded either way; no product to contract)
  const int pieces = detail::phi_ranges(__fsub_rn(__fadd_rn(phia, lo[4]), detail::kPhiSearchSlack),
                                        __fadd_rn(__fadd_rn(phia, hi[4]), detail::kPhiSearchSlack), b_begin, b_end,
                                        lower, upper, first, last);
  for (int p = 0; p < pieces; ++p) {
    for (int64_t j = first[p]; j < last[p]; ++j) {
      if (j != i && detail::doublet_passes(ra, phia, za, etaa, in.r[j], in.phi[j], in.z[j], in.eta[j], lo, hi)) {
        visit(i, j);
      }
    }
  }
}

__global__ void count_kernel(DoubletInput in, const int64_t* entry_item_offsets, int64_t n_items, int64_t* counts) {
  for (int64_t w = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; w < n_items; w += int64_t(gridDim.x) * blockDim.x) {
    int64_t c = 0;
    visit_item(in, entry_item_offsets, w, [&](int64_t, int64_t) { ++c; });
    counts[w] = c;
  }
}

__global__ void fill_kernel(DoubletInput in, const int64_t* entry_item_offsets, int64_t n_items,
                            const int64_t* item_edge_offsets, int64_t* out_src, int64_t* out_dst) {
  for (int64_t w = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; w < n_items; w += int64_t(gridDim.x) * blockDim.x) {
    int64_t pos = item_edge_offsets[w];
    visit_item(in, entry_item_offsets, w, [&](int64_t i, int64_t j) {
      out_src[pos] = in.hit_index[i];
      out_dst[pos] = in.hit_index[j];
      ++pos;
    });
  }
}

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

}  // namespace

void doublets_count_cuda(const DoubletInput& in, const int64_t* entry_item_offsets, int64_t n_items,
                         int64_t* item_counts, void* stream) {
  if (n_items == 0) return;
  count_kernel<<<blocks_for(n_items), kThreads, 0, detail::as_stream(stream)>>>(in, entry_item_offsets, n_items,
                                                                                item_counts);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
}

void doublets_fill_cuda(const DoubletInput& in, const int64_t* entry_item_offsets, int64_t n_items,
                        const int64_t* item_edge_offsets, int64_t* out_src, int64_t* out_dst, void* stream) {
  if (n_items == 0) return;
  fill_kernel<<<blocks_for(n_items), kThreads, 0, detail::as_stream(stream)>>>(in, entry_item_offsets, n_items,
                                                                               item_edge_offsets, out_src, out_dst);
  TRACKPIPE_CUDA_CHECK_LAUNCH();
}

}  // namespace trackpipe
