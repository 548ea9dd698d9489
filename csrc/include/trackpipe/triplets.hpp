// Triplet matching of the edge features (tracking/nn/features.py): for every pair of edges
// e = a -> b, f = b -> c sharing the middle hit, chi2 = ((kappa_f - kappa_e) / kappa_scale)^2 +
// ((theta_f - theta_e) / theta_scale)^2, capped at chi2_max; best_out[e] = min over its f and
// best_in[f] = min over its e (chi2_max when there is none).
#pragma once

#include <cstdint>

namespace trackpipe {

struct TripletInput {
  int64_t n_edges = 0;
  int64_t n_nodes = 0;
  const int64_t* src = nullptr;  // [n_edges], in [0, n_nodes)
  const int64_t* dst = nullptr;  // [n_edges], in [0, n_nodes)
  const double* kappa = nullptr;  // [n_edges]
  const double* theta = nullptr;  // [n_edges]
  double kappa_scale = 1.0;
  double theta_scale = 1.0;
  double chi2_max = 1e6;
};

// Serial: one pass over the triplets through a CSR of the edges by source node (O(E + N + T)).
void triplet_best_cpu(const TripletInput& in, double* best_in, double* best_out);

}  // namespace trackpipe
