// Doublet builder on the CPU: for every map entry (inner group -> outer group), each inner hit is
// tested against the outer hits whose phi lies in the entry's dphi window (binary search in the
// phi-sorted group), then against every cut window. Parallel over entries; each thread appends to its
// own buffer and the buffers are stitched in entry order, so the output does not depend on threads.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "trackpipe/graph.hpp"

#ifdef TRACKPIPE_OPENMP
#include <omp.h>
#endif

namespace trackpipe {

namespace {

struct EntrySpan {
  int thread = 0;
  int64_t start = 0;  // in that thread's buffer
  int64_t count = 0;
};

void entry_edges(const DoubletInput& in, int64_t m, std::vector<int64_t>& src, std::vector<int64_t>& dst) {
  const int64_t a = in.src_group[m];
  const int64_t b = in.dst_group[m];
  const float* lo = in.cut_min + m * kNumCutVariables;
  const float* hi = in.cut_max + m * kNumCutVariables;
  const int64_t b_begin = in.group_offsets[b];
  const int64_t b_end = in.group_offsets[b + 1];
  if (b_begin == b_end) return;
  const float* phi_begin = in.phi + b_begin;
  const float* phi_end = in.phi + b_end;
  auto lower = [&](float x) { return b_begin + (std::lower_bound(phi_begin, phi_end, x) - phi_begin); };
  auto upper = [&](float x) { return b_begin + (std::upper_bound(phi_begin, phi_end, x) - phi_begin); };
  for (int64_t i = in.group_offsets[a]; i < in.group_offsets[a + 1]; ++i) {
    const float ra = in.r[i], phia = in.phi[i], za = in.z[i], etaa = in.eta[i];
    int64_t first[2], last[2];
    const int pieces = detail::phi_ranges(phia + lo[4] - detail::kPhiSearchSlack,
                                          phia + hi[4] + detail::kPhiSearchSlack, b_begin, b_end, lower, upper,
                                          first, last);
    for (int p = 0; p < pieces; ++p) {
      for (int64_t j = first[p]; j < last[p]; ++j) {
        if (j != i && detail::doublet_passes(ra, phia, za, etaa, in.r[j], in.phi[j], in.z[j], in.eta[j], lo, hi)) {
          src.push_back(in.hit_index[i]);
          dst.push_back(in.hit_index[j]);
        }
      }
    }
  }
}

}  // namespace

EdgeList build_doublets_cpu(const DoubletInput& in) {
  EdgeList out;
  if (in.n_entries == 0 || in.n_hits == 0) return out;
#ifdef TRACKPIPE_OPENMP
  const int n_threads = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(in.n_entries)));
#else
  const int n_threads = 1;
#endif
  std::vector<std::vector<int64_t>> src(n_threads), dst(n_threads);
  std::vector<EntrySpan> spans(in.n_entries);
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel num_threads(n_threads)
#endif
  {
#ifdef TRACKPIPE_OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    // Dynamic: layer-pair entries differ in cost by orders of magnitude.
#ifdef TRACKPIPE_OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
    for (int64_t m = 0; m < in.n_entries; ++m) {
      const int64_t before = static_cast<int64_t>(src[t].size());
      entry_edges(in, m, src[t], dst[t]);
      spans[m] = EntrySpan{t, before, static_cast<int64_t>(src[t].size()) - before};
    }
  }
  std::vector<int64_t> offset(in.n_entries + 1, 0);
  for (int64_t m = 0; m < in.n_entries; ++m) offset[m + 1] = offset[m] + spans[m].count;
  out.src.resize(offset.back());
  out.dst.resize(offset.back());
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads)
#endif
  for (int64_t m = 0; m < in.n_entries; ++m) {
    const EntrySpan& s = spans[m];
    std::copy_n(src[s.thread].begin() + s.start, s.count, out.src.begin() + offset[m]);
    std::copy_n(dst[s.thread].begin() + s.start, s.count, out.dst.begin() + offset[m]);
  }
  return out;
}

}  // namespace trackpipe
