#include <string>

#include "cuda_check.cuh"
#include "trackpipe/device.hpp"
#include "trackpipe/errors.hpp"

namespace trackpipe {

bool cuda_compiled() noexcept { return true; }

int cuda_device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string cuda_device_description(int index) {
  cudaDeviceProp prop{};
  TRACKPIPE_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
         std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

}  // namespace trackpipe
