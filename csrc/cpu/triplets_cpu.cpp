// Best triplet match per edge on the CPU (see trackpipe/triplets.hpp). The edges leaving each node
// are found through a counting-sort CSR by source; the minimum does not depend on visiting order.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "trackpipe/triplets.hpp"

namespace trackpipe {

void triplet_best_cpu(const TripletInput& in, double* best_in, double* best_out) {
  const int64_t n_edges = in.n_edges;
  std::fill(best_in, best_in + n_edges, in.chi2_max);
  std::fill(best_out, best_out + n_edges, in.chi2_max);
  if (n_edges == 0) return;
  std::vector<int64_t> first(static_cast<size_t>(in.n_nodes) + 1, 0);
  for (int64_t e = 0; e < n_edges; ++e) ++first[in.src[e] + 1];
  for (int64_t v = 0; v < in.n_nodes; ++v) first[v + 1] += first[v];
  std::vector<int64_t> by_src(static_cast<size_t>(n_edges));
  std::vector<int64_t> fill(first.begin(), first.end() - 1);
  for (int64_t e = 0; e < n_edges; ++e) by_src[fill[in.src[e]]++] = e;
  for (int64_t e = 0; e < n_edges; ++e) {
    const int64_t b = in.dst[e];
    const double ke = in.kappa[e], te = in.theta[e];
    double best = best_out[e];
    for (int64_t j = first[b]; j < first[b + 1]; ++j) {
      const int64_t f = by_src[j];
      const double dk = (in.kappa[f] - ke) / in.kappa_scale;
      const double dt = (in.theta[f] - te) / in.theta_scale;
      const double chi2 = std::min(dk * dk + dt * dt, in.chi2_max);
      best = std::min(best, chi2);
      best_in[f] = std::min(best_in[f], chi2);
    }
    best_out[e] = best;
  }
}

}  // namespace trackpipe
