// Fixed-radius neighbours on the CPU: a uniform grid on the leading min(dim, 3) coordinates with cells
// slightly larger than the radius, points inside a cell sorted by the next coordinate so that a
// binary search skips candidates that are already too far in that coordinate, and the exact distance
// in all dimensions. Points are split into contiguous index ranges per thread, so the stitched
// output is ordered by (source, target) whatever the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "trackpipe/graph.hpp"

#ifdef TRACKPIPE_OPENMP
#include <omp.h>
#endif

namespace trackpipe {

namespace {

constexpr int kMaxHash = 6;
// Cost of visiting one (mostly empty) neighbour cell relative to one distance check, measured on
// 8-d clustered embeddings (benchmarks/bench_graph.py).
constexpr double kCellVisitCost = 1.0;

struct Grid {
  int n_hash = 1;
  int dim_sort = -1;  // coordinate sorted within a cell, -1 when every dimension is hashed
  double origin[kMaxHash] = {};
  double cell[kMaxHash] = {};
  int64_t extent[kMaxHash] = {};
  int64_t stride[kMaxHash] = {};
  std::vector<int64_t> keys;     // sorted unique cell keys
  std::vector<int64_t> offsets;  // [keys.size() + 1]
  std::vector<int64_t> order;    // sorted position -> point index
  std::vector<float> sorted;     // points in sorted order [n, dim]
  // When the grid has few enough cells, a dense key -> first sorted position table ([cells + 1])
  // replaces the binary search over occupied cells: O(1) per neighbour cell.
  std::vector<int64_t> dense_start;

  int64_t coord(const float* p, int k) const {
    const double c = std::floor((static_cast<double>(p[k]) - origin[k]) / cell[k]);
    return std::clamp<int64_t>(static_cast<int64_t>(c), 0, extent[k] - 1);
  }
  // Sorted positions [first, last) of the points in cell `key` (empty when none).
  std::pair<int64_t, int64_t> cell_range(int64_t key) const {
    if (!dense_start.empty()) return {dense_start[key], dense_start[key + 1]};
    auto it = std::lower_bound(keys.begin(), keys.end(), key);
    if (it == keys.end() || *it != key) return {0, 0};
    const int64_t c = it - keys.begin();
    return {offsets[c], offsets[c + 1]};
  }
};

// Cells never smaller than the radius (times a little, so that float rounding cannot put a neighbour
// two cells away). The number of hashed leading dimensions h (<= 6) minimises the expected work per
// point, 3^h neighbour cells times (cell visit cost + points per cell), so clustered high-dimensional embeddings
// hash on more dimensions than uniform 3-d points; the total number of cells stays below 2^62.
Grid build_grid(const float* points, int64_t n, int dim, float radius) {
  Grid g;
  const int max_hash = std::min(dim, kMaxHash);
  for (int k = 0; k < max_hash; ++k) {
    double lo = points[k], hi = points[k];
    for (int64_t i = 1; i < n; ++i) {
      lo = std::min<double>(lo, points[i * dim + k]);
      hi = std::max<double>(hi, points[i * dim + k]);
    }
    g.origin[k] = lo;
    double cell = std::max(static_cast<double>(radius) * (1.0 + 1e-5), (hi - lo) / double(1 << 20));
    if (!(cell > 0)) cell = 1.0;
    g.cell[k] = cell;
    g.extent[k] = static_cast<int64_t>(std::floor((hi - lo) / cell)) + 1;
  }
  g.n_hash = 1;
  double best = -1, cells = 1, neighbour_cells = 1;
  for (int h = 1; h <= max_hash; ++h) {
    cells *= static_cast<double>(g.extent[h - 1]);
    neighbour_cells *= 3;
    if (cells > 4e18) break;
    const double cost = neighbour_cells * (kCellVisitCost + static_cast<double>(n) / cells);
    if (best < 0 || cost < best) {
      best = cost;
      g.n_hash = h;
    }
  }
  g.dim_sort = dim > g.n_hash ? g.n_hash : -1;
  int64_t stride = 1;
  for (int k = g.n_hash - 1; k >= 0; --k) {
    g.stride[k] = stride;
    stride *= g.extent[k];
  }
  std::vector<int64_t> key(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t kk = 0;
    for (int k = 0; k < g.n_hash; ++k) kk += g.coord(points + i * dim, k) * g.stride[k];
    key[i] = kk;
  }
  g.order.resize(n);
  std::iota(g.order.begin(), g.order.end(), int64_t{0});
  const int ds = g.dim_sort;
  std::sort(g.order.begin(), g.order.end(), [&](int64_t a, int64_t b) {
    if (key[a] != key[b]) return key[a] < key[b];
    if (ds >= 0 && points[a * dim + ds] != points[b * dim + ds]) return points[a * dim + ds] < points[b * dim + ds];
    return a < b;
  });
  g.sorted.resize(static_cast<size_t>(n) * dim);
  for (int64_t s = 0; s < n; ++s) {
    std::copy_n(points + g.order[s] * dim, dim, g.sorted.begin() + s * dim);
    if (s == 0 || key[g.order[s]] != key[g.order[s - 1]]) {
      g.keys.push_back(key[g.order[s]]);
      g.offsets.push_back(s);
    }
  }
  g.offsets.push_back(n);
  if (stride <= 4 * n + 4096) {
    g.dense_start.assign(stride + 1, 0);
    for (size_t c = 0; c < g.keys.size(); ++c) g.dense_start[g.keys[c] + 1] = g.offsets[c + 1] - g.offsets[c];
    for (int64_t k = 0; k < stride; ++k) g.dense_start[k + 1] += g.dense_start[k];
  }
  return g;
}

// Appends (squared distance, target) of every neighbour of point p (index self) to cand.
void gather(const Grid& g, const float* p, int64_t self, int dim, float r2,
            std::vector<std::pair<float, int64_t>>& cand) {
  const int h = g.n_hash;
  int64_t lo[kMaxHash], hi[kMaxHash], at[kMaxHash];
  for (int k = 0; k < h; ++k) {
    const int64_t c = g.coord(p, k);
    lo[k] = std::max<int64_t>(c - 1, 0);
    hi[k] = std::min<int64_t>(c + 1, g.extent[k] - 1);
    at[k] = lo[k];
  }
  const int ds = g.dim_sort;
  for (;;) {
    int64_t key = 0;
    for (int k = 0; k < h; ++k) key += at[k] * g.stride[k];
    auto [s, end] = g.cell_range(key);
    if (ds >= 0) {
      // first point whose sorted coordinate is not too far below p's (monotone in that coordinate)
      const float x = p[ds];
      auto too_low = [&](int64_t t) {
        const float diff = detail::sub_rn(g.sorted[t * dim + ds], x);
        return diff < 0 && detail::mul_rn(diff, diff) > r2;
      };
      int64_t lo_s = s, hi_s = end;
      while (lo_s < hi_s) {
        const int64_t mid = lo_s + (hi_s - lo_s) / 2;
        if (too_low(mid)) lo_s = mid + 1; else hi_s = mid;
      }
      s = lo_s;
    }
    for (; s < end; ++s) {
      const float* q = g.sorted.data() + s * dim;
      if (ds >= 0) {
        const float diff = detail::sub_rn(q[ds], p[ds]);
        if (diff > 0 && detail::mul_rn(diff, diff) > r2) break;
      }
      const float d2 = detail::dist2_bounded(p, q, dim, r2);
      if (d2 <= r2 && g.order[s] != self) cand.emplace_back(d2, g.order[s]);
    }
    // next neighbour cell (odometer over the 3^h block)
    int k = h - 1;
    while (k >= 0 && at[k] == hi[k]) {
      at[k] = lo[k];
      --k;
    }
    if (k < 0) break;
    ++at[k];
  }
}

}  // namespace

EdgeList radius_graph_cpu(const float* points, int64_t n, int dim, float radius, int64_t k_max) {
  EdgeList out;
  if (n == 0) return out;
  const Grid g = build_grid(points, n, dim, radius);
  const float r2 = detail::mul_rn(radius, radius);
#ifdef TRACKPIPE_OPENMP
  const int n_threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n / 256 + 1)));
#else
  const int n_threads = 1;
#endif
  std::vector<std::vector<int64_t>> src(n_threads), dst(n_threads);
  std::vector<int64_t> capped(n_threads, 0);
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel num_threads(n_threads)
#endif
  {
#ifdef TRACKPIPE_OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    const int64_t begin = n * t / n_threads, end = n * (t + 1) / n_threads;
    std::vector<std::pair<float, int64_t>> cand;
    for (int64_t i = begin; i < end; ++i) {
      cand.clear();
      gather(g, points + i * dim, i, dim, r2, cand);
      if (k_max > 0 && static_cast<int64_t>(cand.size()) > k_max) {
        ++capped[t];
        // nearest first, ties by index: pair ordering does exactly that
        std::nth_element(cand.begin(), cand.begin() + (k_max - 1), cand.end());
        const auto kth = cand[k_max - 1];
        auto keep_end = std::partition(cand.begin(), cand.end(), [&](const auto& c) { return !(kth < c); });
        cand.erase(keep_end, cand.end());
      }
      std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
      for (const auto& c : cand) {
        src[t].push_back(i);
        dst[t].push_back(c.second);
      }
    }
  }
  for (int t = 0; t < n_threads; ++t) {
    out.src.insert(out.src.end(), src[t].begin(), src[t].end());
    out.dst.insert(out.dst.end(), dst[t].begin(), dst[t].end());
    out.n_capped += capped[t];
  }
  return out;
}

}  // namespace trackpipe
