// Row-wise inference kernels of tracking.nn.fused (see nn.hpp). The LayerNorm + activation kernel has an
// AVX2 + FMA path (x86-64, chosen at run time: exp by the Cephes polynomial, ~1 ulp) and a portable scalar
// one; the gather-add and index-add kernels are plain loops the compiler vectorises, in the element order of
// torch's own operators (so they give the same sums bit for bit).
#include "trackpipe/nn.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

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
        y = _mm256_div_ps(y, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(zero, y))));
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
      const float* source = values + order[j] * width;
      for (int64_t k = 0; k < width; ++k) target[k] += source[k];
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
