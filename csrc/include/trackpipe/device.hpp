// Entry points that exist in two implementations: csrc/cuda/*.cu when the build has CUDA, and
// csrc/no_cuda/*.cpp otherwise (the stubs throw). The choice is made at link time, never by #ifdef.
// CUDA streams cross this header as void* so that it compiles without the CUDA headers.
#pragma once

#include <string>

namespace trackpipe {

// True when the CUDA kernels were compiled into this build.
bool cuda_compiled() noexcept;

// Number of visible CUDA devices; 0 when there is no driver or no device (never throws).
int cuda_device_count() noexcept;

// "name (sm_XY, N MiB)" of device `index`.
std::string cuda_device_description(int index);

}  // namespace trackpipe
