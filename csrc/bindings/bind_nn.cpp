// Row-wise inference kernels of the edge classifiers (tracking.nn.fused): numpy float32 arrays, C-contiguous,
// views of torch tensors; in-place outputs. Shapes and dtypes are checked here; tracking.nn.fused decides
// when the kernels apply (CPU, float32, no gradients).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "arrays.hpp"
#include "trackpipe/nn.hpp"

namespace py = pybind11;

namespace {

using trackpipe_bindings::input_ptr;
using trackpipe_bindings::output_ptr;

struct Matrix {
  float* data;
  int64_t rows;
  int64_t width;
};

Matrix matrix(py::array& array, const char* name) {
  if (array.ndim() != 2) throw py::value_error(std::string(name) + ": expected a 2-d array");
  return {output_ptr<float>(array, name, array.size()), array.shape(0), array.shape(1)};
}

const float* table_of(const py::array& array, const char* name, int64_t width, int64_t* rows) {
  if (array.ndim() != 2 || array.shape(1) != width) {
    throw py::value_error(std::string(name) + ": expected a 2-d array of " + std::to_string(width) + " columns");
  }
  *rows = array.shape(0);
  return input_ptr<float>(array, name, array.size());
}

}  // namespace

void bind_nn(py::module_& m) {
  m.def(
      "layer_norm_act_cpu",
      [](py::array x, const std::optional<py::array>& bias, const py::array& gamma, const py::array& beta, float eps,
         int activation, int threads) {
        Matrix rows = matrix(x, "x");
        const float* pre = bias ? input_ptr<float>(*bias, "bias", rows.width) : nullptr;
        const float* g = input_ptr<float>(gamma, "gamma", rows.width);
        const float* b = input_ptr<float>(beta, "beta", rows.width);
        if (activation < 0 || activation > 2) throw py::value_error("activation: 0 (none), 1 (silu) or 2 (relu)");
        py::gil_scoped_release release;
        trackpipe::layer_norm_act_cpu(rows.data, rows.rows, rows.width, pre, g, b, eps,
                                      static_cast<trackpipe::Activation>(activation), threads);
      },
      py::arg("x").noconvert(), py::arg("bias").none(true), py::arg("gamma"), py::arg("beta"), py::arg("eps"), py::arg("activation"),
      py::arg("threads"), "In place: x += bias (when given), LayerNorm of each row of x (float32 [R, W]), then 0 none / 1 SiLU / 2 ReLU.");

  m.def(
      "gather_add_cpu",
      [](py::array out, const py::array& table, const py::array& index, int threads) {
        Matrix target = matrix(out, "out");
        int64_t table_rows = 0;
        const float* source = table_of(table, "table", target.width, &table_rows);
        const int64_t* idx = input_ptr<int64_t>(index, "index", target.rows);
        py::gil_scoped_release release;
        trackpipe::gather_add_cpu(target.data, source, table_rows, idx, target.rows, target.width, threads);
      },
      py::arg("out").noconvert(), py::arg("table"), py::arg("index"), py::arg("threads"),
      "In place: out[i] += table[index[i]] (float32 rows, int64 index).");

  m.def(
      "index_add_rows_cpu",
      [](py::array out, const py::array& values, const py::array& index, int threads) {
        Matrix target = matrix(out, "out");
        int64_t rows = 0;
        const float* source = table_of(values, "values", target.width, &rows);
        const int64_t* idx = input_ptr<int64_t>(index, "index", rows);
        py::gil_scoped_release release;
        trackpipe::index_add_rows_cpu(target.data, target.rows, source, idx, rows, target.width, threads);
      },
      py::arg("out").noconvert(), py::arg("values"), py::arg("index"), py::arg("threads"),
      "In place: out[index[i]] += values[i], every element summed in increasing i (torch's index_add_ order).");

  m.def("nn_kernels_vectorised", &trackpipe::nn_kernels_vectorised,
        "True when the LayerNorm kernel runs its AVX2 + FMA path on this CPU.");
}
