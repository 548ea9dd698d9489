#include <pybind11/pybind11.h>

namespace py = pybind11;

// Track building: connected components, junction removal, walk-through (issue 5).
void bind_components(py::module_& m) { (void)m; }
