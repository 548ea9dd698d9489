#include "trackpipe/errors.hpp"
#include "trackpipe/graph.hpp"

namespace trackpipe {

void doublets_count_cuda(const DoubletInput&, const int64_t*, int64_t, int64_t*, void*) {
  throw_no_cuda("doublets_count_cuda");
}
void doublets_fill_cuda(const DoubletInput&, const int64_t*, int64_t, const int64_t*, int64_t*, int64_t*, void*) {
  throw_no_cuda("doublets_fill_cuda");
}
void radius_count_cuda(const RadiusGridInput&, int64_t*, void*) { throw_no_cuda("radius_count_cuda"); }
void radius_fill_cuda(const RadiusGridInput&, const int64_t*, int64_t*, int64_t*, float*, void*) {
  throw_no_cuda("radius_fill_cuda");
}

}  // namespace trackpipe
