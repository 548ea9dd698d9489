// numpy-array checks shared by the bindings: a wrong dtype, layout or size would be memory corruption in the
// kernels, so each entry point checks its arrays again here, cheaply (full validation is in tracking.ops).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace trackpipe_bindings {

namespace py = pybind11;

template <class T>
const T* input_ptr(const py::array& array, const char* name, py::ssize_t expected_size) {
  // the identity test is the fast path; an equal dtype that is another object (an unpickled array's) passes too
  const py::dtype expected = py::dtype::of<T>();
  const py::dtype actual = array.dtype();
  if (!py::isinstance<py::array_t<T>>(array) || !(expected.is(actual) || expected.equal(actual))) {
    throw py::value_error(std::string(name) + ": wrong dtype");
  }
  if (!(array.flags() & py::array::c_style)) throw py::value_error(std::string(name) + ": not C-contiguous");
  if (array.size() != expected_size) {
    throw py::value_error(std::string(name) + ": expected " + std::to_string(expected_size) + " elements, got " +
                          std::to_string(array.size()));
  }
  return static_cast<const T*>(array.data());
}

template <class T>
T* output_ptr(py::array& array, const char* name, py::ssize_t expected_size) {
  input_ptr<T>(array, name, expected_size);
  if (!array.writeable()) throw py::value_error(std::string(name) + ": not writeable");
  return static_cast<T*>(array.mutable_data());
}

}  // namespace trackpipe_bindings
