// Track building: connected components, junction removal, walk-through.
// CPU entry points take numpy arrays (checked again here, cheaply, because a wrong dtype would be
// memory corruption); CUDA entry points take device pointers as integers and the stream, because the
// extension does not link torch. Full validation (index range, devices) is in tracking.ops.components.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "arrays.hpp"
#include "trackpipe/components.hpp"

namespace py = pybind11;

namespace {

using trackpipe_bindings::input_ptr;
using trackpipe_bindings::output_ptr;

struct EdgeList {
  const int64_t* src;
  const int64_t* dst;
  int64_t num_edges;
};

EdgeList edge_list(const py::array& edge_index) {
  if (edge_index.ndim() != 2 || edge_index.shape(0) != 2) throw py::value_error("edge_index: expected shape [2, E]");
  const int64_t* data = input_ptr<int64_t>(edge_index, "edge_index", edge_index.size());
  const int64_t num_edges = edge_index.shape(1);
  return {data, data + num_edges, num_edges};
}

const float* optional_floats(const std::optional<py::array>& array, const char* name, py::ssize_t size) {
  return array ? input_ptr<float>(*array, name, size) : nullptr;
}

template <class T>
T* device_ptr(std::uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

}  // namespace

void bind_components(py::module_& m) {
  m.def(
      "connected_components_cpu",
      [](const py::array& edge_index, const std::optional<py::array>& scores, float cut, int64_t num_nodes,
         int64_t min_hits, py::array labels) {
        const EdgeList edges = edge_list(edge_index);
        const float* score_ptr = optional_floats(scores, "scores", edges.num_edges);
        int64_t* label_ptr = output_ptr<int64_t>(labels, "labels", num_nodes);
        py::gil_scoped_release release;
        return trackpipe::connected_components_cpu(edges.src, edges.dst, edges.num_edges, score_ptr, cut, num_nodes,
                                                   min_hits, label_ptr);
      },
      py::arg("edge_index"), py::arg("scores").none(true), py::arg("cut"), py::arg("num_nodes"), py::arg("min_hits"),
      py::arg("labels").noconvert(),
      "Labels of the connected components of the edges with score > cut; returns their number.");

  m.def(
      "connected_components_cuda",
      [](std::uintptr_t src, std::uintptr_t dst, int64_t num_edges, std::uintptr_t scores, float cut,
         int64_t num_nodes, int64_t min_hits, std::uintptr_t labels, std::uintptr_t stream) {
        py::gil_scoped_release release;
        return trackpipe::connected_components_cuda(
            device_ptr<const int64_t>(src), device_ptr<const int64_t>(dst), num_edges,
            device_ptr<const float>(scores), cut, num_nodes, min_hits, device_ptr<int64_t>(labels),
            device_ptr<void>(stream));
      },
      py::arg("src"), py::arg("dst"), py::arg("num_edges"), py::arg("scores"), py::arg("cut"), py::arg("num_nodes"),
      py::arg("min_hits"), py::arg("labels"), py::arg("stream"),
      "Device twin of connected_components_cpu on raw device pointers (scores = 0: all edges kept).");

  m.def(
      "junction_removal_cpu",
      [](const py::array& edge_index, const py::array& scores, float cut, int64_t num_nodes, py::array keep) {
        const EdgeList edges = edge_list(edge_index);
        const float* score_ptr = input_ptr<float>(scores, "scores", edges.num_edges);
        bool* keep_ptr = output_ptr<bool>(keep, "keep", edges.num_edges);
        py::gil_scoped_release release;
        trackpipe::junction_removal_cpu(edges.src, edges.dst, edges.num_edges, score_ptr, cut, num_nodes, keep_ptr);
      },
      py::arg("edge_index"), py::arg("scores"), py::arg("cut"), py::arg("num_nodes"), py::arg("keep").noconvert(),
      "Marks the edges with score > cut that are the best out-edge of their source and in-edge of their target.");

  m.def(
      "junction_removal_cuda",
      [](std::uintptr_t src, std::uintptr_t dst, int64_t num_edges, std::uintptr_t scores, float cut,
         int64_t num_nodes, std::uintptr_t keep, std::uintptr_t stream) {
        py::gil_scoped_release release;
        trackpipe::junction_removal_cuda(device_ptr<const int64_t>(src), device_ptr<const int64_t>(dst), num_edges,
                                         device_ptr<const float>(scores), cut, num_nodes, device_ptr<bool>(keep),
                                         device_ptr<void>(stream));
      },
      py::arg("src"), py::arg("dst"), py::arg("num_edges"), py::arg("scores"), py::arg("cut"), py::arg("num_nodes"),
      py::arg("keep"), py::arg("stream"), "Device twin of junction_removal_cpu on raw device pointers.");

  m.def(
      "walkthrough_cpu",
      [](const py::array& edge_index, const std::optional<py::array>& scores, float cut, float walk_cut,
         int64_t num_nodes, const std::optional<py::array>& order, int64_t min_hits, py::array labels) {
        const EdgeList edges = edge_list(edge_index);
        const float* score_ptr = optional_floats(scores, "scores", edges.num_edges);
        const float* order_ptr = optional_floats(order, "order", num_nodes);
        int64_t* label_ptr = output_ptr<int64_t>(labels, "labels", num_nodes);
        py::gil_scoped_release release;
        return trackpipe::walkthrough_cpu(edges.src, edges.dst, edges.num_edges, score_ptr, cut, walk_cut, num_nodes,
                                          order_ptr, min_hits, label_ptr);
      },
      py::arg("edge_index"), py::arg("scores").none(true), py::arg("cut"), py::arg("walk_cut"), py::arg("num_nodes"),
      py::arg("order").none(true), py::arg("min_hits"), py::arg("labels").noconvert(),
      "Walk-through track labels (simple-path components, then greedy best-edge walks); returns the track count.");
}
