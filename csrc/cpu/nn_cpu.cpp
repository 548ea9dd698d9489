// Row-wise inference kernels of tracking.nn.fused (see nn.hpp). The LayerNorm + activation kernel has an
// AVX2 + FMA path (x86-64, chosen at run time: exp by the Cephes polynomial, ~1 ulp) and a portable scalar
// one; the gather-add and index-add kernels are plain loops the compiler vectorises, in the element order of
// torch's own operators (so they give the same sums bit for bit).
#include "trackpipe/nn.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TRACKPIPE_X86 1
#endif

namespace trackpipe {

namespace {

void check_index(const int64_t* index, int64_t rows, int64_t limit, const char* what) {
  for (int64_t i = 0; i < rows; ++i) {
    if (index[i] < 0 || index[i] >= limit) {
      throw std::out_of_range(std::string(what) + ": index " + std::to_string(index[i]) + " at position " +
                              std::to_string(i) + " outside [0, " + std::to_string(limit) + ")");
    }
  }
}

// Rows read in a data-dependent order (gathers, segment sums) are fetched this many rows ahead: the order is
// known, so the memory latency of each random row overlaps the sums of the rows before it.
constexpr int64_t kPrefetch = 8;

inline void prefetch_row(const float* row, int64_t width) {
  for (int64_t k = 0; k < width; k += 16) __builtin_prefetch(row + k, 0, 3);
}

int clamp_threads(int threads, int64_t work) {
  if (threads < 1 || work < 4096) return 1;
  return threads;
}

template <Activation A>
inline float activate(float y) {
  if constexpr (A == Activation::silu) {
    return y / (1.0f + std::exp(-y));
  } else if constexpr (A == Activation::relu) {
    return y > 0.0f ? y : 0.0f;
  } else {
    return y;
  }
}

template <Activation A>
void layer_norm_rows_scalar(float* x, int64_t first, int64_t last, int64_t width, const float* bias,
                            const float* gamma, const float* beta, float eps) {
  const float inv_width = 1.0f / static_cast<float>(width);
  for (int64_t r = first; r < last; ++r) {
    float* row = x + r * width;
    if (bias != nullptr) {
      for (int64_t k = 0; k < width; ++k) row[k] += bias[k];
    }
    float sum = 0.0f;
    for (int64_t k = 0; k < width; ++k) sum += row[k];
    const float mean = sum * inv_width;
    float squares = 0.0f;
    for (int64_t k = 0; k < width; ++k) squares += (row[k] - mean) * (row[k] - mean);
    const float rstd = 1.0f / std::sqrt(squares * inv_width + eps);
    for (int64_t k = 0; k < width; ++k) row[k] = activate<A>((row[k] - mean) * rstd * gamma[k] + beta[k]);
  }
}

#ifdef TRACKPIPE_X86
__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v) {
  __m128 low = _mm256_castps256_ps128(v);
  const __m128 high = _mm256_extractf128_ps(v, 1);
  low = _mm_add_ps(low, high);
  low = _mm_hadd_ps(low, low);
  low = _mm_hadd_ps(low, low);
  return _mm_cvtss_f32(low);
}

// exp(x), Cephes' single-precision polynomial (the avx_mathfun form): range reduction by ln 2 in two parts,
// a degree-5 polynomial, the power of two put into the exponent. Inputs clamped to +-88.376 (finite results).
__attribute__((target("avx2,fma"))) inline __m256 exp_avx2(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  __m256i exponent = _mm256_cvttps_epi32(fx);
  exponent = _mm256_add_epi32(exponent, _mm256_set1_epi32(0x7f));
  exponent = _mm256_slli_epi32(exponent, 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

template <Activation A>
__attribute__((target("avx2,fma"))) void layer_norm_rows_avx2(float* x, int64_t first, int64_t last, int64_t width,
                                                               const float* bias, const float* gamma,
                                                               const float* beta, float eps) {
  const float inv_width = 1.0f / static_cast<float>(width);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 two = _mm256_set1_ps(2.0f);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t r = first; r < last; ++r) {
    float* row = x + r * width;
    __m256 sum = zero;
    if (bias != nullptr) {
      for (int64_t k = 0; k < width; k += 8) {
        const __m256 v = _mm256_add_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(bias + k));
        _mm256_storeu_ps(row + k, v);
        sum = _mm256_add_ps(sum, v);
      }
    } else {
      for (int64_t k = 0; k < width; k += 8) sum = _mm256_add_ps(sum, _mm256_loadu_ps(row + k));
    }
    const __m256 mean = _mm256_set1_ps(horizontal_sum(sum) * inv_width);
    __m256 squares = zero;
    for (int64_t k = 0; k < width; k += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + k), mean);
      squares = _mm256_fmadd_ps(d, d, squares);
    }
    const __m256 rstd = _mm256_set1_ps(1.0f / std::sqrt(horizontal_sum(squares) * inv_width + eps));
    for (int64_t k = 0; k < width; k += 8) {
      const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row + k), mean), rstd);
      __m256 y = _mm256_fmadd_ps(d, _mm256_loadu_ps(gamma + k), _mm256_loadu_ps(beta + k));
      if constexpr (A == Activation::silu) {
        // y / (1 + exp(-y)) as y * r, r the reciprocal by the approximate instruction and one Newton step
        // (relative error ~1e-7, a third of the division's cost)
        const __m256 denom = _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(zero, y)));
        __m256 inverse = _mm256_rcp_ps(denom);
        inverse = _mm256_mul_ps(inverse, _mm256_fnmadd_ps(denom, inverse, two));
        y = _mm256_mul_ps(y, inverse);
      } else if constexpr (A == Activation::relu) {
        y = _mm256_max_ps(y, zero);
      }
      _mm256_storeu_ps(row + k, y);
    }
  }
}

bool cpu_has_avx2_fma() noexcept {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#endif

template <Activation A>
void layer_norm_rows(float* x, int64_t first, int64_t last, int64_t width, const float* bias, const float* gamma,
                     const float* beta, float eps) {
#ifdef TRACKPIPE_X86
  if (width % 8 == 0 && cpu_has_avx2_fma()) {
    layer_norm_rows_avx2<A>(x, first, last, width, bias, gamma, beta, eps);
    return;
  }
#endif
  layer_norm_rows_scalar<A>(x, first, last, width, bias, gamma, beta, eps);
}

template <Activation A>
void layer_norm_parallel(float* x, int64_t rows, int64_t width, const float* bias, const float* gamma,
                         const float* beta, float eps, int threads) {
  const int n = clamp_threads(threads, rows);
  const int64_t chunk = (rows + n - 1) / n;
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int t = 0; t < n; ++t) {
    const int64_t first = static_cast<int64_t>(t) * chunk;
    const int64_t last = first + chunk < rows ? first + chunk : rows;
    if (first < last) layer_norm_rows<A>(x, first, last, width, bias, gamma, beta, eps);
  }
}

}  // namespace

void layer_norm_act_cpu(float* x, int64_t rows, int64_t width, const float* bias, const float* gamma,
                        const float* beta, float eps, Activation act, int threads) {
  if (rows < 0 || width < 1) throw std::invalid_argument("layer_norm_act: need rows >= 0 and width >= 1");
  switch (act) {
    case Activation::none:
      layer_norm_parallel<Activation::none>(x, rows, width, bias, gamma, beta, eps, threads);
      break;
    case Activation::silu:
      layer_norm_parallel<Activation::silu>(x, rows, width, bias, gamma, beta, eps, threads);
      break;
    case Activation::relu:
      layer_norm_parallel<Activation::relu>(x, rows, width, bias, gamma, beta, eps, threads);
      break;
    default:
      throw std::invalid_argument("layer_norm_act: unknown activation");
  }
}

void gather_add_cpu(float* out, const float* table, int64_t table_rows, const int64_t* index, int64_t rows,
                    int64_t width, int threads) {
  check_index(index, rows, table_rows, "gather_add");
  const int n = clamp_threads(threads, rows);
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int64_t i = 0; i < rows; ++i) {
    float* target = out + i * width;
    const float* source = table + index[i] * width;
    for (int64_t k = 0; k < width; ++k) target[k] += source[k];
  }
}

void index_add_rows_cpu(float* out, int64_t out_rows, const float* values, const int64_t* index, int64_t rows,
                        int64_t width, int threads) {
  check_index(index, rows, out_rows, "index_add_rows");
  // Threads split the columns (in blocks of 8), never the rows: every element sums its rows in increasing i.
  const int64_t blocks = (width + 7) / 8;
  const int n = static_cast<int>(blocks < clamp_threads(threads, rows) ? blocks : clamp_threads(threads, rows));
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int t = 0; t < n; ++t) {
    const int64_t first = (blocks * t / n) * 8;
    const int64_t last = (blocks * (t + 1) / n) * 8 < width ? (blocks * (t + 1) / n) * 8 : width;
    for (int64_t i = 0; i < rows; ++i) {
      float* target = out + index[i] * width;
      const float* source = values + i * width;
      for (int64_t k = first; k < last; ++k) target[k] += source[k];
    }
  }
}

void segment_sum_rows_cpu(float* out, int64_t out_rows, int64_t out_width, int64_t column, const float* values,
                          int64_t value_rows, int64_t width, const int64_t* order, const int64_t* offsets,
                          int threads) {
  if (column < 0 || width < 1 || column + width > out_width) {
    throw std::invalid_argument("segment_sum_rows: columns [" + std::to_string(column) + ", " +
                                std::to_string(column + width) + ") outside the " + std::to_string(out_width) +
                                " columns of out");
  }
  if (offsets[0] != 0 || offsets[out_rows] != value_rows) {
    throw std::invalid_argument("segment_sum_rows: offsets must run from 0 to the number of value rows");
  }
  for (int64_t i = 0; i < out_rows; ++i) {
    if (offsets[i + 1] < offsets[i]) throw std::invalid_argument("segment_sum_rows: offsets must not decrease");
  }
  check_index(order, value_rows, value_rows, "segment_sum_rows");
  const int n = clamp_threads(threads, out_rows);
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel for num_threads(n) schedule(static) if (n > 1)
#endif
  for (int64_t i = 0; i < out_rows; ++i) {
    float* target = out + i * out_width + column;
    for (int64_t k = 0; k < width; ++k) target[k] = 0.0f;
    for (int64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
      if (j + kPrefetch < value_rows) prefetch_row(values + order[j + kPrefetch] * width, width);
      const float* source = values + order[j] * width;
      for (int64_t k = 0; k < width; ++k) target[k] += source[k];
    }
  }
}

// ---- mlp_rows_cpu: a whole MLP per chunk of rows ----

namespace {

// rows per chunk (tried 8, 16, 24, 32, 64 on the shipped GNN: 16-24 best); a 64-wide activation block of 24 rows
// is 6 KB, so the two ping-pong buffers and a layer's packed weights stay in the L1/L2 cache
constexpr int64_t kChunk = 24;
constexpr int64_t kPanel = 16;  // output columns per register tile (two 8-float vectors)

// weight [out, in] -> panels [out / 16][in][16]: the 16 outputs of a panel for one k are contiguous
void pack_panels(const DenseLayer& layer, float* packed) {
  for (int64_t p = 0; p < layer.out / kPanel; ++p) {
    for (int64_t k = 0; k < layer.in; ++k) {
      for (int64_t j = 0; j < kPanel; ++j) {
        packed[(p * layer.in + k) * kPanel + j] = layer.weight[(p * kPanel + j) * layer.in + k];
      }
    }
  }
}

// y[r, :] = x[r, :] @ W^T for n rows (x at stride ldx, y at stride ldy), W packed; each output summed over k in
// increasing order.
void gemm_panels_scalar(const float* x, int64_t ldx, int64_t n, int64_t in, const float* packed, int64_t out,
                        float* y, int64_t ldy) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t p = 0; p < out / kPanel; ++p) {
      float acc[kPanel] = {};
      const float* w = packed + p * in * kPanel;
      for (int64_t k = 0; k < in; ++k) {
        const float v = x[r * ldx + k];
        for (int64_t j = 0; j < kPanel; ++j) acc[j] += v * w[k * kPanel + j];
      }
      for (int64_t j = 0; j < kPanel; ++j) y[r * ldy + p * kPanel + j] = acc[j];
    }
  }
}

#ifdef TRACKPIPE_X86
template <int RT>
__attribute__((target("avx2,fma"))) inline void gemm_tile(const float* x, int64_t ldx, int64_t in, const float* w,
                                                           float* y, int64_t ldy) {
  __m256 acc[RT][2];
  for (int i = 0; i < RT; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < in; ++k) {
    const __m256 w0 = _mm256_loadu_ps(w + k * kPanel);
    const __m256 w1 = _mm256_loadu_ps(w + k * kPanel + 8);
#pragma GCC unroll 6
    for (int i = 0; i < RT; ++i) {
      const __m256 v = _mm256_broadcast_ss(x + i * ldx + k);
      acc[i][0] = _mm256_fmadd_ps(v, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(v, w1, acc[i][1]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < RT; ++i) {
    _mm256_storeu_ps(y + i * ldy, acc[i][0]);
    _mm256_storeu_ps(y + i * ldy + 8, acc[i][1]);
  }
}

__attribute__((target("avx2,fma"))) void gemm_panels_avx2(const float* x, int64_t ldx, int64_t n, int64_t in,
                                                           const float* packed, int64_t out, float* y,
                                                           int64_t ldy) {
  for (int64_t p = 0; p < out / kPanel; ++p) {
    const float* w = packed + p * in * kPanel;
    int64_t r = 0;
    for (; r + 6 <= n; r += 6) gemm_tile<6>(x + r * ldx, ldx, in, w, y + r * ldy + p * kPanel, ldy);
    for (; r + 2 <= n; r += 2) gemm_tile<2>(x + r * ldx, ldx, in, w, y + r * ldy + p * kPanel, ldy);
    for (; r < n; ++r) gemm_tile<1>(x + r * ldx, ldx, in, w, y + r * ldy + p * kPanel, ldy);
  }
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t k = 0; k < n; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  return horizontal_sum(acc);
}
#endif

void gemm_panels(const float* x, int64_t ldx, int64_t n, int64_t in, const float* packed, int64_t out, float* y,
                 int64_t ldy) {
  if (in == 0) {
    for (int64_t r = 0; r < n; ++r) std::fill(y + r * ldy, y + r * ldy + out, 0.0f);
    return;
  }
#ifdef TRACKPIPE_X86
  if (cpu_has_avx2_fma()) {
    gemm_panels_avx2(x, ldx, n, in, packed, out, y, ldy);
    return;
  }
#endif
  gemm_panels_scalar(x, ldx, n, in, packed, out, y, ldy);
}

float dot(const float* a, const float* b, int64_t n) {
#ifdef TRACKPIPE_X86
  if (n % 8 == 0 && cpu_has_avx2_fma()) return dot_avx2(a, b, n);
#endif
  float s = 0.0f;
  for (int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// bias, LayerNorm (when the layer has one) and activation, in place on n rows of width layer.out (stride width)
void epilogue(float* y, int64_t n, const DenseLayer& layer) {
  if (layer.gamma != nullptr) {
    switch (layer.act) {
      case Activation::silu:
        layer_norm_rows<Activation::silu>(y, 0, n, layer.out, layer.bias, layer.gamma, layer.beta, layer.eps);
        return;
      case Activation::relu:
        layer_norm_rows<Activation::relu>(y, 0, n, layer.out, layer.bias, layer.gamma, layer.beta, layer.eps);
        return;
      default:
        layer_norm_rows<Activation::none>(y, 0, n, layer.out, layer.bias, layer.gamma, layer.beta, layer.eps);
        return;
    }
  }
  if (layer.bias == nullptr && layer.act == Activation::none) return;
  for (int64_t i = 0; i < n * layer.out; ++i) {
    float v = y[i] + (layer.bias != nullptr ? layer.bias[i % layer.out] : 0.0f);
    if (layer.act == Activation::silu) {
      v = activate<Activation::silu>(v);
    } else if (layer.act == Activation::relu) {
      v = activate<Activation::relu>(v);
    }
    y[i] = v;
  }
}

void check_mlp(int64_t rows, const RowGather* gathers, int n_gathers, const DenseLayer* layers, int n_layers) {
  if (rows < 0 || n_layers < 1 || n_gathers < 0) throw std::invalid_argument("mlp_rows: need rows >= 0 and a layer");
  for (int l = 0; l < n_layers; ++l) {
    const DenseLayer& layer = layers[l];
    const bool last = l == n_layers - 1;
    const bool scalar = last && layer.out == 1;
    if (layer.in < 0 || layer.out < 1 || (!scalar && layer.out % kPanel != 0)) {
      throw std::invalid_argument("mlp_rows: layer " + std::to_string(l) + " has " + std::to_string(layer.out) +
                                  " outputs; need a multiple of 16 (or 1 for the last layer)");
    }
    if (scalar && (layer.gamma != nullptr || layer.act != Activation::none)) {
      throw std::invalid_argument("mlp_rows: a one-output last layer must be a bare Linear");
    }
    if (l > 0 && layer.in != layers[l - 1].out) {
      throw std::invalid_argument("mlp_rows: layer " + std::to_string(l) + " takes " + std::to_string(layer.in) +
                                  " inputs after " + std::to_string(layers[l - 1].out) + " outputs");
    }
  }
  if (layers[0].out == 1 && (n_layers > 1 || n_gathers > 0)) {
    throw std::invalid_argument("mlp_rows: a one-output first layer must be the only layer, with no gathers");
  }
  for (int g = 0; g < n_gathers; ++g) {
    if (gathers[g].ld < layers[0].out) throw std::invalid_argument("mlp_rows: a gathered table is narrower than layer 0");
    check_index(gathers[g].index, rows, gathers[g].table_rows, "mlp_rows gather");
  }
}

}  // namespace

void mlp_rows_cpu(const float* dense, int64_t ld_dense, int64_t rows, const RowGather* gathers, int n_gathers,
                  const DenseLayer* layers, int n_layers, float* out, int64_t ld_out, bool accumulate, int threads) {
  check_mlp(rows, gathers, n_gathers, layers, n_layers);
  if (layers[0].in > 0 && ld_dense < layers[0].in) throw std::invalid_argument("mlp_rows: dense row stride too small");
  const int64_t width_out = layers[n_layers - 1].out;
  if (ld_out < width_out) throw std::invalid_argument("mlp_rows: out row stride too small");
  // packed weights of every layer that is not a one-output one
  std::vector<std::vector<float>> packed(n_layers);
  int64_t widest = 0;
  for (int l = 0; l < n_layers; ++l) {
    widest = std::max(widest, layers[l].out);
    if (layers[l].out == 1) continue;
    packed[l].resize(static_cast<size_t>(layers[l].in * layers[l].out));
    pack_panels(layers[l], packed[l].data());
  }
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  const int n = clamp_threads(threads, rows);
#ifdef TRACKPIPE_OPENMP
#pragma omp parallel num_threads(n) if (n > 1)
#endif
  {
    std::vector<float> buffer_a(static_cast<size_t>(kChunk * widest)), buffer_b(static_cast<size_t>(kChunk * widest));
#ifdef TRACKPIPE_OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t first = c * kChunk;
      const int64_t count = std::min(kChunk, rows - first);
      float* cur = buffer_a.data();
      float* next = buffer_b.data();
      for (int l = 0; l < n_layers; ++l) {
        const DenseLayer& layer = layers[l];
        if (layer.out == 1) {  // a bare one-output Linear: a dot product per row
          const float* x = l == 0 ? dense + first * ld_dense : cur;
          const int64_t ldx = l == 0 ? ld_dense : layer.in;
          const float bias = layer.bias != nullptr ? layer.bias[0] : 0.0f;
          for (int64_t r = 0; r < count; ++r) {
            const float v = (layer.in > 0 ? dot(x + r * ldx, layer.weight, layer.in) : 0.0f) + bias;
            float& target = out[(first + r) * ld_out];
            target = accumulate ? target + v : v;
          }
          cur = nullptr;
          break;
        }
        if (l == 0) {
          gemm_panels(dense + first * ld_dense, ld_dense, count, layer.in, packed[0].data(), layer.out, next,
                      layer.out);
          for (int g = 0; g < n_gathers; ++g) {
            for (int64_t r = 0; r < count; ++r) {
              if (first + r + kPrefetch < rows) {
                prefetch_row(gathers[g].table + gathers[g].index[first + r + kPrefetch] * gathers[g].ld, layer.out);
              }
              const float* source = gathers[g].table + gathers[g].index[first + r] * gathers[g].ld;
              float* target = next + r * layer.out;
              for (int64_t k = 0; k < layer.out; ++k) target[k] += source[k];
            }
          }
        } else {
          gemm_panels(cur, layer.in, count, layer.in, packed[l].data(), layer.out, next, layer.out);
        }
        epilogue(next, count, layer);
        std::swap(cur, next);
      }
      if (cur != nullptr) {
        for (int64_t r = 0; r < count; ++r) {
          float* target = out + (first + r) * ld_out;
          const float* source = cur + r * width_out;
          if (accumulate) {
            for (int64_t k = 0; k < width_out; ++k) target[k] += source[k];
          } else {
            std::copy(source, source + width_out, target);
          }
        }
      }
    }
  }
}

bool nn_kernels_vectorised() noexcept {
#ifdef TRACKPIPE_X86
  return cpu_has_avx2_fma();
#else
  return false;
#endif
}

}  // namespace trackpipe
