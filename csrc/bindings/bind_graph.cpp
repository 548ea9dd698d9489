#include <pybind11/pybind11.h>

namespace py = pybind11;

// Graph building: doublet builder and fixed-radius neighbours (issue 4).
void bind_graph(py::module_& m) { (void)m; }
