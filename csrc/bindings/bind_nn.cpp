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
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "trackpipe/features.hpp"
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


// A float32 matrix of `rows` rows and `width` columns whose rows may be strided (a column slice of a wider tensor):
// (pointer, row stride in floats). A 1-d array is a column (width 1).
std::pair<float*, int64_t> strided_rows(const py::array& array, const char* name, int64_t rows, int64_t width) {
  const py::dtype expected = py::dtype::of<float>();
  if (!py::isinstance<py::array_t<float>>(array) || !(expected.is(array.dtype()) || expected.equal(array.dtype()))) {
    throw py::value_error(std::string(name) + ": wrong dtype (need float32)");
  }
  const bool column = array.ndim() == 1 && width == 1;
  if (!column && array.ndim() != 2) throw py::value_error(std::string(name) + ": expected a 2-d array");
  const int64_t got_rows = array.shape(0);
  const int64_t got_width = column ? 1 : array.shape(1);
  if (got_rows != rows || got_width != width) {
    throw py::value_error(std::string(name) + ": expected shape [" + std::to_string(rows) + ", " +
                          std::to_string(width) + "], got [" + std::to_string(got_rows) + ", " +
                          std::to_string(got_width) + "]");
  }
  const int64_t row_stride = array.strides(0);
  if ((!column && array.strides(1) != static_cast<py::ssize_t>(sizeof(float))) || row_stride % 4 != 0 ||
      (rows > 1 && row_stride / 4 < width)) {
    throw py::value_error(std::string(name) + ": rows must be contiguous float32 runs at a stride >= their width");
  }
  return {static_cast<float*>(const_cast<void*>(array.data())), rows > 1 ? row_stride / 4 : width};
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

  m.def(
      "segment_sum_rows_cpu",
      [](py::array out, int64_t column, const py::array& values, const py::array& order, const py::array& offsets,
         int threads) {
        Matrix target = matrix(out, "out");
        if (values.ndim() != 2) throw py::value_error("values: expected a 2-d array");
        const int64_t width = values.shape(1);
        int64_t rows = 0;
        const float* source = table_of(values, "values", width, &rows);
        const int64_t* perm = input_ptr<int64_t>(order, "order", rows);
        const int64_t* starts = input_ptr<int64_t>(offsets, "offsets", target.rows + 1);
        py::gil_scoped_release release;
        trackpipe::segment_sum_rows_cpu(target.data, target.rows, target.width, column, source, rows, width, perm,
                                        starts, threads);
      },
      py::arg("out").noconvert(), py::arg("column"), py::arg("values"), py::arg("order"), py::arg("offsets"),
      py::arg("threads"),
      "In place: out[i, column:column + W] = sum of values[order[k]] for k in [offsets[i], offsets[i + 1]).");

  m.def(
      "mlp_rows_cpu",
      [](const std::optional<py::array>& dense, int64_t rows, const py::list& gathers, const py::list& layers,
         py::array out, bool accumulate, int threads) {
        // keep every array alive and converted while the kernel runs
        std::vector<py::array> keep;
        std::vector<trackpipe::DenseLayer> spec;
        for (const py::handle& item : layers) {
          const py::tuple t = item.cast<py::tuple>();
          if (t.size() != 6) throw py::value_error("layers: (weight, bias, gamma, beta, eps, activation) tuples");
          const py::array weight = t[0].cast<py::array>();
          if (weight.ndim() != 2) throw py::value_error("layers: weight must be 2-d [out, in]");
          trackpipe::DenseLayer layer{};
          layer.out = weight.shape(0);
          layer.in = weight.shape(1);
          layer.weight = input_ptr<float>(weight, "weight", weight.size());
          keep.push_back(weight);
          auto vector = [&](const py::handle& h, const char* name) -> const float* {
            if (h.is_none()) return nullptr;
            const py::array a = h.cast<py::array>();
            keep.push_back(a);
            return input_ptr<float>(a, name, layer.out);
          };
          layer.bias = vector(t[1], "bias");
          layer.gamma = vector(t[2], "gamma");
          layer.beta = vector(t[3], "beta");
          if ((layer.gamma == nullptr) != (layer.beta == nullptr)) throw py::value_error("layers: gamma and beta together");
          layer.eps = t[4].cast<float>();
          const int act = t[5].cast<int>();
          if (act < 0 || act > 2) throw py::value_error("activation: 0 (none), 1 (silu) or 2 (relu)");
          layer.act = static_cast<trackpipe::Activation>(act);
          spec.push_back(layer);
        }
        if (spec.empty()) throw py::value_error("layers: at least one");
        const float* dense_ptr = nullptr;
        int64_t ld_dense = 0;
        if (spec[0].in > 0) {
          if (!dense) throw py::value_error("dense: the first layer has inputs; dense is required");
          auto view = strided_rows(*dense, "dense", rows, spec[0].in);
          dense_ptr = view.first;
          ld_dense = view.second;
        }
        std::vector<trackpipe::RowGather> tables;
        for (const py::handle& item : gathers) {
          const py::tuple t = item.cast<py::tuple>();
          if (t.size() != 2) throw py::value_error("gathers: (table, index) pairs");
          const py::array table = t[0].cast<py::array>();
          const py::array index = t[1].cast<py::array>();
          keep.push_back(table);
          keep.push_back(index);
          if (table.ndim() != 2) throw py::value_error("table: expected a 2-d array");
          const int64_t table_rows = table.shape(0);
          auto view = strided_rows(table, "table", table_rows, spec[0].out);
          tables.push_back({view.first, table_rows, view.second, input_ptr<int64_t>(index, "index", rows)});
        }
        if (!out.writeable()) throw py::value_error("out: not writeable");
        auto target = strided_rows(out, "out", rows, spec.back().out);
        py::gil_scoped_release release;
        trackpipe::mlp_rows_cpu(dense_ptr, ld_dense, rows, tables.data(), static_cast<int>(tables.size()), spec.data(),
                                static_cast<int>(spec.size()), target.first, target.second, accumulate, threads);
      },
      py::arg("dense").none(true), py::arg("rows"), py::arg("gathers"), py::arg("layers"), py::arg("out").noconvert(),
      py::arg("accumulate"), py::arg("threads"),
      "A whole MLP on rows, fused (trackpipe::mlp_rows_cpu): the first layer's product of dense (float32 [rows, in], "
      "rows may be strided) plus table[index] of each (table, index) gather, then bias, LayerNorm, activation of "
      "each (weight [out, in], bias, gamma, beta, eps, activation 0/1/2) layer; written to out (rows may be "
      "strided; 1-d for one output) or added to it (accumulate).");

  m.def(
      "doublet_features_cpu",
      [](const py::array& r, const py::array& phi, const py::array& z, const py::array& eta, const py::array& src,
         const py::array& dst, const py::dict& scales, py::array out, int64_t stride, int threads) {
        const py::ssize_t hits = r.size();
        const py::ssize_t edges = src.size();
        if (stride < trackpipe::kDoubletFeatures) throw py::value_error("stride: below 7");
        trackpipe::DoubletScales s;
        s.r_scale = scales["r_scale"].cast<float>();
        s.phi_scale = scales["phi_scale"].cast<float>();
        s.z_scale = scales["z_scale"].cast<float>();
        s.eta_scale = scales["eta_scale"].cast<float>();
        s.min_abs_dr = scales["min_abs_dr"].cast<float>();
        s.phi_slope_scale = scales["phi_slope_scale"].cast<float>();
        s.phi_slope_clamp = scales["phi_slope_clamp"].cast<float>();
        s.rphi_slope_clamp = scales["rphi_slope_clamp"].cast<float>();
        s.z0_clamp = scales["z0_clamp"].cast<float>();
        const float* rp = input_ptr<float>(r, "r", hits);
        const float* pp = input_ptr<float>(phi, "phi", hits);
        const float* zp = input_ptr<float>(z, "z", hits);
        const float* ep = input_ptr<float>(eta, "eta", hits);
        const int64_t* sp = input_ptr<int64_t>(src, "src", edges);
        const int64_t* dp = input_ptr<int64_t>(dst, "dst", edges);
        float* op = output_ptr<float>(out, "out", edges * stride);
        py::gil_scoped_release release;
        trackpipe::doublet_features_cpu(rp, pp, zp, ep, hits, sp, dp, edges, s, op, stride, threads);
      },
      py::arg("r"), py::arg("phi"), py::arg("z"), py::arg("eta"), py::arg("src"), py::arg("dst"), py::arg("scales"),
      py::arg("out").noconvert(), py::arg("stride"), py::arg("threads"),
      "The 7 doublet features of each edge src -> dst into columns 0-6 of out (float32, rows of stride >= 7); "
      "scales: the detector's.");

  m.def(
      "triplet_features_cpu",
      [](const py::array& x, const py::array& y, const py::array& z, const py::array& src, const py::array& dst,
         const py::dict& scales, py::array out, int64_t stride, int64_t offset, int threads) {
        const py::ssize_t hits = x.size();
        const py::ssize_t edges = src.size();
        if (offset < 0 || offset + trackpipe::kTripletFeatures > stride) {
          throw py::value_error("offset: columns offset .. offset + 2 must lie in a row of stride");
        }
        trackpipe::TripletScales s;
        s.kappa_scale = scales["kappa_scale"].cast<double>();
        s.theta_scale = scales["theta_scale"].cast<double>();
        s.chi2_max = scales["chi2_max"].cast<double>();
        s.log_chi2_max = scales["log_chi2_max"].cast<double>();
        s.curvature_scale = scales["curvature_scale"].cast<double>();
        s.curvature_clamp = scales["curvature_clamp"].cast<double>();
        s.straight = scales["straight"].cast<bool>();
        const float* xp = input_ptr<float>(x, "x", hits);
        const float* yp = input_ptr<float>(y, "y", hits);
        const float* zp = input_ptr<float>(z, "z", hits);
        const int64_t* sp = input_ptr<int64_t>(src, "src", edges);
        const int64_t* dp = input_ptr<int64_t>(dst, "dst", edges);
        float* op = output_ptr<float>(out, "out", edges * stride);
        py::gil_scoped_release release;
        trackpipe::triplet_features_cpu(xp, yp, zp, hits, sp, dp, edges, s, op, stride, offset, threads);
      },
      py::arg("x"), py::arg("y"), py::arg("z"), py::arg("src"), py::arg("dst"), py::arg("scales"),
      py::arg("out").noconvert(), py::arg("stride"), py::arg("offset"), py::arg("threads"),
      "The 3 triplet features (curvature, triplet_in, triplet_out) of each edge src -> dst within that graph "
      "into columns offset .. offset + 2 of out (float32, rows of stride); see trackpipe/features.hpp.");

  m.def("nn_kernels_vectorised", &trackpipe::nn_kernels_vectorised,
        "True when the LayerNorm kernel runs its AVX2 + FMA path on this CPU.");
}
