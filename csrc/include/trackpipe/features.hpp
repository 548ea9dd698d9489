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

// Row i of out (rows of `stride` >= 7 floats; columns 0-6): dr, dphi, dz, deta (scaled), phi_slope, rphi_slope,
// z0 (scaled, clamped) of edge src[i] -> dst[i]. Hit indices outside [0, num_hits) throw std::out_of_range
// before anything is written.
void doublet_features_cpu(const float* r, const float* phi, const float* z, const float* eta, int64_t num_hits,
                          const int64_t* src, const int64_t* dst, int64_t num_edges, const DoubletScales& scales,
                          float* out, int64_t stride, int threads);

// Triplet edge features (compute_triplet_features): the segment shape of each edge in float64 (kappa_0 or,
// with `straight`, d0; polar angle theta), the best triplet chi2 into and out of it (triplet_best_cpu), then
// curvature, triplet_in, triplet_out as float32. The same operations in the same order as the torch form;
// hypot, atan2 and log1p come from the C library where torch uses its vectorised (SLEEF) versions, which may
// differ in the last bit of a float64: the float32 results agree to within one unit in the last place.
struct TripletScales {
  double kappa_scale = 0.05;
  double theta_scale = 0.005;
  double chi2_max = 1e6;
  double log_chi2_max = 13.815511557963774;  // log1p(chi2_max), as Python's math.log1p computes it
  double curvature_scale = 0.5;
  double curvature_clamp = 5.0;
  bool straight = false;
};

constexpr int kTripletFeatures = 3;

// Row i of out (rows of `stride` floats; columns offset .. offset + 2): curvature, triplet_in, triplet_out of
// edge src[i] -> dst[i] within the graph of all num_edges edges. x, y, z in mm. Indices outside
// [0, num_hits) throw std::out_of_range before anything is written.
void triplet_features_cpu(const float* x, const float* y, const float* z, int64_t num_hits, const int64_t* src,
                          const int64_t* dst, int64_t num_edges, const TripletScales& scales, float* out,
                          int64_t stride, int64_t offset, int threads);

}  // namespace trackpipe
