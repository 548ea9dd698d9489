#include <pybind11/pybind11.h>

#include "trackpipe/device.hpp"
#include "trackpipe/errors.hpp"
#include "trackpipe/parallel.hpp"

namespace py = pybind11;

void bind_info(py::module_& m) {
  m.attr("__version__") = TRACKPIPE_VERSION;
  m.def("cuda_compiled", &trackpipe::cuda_compiled, "True when the CUDA kernels were compiled in.");
  m.def("cuda_device_count", &trackpipe::cuda_device_count, "Visible CUDA devices (0 without driver).");
  m.def("cuda_device_description", &trackpipe::cuda_device_description, py::arg("index"));
  m.def("openmp_compiled", &trackpipe::openmp_compiled);
  m.def("max_threads", &trackpipe::max_threads, "Threads the CPU kernels use.");
  m.def("set_max_threads", &trackpipe::set_max_threads, py::arg("n"));
  py::register_exception<trackpipe::NoCudaError>(m, "NoCudaError", PyExc_RuntimeError);
  py::register_exception<trackpipe::CudaError>(m, "CudaError", PyExc_RuntimeError);
}
