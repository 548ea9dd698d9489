// Fixed-radius neighbours on the CPU, cell pair by cell pair.
//
// A uniform grid with cells slightly larger than the radius hashes the leading h coordinates (h <= 6,
// chosen by a cost model). Points are sorted by cell once, so every cell is a contiguous run of rows in a
// point copy, and each occupied cell keeps its bounding box in every dimension (not only the hashed ones).
// Each occupied cell then visits only the lexicographically later half of its 3^h neighbour block (a half
// stencil) and itself: a pair of cells is met once, the pair of points is checked once, and both
// directed edges come out of it. Cell pairs whose boxes are farther apart than the radius, and points
// farther than the radius from the other cell's box, are skipped before any point pair is looked at; for
// clustered embeddings that rejects most of the block in the dimensions the grid does not hash.
//
// Every rejection is conservative in float32: a box gap is never larger than the gap of any pair of
// points inside the boxes (rounding is monotone), so the exact per-pair test (the squared distance summed
// in dimension order, as detail::dist2_bounded) alone decides which edges exist. The squared distance is symmetric to the bit,
// so evaluating the pair once is the same as evaluating both directions.
//
// The unordered pairs are then turned into rows by count-then-fill (exact per-point counts), and each row
// is sorted by target (after keeping the k nearest when capped), so the output is ordered by (source,
// target) whatever the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "trackpipe/graph.hpp"

#ifdef TRACKPIPE_OPENMP
#include <omp.h>
#endif

namespace trackpipe {

namespace {

constexpr int kMaxHash = 6;
constexpr int kMaxDim = 16;  // the dimensions the kernel is compiled for (tracking.ops checks d <= 16)

int max_threads() {
#ifdef TRACKPIPE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int thread_id() {
#ifdef TRACKPIPE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Occupied cell key -> cell number: a dense table when the grid is small, open addressing otherwise.
class CellLookup {
 public:
  void build(const std::vector<int64_t>& keys, int64_t total_cells, int64_t n_points) {
    if (total_cells <= 8 * n_points + 4096) {
      dense_.assign(static_cast<size_t>(total_cells), -1);
      for (size_t c = 0; c < keys.size(); ++c) dense_[keys[c]] = static_cast<int64_t>(c);
      return;
    }
    int bits = 4;
    while ((int64_t{1} << bits) < 2 * static_cast<int64_t>(keys.size())) ++bits;
    shift_ = 64 - bits;
    mask_ = (uint64_t{1} << bits) - 1;
    slot_key_.assign(mask_ + 1, -1);
    slot_cell_.assign(mask_ + 1, -1);
    for (size_t c = 0; c < keys.size(); ++c) {
      uint64_t s = slot(keys[c]);
      while (slot_key_[s] >= 0) s = (s + 1) & mask_;
      slot_key_[s] = keys[c];
      slot_cell_[s] = static_cast<int64_t>(c);
    }
  }
  // Cell number of key, -1 when no point lies there.
  int64_t find(int64_t key) const {
    if (!dense_.empty()) return dense_[key];
    for (uint64_t s = slot(key);; s = (s + 1) & mask_) {
      if (slot_key_[s] == key) return slot_cell_[s];
      if (slot_key_[s] < 0) return -1;
    }
  }

 private:
  uint64_t slot(int64_t key) const { return (static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull) >> shift_; }
  std::vector<int64_t> dense_;
  std::vector<int64_t> slot_key_, slot_cell_;
  int shift_ = 60;
  uint64_t mask_ = 0;
};

struct CellGrid {
  int n_hash = 1;
  int dim = 0;
  double origin[kMaxHash] = {};
  double cell[kMaxHash] = {};
  int64_t extent[kMaxHash] = {};
  int64_t stride[kMaxHash] = {};
  std::vector<int64_t> order;       // sorted row -> point index
  std::vector<float> sorted;        // [n, dim] points in cell order
  std::vector<int64_t> cell_start;  // [cells + 1] first sorted row of each occupied cell
  std::vector<int64_t> cell_key;    // ascending linear keys of the occupied cells
  std::vector<int32_t> cell_coord;  // [cells, n_hash]
  std::vector<float> box;           // [cells, dim, 2] bounding box (lo, hi) of each occupied cell
  CellLookup lookup;
};

// Expected work, in units of one distance check, of hashing the leading h dimensions: every occupied cell
// looks up half of its 3^h neighbour block (kCellVisitCost each), checks the pairs within itself, and
// the points of its block at the mean density of the grid. Occupancies are measured on the data, so
// clustered embeddings, whose points fill few cells densely, are modelled as they are. A visit costs
// about one check: on the 8-d clustered benchmark this picks h = 5 (h = 6 visits 3x more cells and runs
// 1.8x slower; 0.5 picked it).
constexpr double kCellVisitCost = 1.0;

// Point indices sorted lexicographically by their integer coordinates coord[i * stride + k], k = 0..dims-1
// (each in [0, extent[k])), ties by index: LSD counting sort, or a comparison sort when the extents are
// large against the number of points.
std::vector<int64_t> lexicographic_order(const std::vector<int32_t>& coord, int stride, int dims,
                                         const int64_t* extent, int64_t n) {
  std::vector<int64_t> order(n), next(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (std::any_of(extent, extent + dims, [&](int64_t e) { return e > 4 * n + 1024; })) {
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      for (int k = 0; k < dims; ++k)
        if (coord[a * stride + k] != coord[b * stride + k]) return coord[a * stride + k] < coord[b * stride + k];
      return a < b;
    });
    return order;
  }
  std::vector<int64_t> count;
  for (int k = dims - 1; k >= 0; --k) {
    count.assign(static_cast<size_t>(extent[k]) + 1, 0);
    for (int64_t i = 0; i < n; ++i) ++count[coord[i * stride + k] + 1];
    for (int64_t c = 0; c < extent[k]; ++c) count[c + 1] += count[c];
    for (int64_t s = 0; s < n; ++s) {
      const int64_t i = order[s];
      next[count[coord[i * stride + k]]++] = i;
    }
    order.swap(next);
  }
  return order;
}

CellGrid build_grid(const float* points, int64_t n, int dim, float radius) {
  CellGrid g;
  g.dim = dim;
  const int max_hash = std::min(dim, kMaxHash);
  for (int k = 0; k < max_hash; ++k) {
    double lo = points[k], hi = points[k];
    for (int64_t i = 1; i < n; ++i) {
      lo = std::min<double>(lo, points[i * dim + k]);
      hi = std::max<double>(hi, points[i * dim + k]);
    }
    g.origin[k] = lo;
    // Slightly larger than the radius, so that float rounding cannot put a neighbour two cells away;
    // at most 2^20 cells per dimension, so that keys of 6 dimensions fit in 62 bits.
    double c = std::max(static_cast<double>(radius) * (1.0 + 1e-5), (hi - lo) / double(1 << 20));
    if (!(c > 0)) c = 1.0;
    g.cell[k] = c;
    g.extent[k] = static_cast<int64_t>(std::floor((hi - lo) / c)) + 1;
  }
  std::vector<int32_t> coord(static_cast<size_t>(n) * max_hash);
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < max_hash; ++k) {
      const double c = std::floor((static_cast<double>(points[i * dim + k]) - g.origin[k]) / g.cell[k]);
      coord[i * max_hash + k] = static_cast<int32_t>(std::clamp<int64_t>(static_cast<int64_t>(c), 0, g.extent[k] - 1));
    }
  // One sort serves every h: the cells of the leading h coordinates are runs of this order.
  g.order = lexicographic_order(coord, max_hash, max_hash, g.extent, n);
  auto same_cell = [&](int64_t a, int64_t b, int h) {
    for (int k = 0; k < h; ++k)
      if (coord[a * max_hash + k] != coord[b * max_hash + k]) return false;
    return true;
  };

  int best_h = 1;
  double best_cost = -1, total_cells = 1;
  for (int h = 1; h <= max_hash; ++h) {
    total_cells *= static_cast<double>(g.extent[h - 1]);
    if (total_cells > 4e18) break;
    double occupied = 0, pairs_within = 0;
    for (int64_t s = 0; s < n;) {
      int64_t e = s + 1;
      while (e < n && same_cell(g.order[s], g.order[e], h)) ++e;
      occupied += 1;
      pairs_within += 0.5 * static_cast<double>(e - s) * static_cast<double>(e - s - 1);
      s = e;
    }
    const double half_block = (std::pow(3.0, h) - 1) / 2;
    const double cost = occupied * half_block * kCellVisitCost + pairs_within +
                        static_cast<double>(n) * half_block * static_cast<double>(n) / total_cells;
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best_h = h;
    }
  }
  g.n_hash = best_h;
  const int h = g.n_hash;
  int64_t grid_cells = 1;
  for (int k = h - 1; k >= 0; --k) {
    g.stride[k] = grid_cells;
    grid_cells *= g.extent[k];
  }

  g.sorted.resize(static_cast<size_t>(n) * dim);
  for (int64_t s = 0; s < n; ++s) {
    const int64_t i = g.order[s];
    std::copy_n(points + i * dim, dim, g.sorted.begin() + s * dim);
    if (s == 0 || !same_cell(i, g.order[s - 1], h)) {
      int64_t key = 0;
      for (int k = 0; k < h; ++k) {
        key += coord[i * max_hash + k] * g.stride[k];
        g.cell_coord.push_back(coord[i * max_hash + k]);
      }
      g.cell_key.push_back(key);
      g.cell_start.push_back(s);
    }
  }
  g.cell_start.push_back(n);
  const int64_t n_cells = static_cast<int64_t>(g.cell_key.size());
  g.box.resize(static_cast<size_t>(n_cells) * dim * 2);
  for (int64_t c = 0; c < n_cells; ++c) {
    float* b = g.box.data() + c * dim * 2;
    const float* first = g.sorted.data() + g.cell_start[c] * dim;
    for (int k = 0; k < dim; ++k) b[2 * k] = b[2 * k + 1] = first[k];
    for (int64_t s = g.cell_start[c] + 1; s < g.cell_start[c + 1]; ++s)
      for (int k = 0; k < dim; ++k) {
        b[2 * k] = std::min(b[2 * k], g.sorted[s * dim + k]);
        b[2 * k + 1] = std::max(b[2 * k + 1], g.sorted[s * dim + k]);
      }
  }
  g.lookup.build(g.cell_key, grid_cells, n);
  return g;
}

// Squared distance in dimension order with the kernel's rounding, over all D dimensions: the same keep /
// drop decision as detail::dist2_bounded (the partial sums only grow), without its unpredictable exits.
template <int D>
inline float dist2_full(const float* a, const float* b) {
  float d2 = 0.0f;
  for (int k = 0; k < D; ++k) {
    const float diff = detail::sub_rn(a[k], b[k]);
    d2 = detail::add_rn(d2, detail::mul_rn(diff, diff));
  }
  return d2;
}

// Lower bound of the squared distance between box a and box b (each [D, 2] as (lo, hi); a point is a
// box with AStep 1, lo == hi), in dimension order with the kernel's rounding. Rounding is monotone, so the
// float gap never exceeds the float difference of any two coordinates inside the boxes.
template <int D, int AStep>
inline float box_gap2(const float* a, const float* b) {
  float d2 = 0.0f;
  for (int k = 0; k < D; ++k) {
    const float alo = a[AStep * k], ahi = a[AStep * k + AStep - 1];
    const float gap = std::max(std::max(detail::sub_rn(b[2 * k], ahi), detail::sub_rn(alo, b[2 * k + 1])), 0.0f);
    d2 = detail::add_rn(d2, detail::mul_rn(gap, gap));
  }
  return d2;
}

// Appends every pair (a, b) of sorted rows with a in cell ca, b in cell cb, within the radius (a < b when
// ca == cb).
template <int D>
inline void cell_pairs(const CellGrid& g, int64_t ca, int64_t cb, float r2, std::vector<int64_t>& pairs) {
  const float* pts = g.sorted.data();
  const int64_t a0 = g.cell_start[ca], a1 = g.cell_start[ca + 1];
  const int64_t b0 = g.cell_start[cb], b1 = g.cell_start[cb + 1];
  if (ca == cb) {
    for (int64_t a = a0; a < a1; ++a)
      for (int64_t b = a + 1; b < a1; ++b)
        if (dist2_full<D>(pts + a * D, pts + b * D) <= r2) {
          pairs.push_back(a);
          pairs.push_back(b);
        }
    return;
  }
  const float* box_b = g.box.data() + cb * D * 2;
  if (a1 - a0 > 1 && box_gap2<D, 2>(g.box.data() + ca * D * 2, box_b) > r2) return;
  const bool many = b1 - b0 > 1;
  for (int64_t a = a0; a < a1; ++a) {
    const float* p = pts + a * D;
    if (many && box_gap2<D, 1>(p, box_b) > r2) continue;
    for (int64_t b = b0; b < b1; ++b)
      if (dist2_full<D>(p, pts + b * D) <= r2) {
        pairs.push_back(a);
        pairs.push_back(b);
      }
  }
}

// The later half of a cell's 3^h neighbour block (offsets whose first non-zero component is +1), less
// the cells that lie farther than the radius from the cell's box in the hashed dimensions.
class HalfStencil {
 public:
  HalfStencil(const CellGrid& g, float r2) : g_(g), h_(g.n_hash) {
    // A little above r2 so that the float rounding of the exact test can never keep a pair whose cells
    // this bound dropped (the float sum of squares is within 1e-6 relative of the real one).
    limit_ = static_cast<double>(r2) * (1 + 1e-5);
  }
  // Calls visit(cell) for every occupied cell of the half block of cell c that may hold a neighbour.
  template <typename Visit>
  void walk(int64_t c, Visit&& visit) {
    const int32_t* cc = g_.cell_coord.data() + c * h_;
    const float* box = g_.box.data() + c * g_.dim * 2;
    for (int k = 0; k < h_; ++k) {
      const double lower = g_.origin[k] + cc[k] * g_.cell[k];
      // slack for the double rounding of the cell assignment
      const double slack = 1e-6 * g_.cell[k] * (cc[k] + 2);
      const double below = std::max(0.0, box[2 * k] - lower - slack);
      const double above = std::max(0.0, lower + g_.cell[k] - box[2 * k + 1] - slack);
      gap2_[k][0] = cc[k] > 0 ? below * below : kInf;
      gap2_[k][1] = 0.0;
      gap2_[k][2] = cc[k] + 1 < g_.extent[k] ? above * above : kInf;
    }
    descend(0, 0.0, g_.cell_key[c], false, visit);
  }

 private:
  static constexpr double kInf = 1e300;
  template <typename Visit>
  void descend(int k, double partial, int64_t key, bool moved, Visit& visit) {
    if (k == h_) {
      if (moved) {
        const int64_t other = g_.lookup.find(key);
        if (other >= 0) visit(other);
      }
      return;
    }
    for (int o = moved ? -1 : 0; o <= 1; ++o) {
      const double p = partial + gap2_[k][o + 1];
      if (p > limit_) continue;
      descend(k + 1, p, key + o * g_.stride[k], moved || o != 0, visit);
    }
  }
  const CellGrid& g_;
  int h_;
  double limit_ = 0;
  double gap2_[kMaxHash][3] = {};
};

// Unordered pairs (sorted row a, sorted row b) within the radius, one list per thread.
template <int D>
std::vector<std::vector<int64_t>> find_pairs(const CellGrid& g, float r2, int n_threads) {
  const int64_t n_cells = static_cast<int64_t>(g.cell_key.size());
  std::vector<std::vector<int64_t>> pairs(n_threads);
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel num_threads(n_threads)
#endif
  {
    std::vector<int64_t>& mine = pairs[thread_id()];
    HalfStencil stencil(g, r2);
#ifdef TRACKPIPE_OPENMP
#pragma omp for schedule(dynamic, 64)
#endif
    for (int64_t c = 0; c < n_cells; ++c) {
      cell_pairs<D>(g, c, c, r2, mine);
      stencil.walk(c, [&](int64_t other) { cell_pairs<D>(g, c, other, r2, mine); });
    }
  }
  return pairs;
}

template <int D>
std::vector<std::vector<int64_t>> find_pairs_dispatch(const CellGrid& g, float r2, int n_threads) {
  if constexpr (D > kMaxDim) {
    return {};
  } else {
    if (g.dim == D) return find_pairs<D>(g, r2, n_threads);
    return find_pairs_dispatch<D + 1>(g, r2, n_threads);
  }
}

}  // namespace

EdgeList radius_graph_cpu(const float* points, int64_t n, int dim, float radius, int64_t k_max) {
  EdgeList out;
  if (n == 0) return out;
  const CellGrid g = build_grid(points, n, dim, radius);
  const float r2 = detail::mul_rn(radius, radius);
  const int n_threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), n / 256 + 1)));
  std::vector<std::vector<int64_t>> pairs = find_pairs_dispatch<1>(g, r2, n_threads);

  // rows by count-then-fill, in sorted-row space, then mapped back to point indices
  std::vector<int64_t> degree(n + 1, 0);
  for (const auto& p : pairs)
    for (size_t e = 0; e < p.size(); e += 2) {
      ++degree[g.order[p[e]]];
      ++degree[g.order[p[e + 1]]];
    }
  std::vector<int64_t> row(n + 1, 0);
  for (int64_t i = 0; i < n; ++i) row[i + 1] = row[i] + degree[i];
  std::vector<int64_t> target(static_cast<size_t>(row[n]));
  for (int64_t i = 0; i < n; ++i) degree[i] = row[i];  // reused as fill cursor
  for (auto& p : pairs) {
    for (size_t e = 0; e < p.size(); e += 2) {
      const int64_t a = g.order[p[e]], b = g.order[p[e + 1]];
      target[degree[a]++] = b;
      target[degree[b]++] = a;
    }
    std::vector<int64_t>().swap(p);
  }

  std::vector<int64_t> kept(n, 0);
  int64_t n_capped = 0;
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : n_capped)
#endif
  {
    std::vector<std::pair<float, int64_t>> cand;
#ifdef TRACKPIPE_OPENMP
#pragma omp for schedule(dynamic, 1024)
#endif
    for (int64_t i = 0; i < n; ++i) {
      int64_t* first = target.data() + row[i];
      int64_t* last = target.data() + row[i + 1];
      if (k_max > 0 && last - first > k_max) {
        ++n_capped;
        // nearest first, ties by index: pair ordering does exactly that
        cand.clear();
        for (const int64_t* t = first; t < last; ++t)
          cand.emplace_back(detail::dist2_bounded(points + i * dim, points + *t * dim, dim, r2), *t);
        std::nth_element(cand.begin(), cand.begin() + (k_max - 1), cand.end());
        for (int64_t j = 0; j < k_max; ++j) first[j] = cand[j].second;
        last = first + k_max;
      }
      std::sort(first, last);
      kept[i] = last - first;
    }
  }
  out.n_capped = n_capped;
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += kept[i];
  out.src.resize(total);
  out.dst.resize(total);
  for (int64_t i = 0, pos = 0; i < n; ++i) {
    std::fill_n(out.src.begin() + pos, kept[i], i);
    std::copy_n(target.begin() + row[i], kept[i], out.dst.begin() + pos);
    pos += kept[i];
  }
  return out;
}

}  // namespace trackpipe
