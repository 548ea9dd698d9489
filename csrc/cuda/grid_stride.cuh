// Launch geometry shared by the grid-stride kernels: a fixed block size and a grid capped at 2^20
// blocks, each thread striding over the range.
#pragma once

#include <cstdint>

namespace trackpipe::detail {

constexpr int kThreads = 256;

__device__ inline int64_t first_index() { return blockIdx.x * int64_t{blockDim.x} + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t{gridDim.x} * blockDim.x; }

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < (int64_t{1} << 20) ? blocks : (int64_t{1} << 20));
}

}  // namespace trackpipe::detail
