#include "trackpipe/parallel.hpp"

#include <stdexcept>

#ifdef TRACKPIPE_OPENMP
#include <omp.h>
#endif

namespace trackpipe {

bool openmp_compiled() noexcept {
#ifdef TRACKPIPE_OPENMP
  return true;
#else
  return false;
#endif
}

int max_threads() noexcept {
#ifdef TRACKPIPE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_max_threads(int n) {
  if (n < 1) throw std::invalid_argument("number of threads must be >= 1");
#ifdef TRACKPIPE_OPENMP
  omp_set_num_threads(n);
#endif
}

}  // namespace trackpipe
