#include <string>

#include "trackpipe/device.hpp"
#include "trackpipe/errors.hpp"

namespace trackpipe {

void throw_no_cuda(const char* function) {
  throw NoCudaError(std::string(function) +
                    ": trackpipe was built without CUDA; reinstall with a CUDA toolkit on PATH "
                    "(TRACKPIPE_CUDA=ON pip install trackpipe) to use GPU kernels");
}

bool cuda_compiled() noexcept { return false; }
int cuda_device_count() noexcept { return 0; }
std::string cuda_device_description(int) { throw_no_cuda("cuda_device_description"); }

}  // namespace trackpipe
