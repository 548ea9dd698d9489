// Graph building kernels: the doublet builder (module map / layer pairs with cut windows) and
// fixed-radius neighbours. Raw pointers and sizes only; CUDA streams cross as void*.
//
// A hit is never paired with itself (a map entry may join a group to itself).
// Output order is part of the contract so that GPU results equal CPU results element by element:
// doublets come ordered by (map entry, inner hit position, outer hit position) in the (group, phi)
// sorted hit order; neighbours by (source point, target point).
#pragma once

#include <cstdint>
#include <vector>

#ifdef __CUDACC__
#define TRACKPIPE_HD __host__ __device__ __forceinline__
#else
#define TRACKPIPE_HD inline
#endif

namespace trackpipe {

// Cut variables of a hit pair (inner a -> outer b), in this order in every cut array:
// z0 of the line through both hits, phi slope dphi/dr, dz/dr (cot theta), deta, dphi; dr is kept
// at least 1e-3 mm in magnitude (detail::safe_dr).
inline constexpr int kNumCutVariables = 5;

// Hits sorted by (group, phi); group g holds sorted positions [group_offsets[g], group_offsets[g+1]).
// Connection map entry m joins src_group[m] -> dst_group[m] with windows
// cut_min[m * kNumCutVariables + v] <= variable v <= cut_max[...].
struct DoubletInput {
  int64_t n_hits = 0;
  const float* r = nullptr;
  const float* phi = nullptr;
  const float* z = nullptr;
  const float* eta = nullptr;
  const int64_t* hit_index = nullptr;  // sorted position -> index into the event's hit arrays
  int64_t n_groups = 0;
  const int64_t* group_offsets = nullptr;  // [n_groups + 1]
  int64_t n_entries = 0;
  const int32_t* src_group = nullptr;
  const int32_t* dst_group = nullptr;
  const float* cut_min = nullptr;
  const float* cut_max = nullptr;
};

struct EdgeList {
  std::vector<int64_t> src;
  std::vector<int64_t> dst;
  int64_t n_capped = 0;  // neighbours only: points that had more than k_max neighbours
};

EdgeList build_doublets_cpu(const DoubletInput& in);

// CUDA, count-then-fill over work items (entry, inner hit): item w of entry m is inner position
// group_offsets[src_group[m]] + w - entry_item_offsets[m]; entry_item_offsets is the exclusive scan
// of the inner group sizes ([n_entries + 1]). The caller scans item_counts into item_edge_offsets.
void doublets_count_cuda(const DoubletInput& in, const int64_t* entry_item_offsets, int64_t n_items,
                         int64_t* item_counts, void* stream);
void doublets_fill_cuda(const DoubletInput& in, const int64_t* entry_item_offsets, int64_t n_items,
                        const int64_t* item_edge_offsets, int64_t* out_src, int64_t* out_dst, void* stream);

// Fixed-radius neighbours of points [n, dim] (row-major): directed edges i -> j (j != i) with
// |p_i - p_j| <= radius, ordered by (i, j). k_max > 0 keeps only the k_max nearest per point (ties by
// index) and counts the points that had more in n_capped.
EdgeList radius_graph_cpu(const float* points, int64_t n, int dim, float radius, int64_t k_max);

// CUDA grid, built by the caller: points sorted by (cell, coordinate `dim_sort`) as sorted_points
// [n, dim]; sorted_index maps back; cell_coord [n, n_hash] the integer cell of each sorted point;
// cells (sorted unique linear keys, key = sum coord[k] * cell_stride[k]) with cell_offsets [n_cells + 1].
struct RadiusGridInput {
  int64_t n = 0;
  int dim = 0;
  int n_hash = 0;  // hashed leading dimensions (1..3)
  float radius = 0.0f;
  const float* sorted_points = nullptr;
  const int64_t* sorted_index = nullptr;
  const int32_t* cell_coord = nullptr;
  int64_t n_cells = 0;
  const int64_t* cell_keys = nullptr;
  const int64_t* cell_offsets = nullptr;
  int64_t cell_extent[3] = {1, 1, 1};
  int64_t cell_stride[3] = {0, 0, 0};
};

// counts[s]: neighbours of sorted point s (uncapped). fill writes, from offsets[s], the neighbour
// pairs (original indices) and their squared distances, in no particular order within a point.
void radius_count_cuda(const RadiusGridInput& in, int64_t* counts, void* stream);
void radius_fill_cuda(const RadiusGridInput& in, const int64_t* offsets, int64_t* out_src, int64_t* out_dst,
                      float* out_dist2, void* stream);

namespace detail {

// IEEE single-precision operations without contraction into fused multiply-adds, so that host and
// device round identically and an edge on a window boundary is kept or dropped on both alike.
TRACKPIPE_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
TRACKPIPE_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
TRACKPIPE_HD float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
TRACKPIPE_HD float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

inline constexpr float kPi = 3.14159265358979f;
inline constexpr float kTwoPi = 6.28318530717959f;

TRACKPIPE_HD float wrap_phi(float dphi) {
  if (dphi > kPi) return sub_rn(dphi, kTwoPi);
  if (dphi < -kPi) return add_rn(dphi, kTwoPi);
  return dphi;
}

TRACKPIPE_HD bool in_window(float value, const float* lo, const float* hi, int v) {
  return value >= lo[v] && value <= hi[v];
}

// Radius difference used in the slopes: at least kMinDr in magnitude (sign kept, +0 -> +kMinDr), so
// that hits at equal radius (overlapping modules of one barrel layer) give large but finite slopes
// and a map can hold them.
inline constexpr float kMinDr = 1e-3f;

TRACKPIPE_HD float safe_dr(float dr) {
  if (dr >= 0.0f) return dr < kMinDr ? kMinDr : dr;
  return dr > -kMinDr ? -kMinDr : dr;
}

// Whether the pair (a inner, b outer) passes every window of one map entry.
TRACKPIPE_HD bool doublet_passes(float ra, float phia, float za, float etaa, float rb, float phib, float zb,
                                 float etab, const float* lo, const float* hi) {
  const float dphi = wrap_phi(sub_rn(phib, phia));
  if (!in_window(dphi, lo, hi, 4)) return false;
  if (!in_window(sub_rn(etab, etaa), lo, hi, 3)) return false;
  const float dr = safe_dr(sub_rn(rb, ra));
  const float dzdr = div_rn(sub_rn(zb, za), dr);
  if (!in_window(dzdr, lo, hi, 2)) return false;
  if (!in_window(sub_rn(za, mul_rn(ra, dzdr)), lo, hi, 0)) return false;
  return in_window(div_rn(dphi, dr), lo, hi, 1);
}

// Squared distance accumulated in dimension order; stops early once it exceeds limit (the sum only
// grows, so the keep/drop decision is the same as for the full sum).
TRACKPIPE_HD float dist2_bounded(const float* a, const float* b, int dim, float limit) {
  float d2 = 0.0f;
  for (int k = 0; k < dim; ++k) {
    const float diff = sub_rn(a[k], b[k]);
    d2 = add_rn(d2, mul_rn(diff, diff));
    if (d2 > limit) return d2;
  }
  return d2;
}

// Sorted positions [begin, end) whose phi can lie within [lo, hi] (in at most two pieces, when the
// window wraps around +-pi); pieces come in ascending position order.
template <typename LowerBound, typename UpperBound>
TRACKPIPE_HD int phi_ranges(float lo, float hi, int64_t begin, int64_t end, LowerBound lower, UpperBound upper,
                            int64_t* first, int64_t* last) {
  if (!(hi - lo < kTwoPi)) {  // also for NaN / infinite windows
    first[0] = begin;
    last[0] = end;
    return 1;
  }
  if (lo < -kPi) {
    first[0] = begin;
    last[0] = upper(hi);
    first[1] = lower(lo + kTwoPi);
    last[1] = end;
    return 2;
  }
  if (hi > kPi) {
    first[0] = begin;
    last[0] = upper(hi - kTwoPi);
    first[1] = lower(lo);
    last[1] = end;
    return 2;
  }
  first[0] = lower(lo);
  last[0] = upper(hi);
  return 1;
}

// Slack on the phi search so that the search range is a superset of what the exact dphi cut keeps.
inline constexpr float kPhiSearchSlack = 1e-4f;

}  // namespace detail
}  // namespace trackpipe
