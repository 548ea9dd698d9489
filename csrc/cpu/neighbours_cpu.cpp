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

struct Grid {
  int n_hash = 1;
  int dim_sort = -1;  // coordinate sorted within a cell, -1 when dim <= 3
  double origin[3] = {0, 0, 0};
  double cell[3] = {1, 1, 1};
  int64_t extent[3] = {1, 1, 1};
  int64_t stride[3] = {0, 0, 0};
  std::vector<int64_t> keys;     // sorted unique cell keys
  std::vector<int64_t> offsets;  // [keys.size() + 1]
  std::vector<int64_t> order;    // sorted position -> point index
  std::vector<float> sorted;     // points in sorted order [n, dim]

  int64_t coord(const float* p, int k) const {
    const double c = std::floor((static_cast<double>(p[k]) - origin[k]) / cell[k]);
    return std::clamp<int64_t>(static_cast<int64_t>(c), 0, extent[k] - 1);
  }
  int64_t find(int64_t key) const {
    auto it = std::lower_bound(keys.begin(), keys.end(), key);
    return (it != keys.end() && *it == key) ? it - keys.begin() : -1;
  }
};

// At most 2^20 cells per hashed dimension keeps keys in 60 bits; cells never smaller than the radius
// (times a little, so that float rounding cannot put a neighbour two cells away).
Grid build_grid(const float* points, int64_t n, int dim, float radius) {
  Grid g;
  g.n_hash = std::min(dim, 3);
  g.dim_sort = dim > 3 ? 3 : -1;
  for (int k = 0; k < g.n_hash; ++k) {
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
  return g;
}

// Appends (squared distance, target) of every neighbour of point p (index self) to cand.
void gather(const Grid& g, const float* p, int64_t self, int dim, float r2,
            std::vector<std::pair<float, int64_t>>& cand) {
  int64_t c[3] = {0, 0, 0};
  for (int k = 0; k < g.n_hash; ++k) c[k] = g.coord(p, k);
  int64_t lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  for (int k = 0; k < g.n_hash; ++k) {
    lo[k] = std::max<int64_t>(c[k] - 1, 0);
    hi[k] = std::min<int64_t>(c[k] + 1, g.extent[k] - 1);
  }
  const int ds = g.dim_sort;
  for (int64_t a = lo[0]; a <= hi[0]; ++a)
    for (int64_t b = lo[1]; b <= hi[1]; ++b)
      for (int64_t d = lo[2]; d <= hi[2]; ++d) {
        const int64_t cell = g.find(a * g.stride[0] + b * g.stride[1] + d * g.stride[2]);
        if (cell < 0) continue;
        int64_t s = g.offsets[cell];
        const int64_t end = g.offsets[cell + 1];
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
