// Doublet edge features, see features.hpp. Every line mirrors one torch operation of
// tracking.nn.features.compute_edge_features on float32 tensors; -ffp-contract=off keeps the compiler from
// fusing a multiply into an add, as torch's separate kernels do not.
#include "trackpipe/features.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

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

}  // namespace

void doublet_features_cpu(const float* r, const float* phi, const float* z, const float* eta, int64_t num_hits,
                          const int64_t* src, const int64_t* dst, int64_t num_edges, const DoubletScales& scales,
                          float* out, int threads) {
  for (int64_t i = 0; i < num_edges; ++i) {
    if (src[i] < 0 || src[i] >= num_hits || dst[i] < 0 || dst[i] >= num_hits) {
      throw std::out_of_range("doublet_features: edge " + std::to_string(i) + " (" + std::to_string(src[i]) +
                              " -> " + std::to_string(dst[i]) + ") outside [0, " + std::to_string(num_hits) +
                              ") hits");
    }
  }
  const float pi = static_cast<float>(kPi);  // torch rounds a Python scalar to the tensor's float32
  const float two_pi = static_cast<float>(2.0 * kPi);
  const int n = threads < 1 || num_edges < 65536 ? 1 : threads;
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
    float* row = out + i * kDoubletFeatures;
    row[0] = dr / scales.r_scale;
    row[1] = dphi / scales.phi_scale;
    row[2] = dz / scales.z_scale;
    row[3] = deta / scales.eta_scale;
    row[4] = clamp(phi_slope * scales.phi_slope_scale, scales.phi_slope_clamp);
    row[5] = clamp(rphi_slope, scales.rphi_slope_clamp);
    row[6] = clamp(z0 / scales.z_scale, scales.z0_clamp);
  }
}

}  // namespace trackpipe
