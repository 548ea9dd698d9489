// Doublet edge features (tracking/nn/features.py, compute_edge_features) in one pass over the edges: the
// float32 operations of the torch form, in its order (scalars rounded to float32 first, true divisions, no
// fused multiply-adds), so the same values bit for bit.
#pragma once

#include <cstdint>

namespace trackpipe {

struct DoubletScales {
  float r_scale = 1000.0f;
  float phi_scale = 3.14159265f;
  float z_scale = 1000.0f;
  float eta_scale = 4.0f;
  float min_abs_dr = 1e-3f;
  float phi_slope_scale = 1000.0f;
  float phi_slope_clamp = 10.0f;
  float rphi_slope_clamp = 10.0f;
  float z0_clamp = 1.0f;
};

constexpr int kDoubletFeatures = 7;

// out [num_edges, 7]: dr, dphi, dz, deta (scaled), phi_slope, rphi_slope, z0 (scaled, clamped) of each edge
// src[i] -> dst[i]. Hit indices outside [0, num_hits) throw std::out_of_range before anything is written.
void doublet_features_cpu(const float* r, const float* phi, const float* z, const float* eta, int64_t num_hits,
                          const int64_t* src, const int64_t* dst, int64_t num_edges, const DoubletScales& scales,
                          float* out, int threads);

}  // namespace trackpipe
