// Wiring only: each bind_<area>.cpp holds that area's bindings.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_info(py::module_& m);
void bind_graph(py::module_& m);
void bind_components(py::module_& m);
void bind_nn(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "trackpipe native kernels (private; use tracking.ops)";
  bind_info(m);
  bind_graph(m);
  bind_components(m);
  bind_nn(m);
}
