// Best triplet match per edge on the CPU (see trackpipe/triplets.hpp). The edges leaving each node
// are found through a counting-sort CSR by source, whose order the inner loop's arrays follow; the minimum
// does not depend on visiting order.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "trackpipe/triplets.hpp"

namespace trackpipe {

void triplet_best_cpu(const TripletInput& in, double* best_in, double* best_out) {
  const int64_t n_edges = in.n_edges;
  std::fill(best_out, best_out + n_edges, in.chi2_max);
  if (n_edges == 0) return;
  std::vector<int64_t> first(static_cast<size_t>(in.n_nodes) + 1, 0);
  for (int64_t e = 0; e < n_edges; ++e) ++first[in.src[e] + 1];
  for (int64_t v = 0; v < in.n_nodes; ++v) first[v + 1] += first[v];
  std::vector<int64_t> by_src(static_cast<size_t>(n_edges));
  std::vector<int64_t> fill(first.begin(), first.end() - 1);
  for (int64_t e = 0; e < n_edges; ++e) by_src[fill[in.src[e]]++] = e;
  // kappa, theta and best_in in CSR order: the inner loop reads and updates one contiguous run per node
  std::vector<double> kappa(static_cast<size_t>(n_edges)), theta(static_cast<size_t>(n_edges));
  std::vector<double> into(static_cast<size_t>(n_edges), in.chi2_max);
  for (int64_t j = 0; j < n_edges; ++j) {
    kappa[j] = in.kappa[by_src[j]];
    theta[j] = in.theta[by_src[j]];
  }
  for (int64_t e = 0; e < n_edges; ++e) {
    const int64_t b = in.dst[e];
    const double ke = in.kappa[e], te = in.theta[e];
    double best = best_out[e];
    for (int64_t j = first[b]; j < first[b + 1]; ++j) {
      const double dk = (kappa[j] - ke) / in.kappa_scale;
      const double dt = (theta[j] - te) / in.theta_scale;
      const double chi2 = std::min(dk * dk + dt * dt, in.chi2_max);
      best = std::min(best, chi2);
      into[j] = std::min(into[j], chi2);
    }
    best_out[e] = best;
  }
  for (int64_t j = 0; j < n_edges; ++j) best_in[by_src[j]] = into[j];
}

}  // namespace trackpipe
