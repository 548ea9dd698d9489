// Thread control for the CPU kernels (OpenMP when the build found it, serial otherwise).
#pragma once

namespace trackpipe {

bool openmp_compiled() noexcept;
int max_threads() noexcept;
void set_max_threads(int n);

}  // namespace trackpipe
