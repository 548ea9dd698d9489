// Every CUDA runtime call goes through TRACKPIPE_CUDA_CHECK, which throws with file:line.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "trackpipe/errors.hpp"

namespace trackpipe::detail {

inline void cuda_check(cudaError_t status, const char* expr, const char* file, int line) {
  if (status != cudaSuccess) {
    throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                    cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
  }
}

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

}  // namespace trackpipe::detail

#define TRACKPIPE_CUDA_CHECK(expr) ::trackpipe::detail::cuda_check((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations at once.
#define TRACKPIPE_CUDA_CHECK_LAUNCH() TRACKPIPE_CUDA_CHECK(cudaGetLastError())
