// Doublet and triplet edge features, see features.hpp. Every line mirrors one torch operation of
// tracking.nn.features (compute_edge_features on float32 tensors, compute_triplet_features on float64 ones);
// -ffp-contract=off keeps the compiler from fusing a multiply into an add, as torch's separate kernels do not.
#include "trackpipe/features.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "trackpipe/triplets.hpp"

namespace trackpipe {

namespace {

// torch.remainder(a, b) for float32, b > 0: fmod, moved into [0, b).
inline float remainder(float a, float b) {
  float mod = std::fmod(a, b);
  if (mod != 0.0f && ((b < 0.0f) != (mod < 0.0f))) mod += b;
  return mod;
}

inline float clamp(float v, float limit) { return v < -limit ? -limit : (v > limit ? limit : v); }

constexpr double kPi = 3.14159265358979323846;

void check_edges(const char* what, const int64_t* src, const int64_t* dst, int64_t num_edges, int64_t num_hits) {
  for (int64_t i = 0; i < num_edges; ++i) {
    if (src[i] < 0 || src[i] >= num_hits || dst[i] < 0 || dst[i] >= num_hits) {
      throw std::out_of_range(std::string(what) + ": edge " + std::to_string(i) + " (" + std::to_string(src[i]) +
                              " -> " + std::to_string(dst[i]) + ") outside [0, " + std::to_string(num_hits) +
                              ") hits");
    }
  }
}

int threads_for(int threads, int64_t num_edges) { return threads < 1 || num_edges < 65536 ? 1 : threads; }

}  // namespace

void doublet_features_cpu(const float* r, const float* phi, const float* z, const float* eta, int64_t num_hits,
                          const int64_t* src, const int64_t* dst, int64_t num_edges, const DoubletScales& scales,
                          float* out, int64_t stride, int threads) {
  if (stride < kDoubletFeatures) throw std::invalid_argument("doublet_features: stride below 7");
  check_edges("doublet_features", src, dst, num_edges, num_hits);
  const float pi = static_cast<float>(kPi);  // torch rounds a Python scalar to the tensor's float32
  const float two_pi = static_cast<float>(2.0 * kPi);
  const int n = threads_for(threads, num_edges);
  (void)n;
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int64_t i = 0; i < num_edges; ++i) {
    const int64_t a = src[i];
    const int64_t b = dst[i];
    const float r_src = r[a];
    const float r_dst = r[b];
    const float dr = r_dst - r_src;
    const float dphi = remainder((phi[b] - phi[a]) + pi, two_pi) - pi;
    const float dz = z[b] - z[a];
    const float deta = eta[b] - eta[a];
    const float sign = dr < 0.0f ? -1.0f : 1.0f;
    const float dr_safe = std::fabs(dr) < scales.min_abs_dr ? sign * scales.min_abs_dr : dr;
    const float phi_slope = dphi / dr_safe;
    const float rphi_slope = (0.5f * (r_src + r_dst)) * phi_slope;
    const float z0 = z[a] - (r_src * dz) / dr_safe;
    float* row = out + i * stride;
    row[0] = dr / scales.r_scale;
    row[1] = dphi / scales.phi_scale;
    row[2] = dz / scales.z_scale;
    row[3] = deta / scales.eta_scale;
    row[4] = clamp(phi_slope * scales.phi_slope_scale, scales.phi_slope_clamp);
    row[5] = clamp(rphi_slope, scales.rphi_slope_clamp);
    row[6] = clamp(z0 / scales.z_scale, scales.z0_clamp);
  }
}

void triplet_features_cpu(const float* x, const float* y, const float* z, int64_t num_hits, const int64_t* src,
                          const int64_t* dst, int64_t num_edges, const TripletScales& scales, float* out,
                          int64_t stride, int64_t offset, int threads) {
  if (offset < 0 || offset + kTripletFeatures > stride) {
    throw std::invalid_argument("triplet_features: columns offset .. offset + 2 outside a row of the stride");
  }
  check_edges("triplet_features", src, dst, num_edges, num_hits);
  std::vector<double> kappa(static_cast<size_t>(num_edges)), theta(static_cast<size_t>(num_edges));
  const int n = threads_for(threads, num_edges);
  (void)n;
  // |p| of every hit once (the torch form takes hypot(x, y) of both ends of every edge: the same values)
  std::vector<double> rho(scales.straight ? 0 : static_cast<size_t>(num_hits));
  for (size_t h = 0; h < rho.size(); ++h) rho[h] = std::hypot(static_cast<double>(x[h]), static_cast<double>(y[h]));
  // _segment_shape, one torch float64 operation per line (the coordinates widened exactly from float32)
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int64_t i = 0; i < num_edges; ++i) {
    const double x1 = x[src[i]], y1 = y[src[i]], x2 = x[dst[i]], y2 = y[dst[i]];
    const double cross = x1 * y2 - y1 * x2;
    const double chord = std::hypot(x2 - x1, y2 - y1);
    if (scales.straight) {
      kappa[i] = cross / std::max(chord, 1e-9);
    } else {
      const double norm = rho[src[i]] * rho[dst[i]] * chord;
      kappa[i] = 2.0 * cross / std::max(norm, 1e-9) * 1000.0;
    }
    theta[i] = std::atan2(chord, static_cast<double>(z[dst[i]]) - static_cast<double>(z[src[i]]));
  }
  std::vector<double> best_in(static_cast<size_t>(num_edges)), best_out(static_cast<size_t>(num_edges));
  TripletInput in;
  in.n_edges = num_edges;
  in.n_nodes = num_hits;
  in.src = src;
  in.dst = dst;
  in.kappa = kappa.data();
  in.theta = theta.data();
  in.kappa_scale = scales.kappa_scale;
  in.theta_scale = scales.theta_scale;
  in.chi2_max = scales.chi2_max;
  triplet_best_cpu(in, best_in.data(), best_out.data());
  const double limit = scales.curvature_clamp;
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int64_t i = 0; i < num_edges; ++i) {
    const double curvature = kappa[i] * scales.curvature_scale;
    float* row = out + i * stride + offset;
    row[0] = static_cast<float>(curvature < -limit ? -limit : (curvature > limit ? limit : curvature));
    row[1] = static_cast<float>(std::log1p(best_in[i]) / scales.log_chi2_max);
    row[2] = static_cast<float>(std::log1p(best_out[i]) / scales.log_chi2_max);
  }
}

}  // namespace trackpipe
