#include "trackpipe/components.hpp"
#include "trackpipe/errors.hpp"

namespace trackpipe {

int64_t connected_components_cuda(const int64_t*, const int64_t*, int64_t, const float*, float, int64_t, int64_t,
                                  int64_t*, void*) {
  throw_no_cuda("connected_components_cuda");
}

void junction_removal_cuda(const int64_t*, const int64_t*, int64_t, const float*, float, int64_t, bool*, void*) {
  throw_no_cuda("junction_removal_cuda");
}

}  // namespace trackpipe
