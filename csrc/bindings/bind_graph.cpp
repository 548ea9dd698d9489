// Graph building: doublet builder and fixed-radius neighbours. The Python wrappers in
// tracking/ops/graph.py validate every argument; these functions only convert and release the GIL.
// CUDA entry points take device pointers as integers (torch's data_ptr()) and the stream handle.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "trackpipe/graph.hpp"
#include "trackpipe/triplets.hpp"

namespace py = pybind11;
using trackpipe::DoubletInput;
using trackpipe::EdgeList;
using trackpipe::RadiusGridInput;

namespace {

template <typename T>
using carray = py::array_t<T, py::array::c_style>;

template <typename T>
const T* ptr(const carray<T>& a) {
  return a.data();
}

template <typename T>
const T* dptr(std::uintptr_t p) {
  return reinterpret_cast<const T*>(p);
}

// The vector's buffer becomes the array's memory: no copy of a possibly large edge list.
py::array_t<int64_t> to_numpy(std::vector<int64_t>&& v) {
  auto* owner = new std::vector<int64_t>(std::move(v));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<int64_t>*>(p); });
  return py::array_t<int64_t>(static_cast<py::ssize_t>(owner->size()), owner->data(), free_when_done);
}

DoubletInput doublet_input(int64_t n_hits, std::uintptr_t r, std::uintptr_t phi, std::uintptr_t z, std::uintptr_t eta,
                           std::uintptr_t hit_index, int64_t n_groups, std::uintptr_t group_offsets,
                           int64_t n_entries, std::uintptr_t src_group, std::uintptr_t dst_group,
                           std::uintptr_t cut_min, std::uintptr_t cut_max) {
  DoubletInput in;
  in.n_hits = n_hits;
  in.r = dptr<float>(r);
  in.phi = dptr<float>(phi);
  in.z = dptr<float>(z);
  in.eta = dptr<float>(eta);
  in.hit_index = dptr<int64_t>(hit_index);
  in.n_groups = n_groups;
  in.group_offsets = dptr<int64_t>(group_offsets);
  in.n_entries = n_entries;
  in.src_group = dptr<int32_t>(src_group);
  in.dst_group = dptr<int32_t>(dst_group);
  in.cut_min = dptr<float>(cut_min);
  in.cut_max = dptr<float>(cut_max);
  return in;
}

}  // namespace

void bind_graph(py::module_& m) {
  m.attr("NUM_CUT_VARIABLES") = trackpipe::kNumCutVariables;

  m.def(
      "triplet_best_cpu",
      [](const carray<int64_t>& src, const carray<int64_t>& dst, const carray<double>& kappa,
         const carray<double>& theta, int64_t n_nodes, double kappa_scale, double theta_scale, double chi2_max,
         py::array_t<double, py::array::c_style>& best_in, py::array_t<double, py::array::c_style>& best_out) {
        trackpipe::TripletInput in;
        in.n_edges = src.size();
        in.n_nodes = n_nodes;
        in.src = ptr(src);
        in.dst = ptr(dst);
        in.kappa = ptr(kappa);
        in.theta = ptr(theta);
        in.kappa_scale = kappa_scale;
        in.theta_scale = theta_scale;
        in.chi2_max = chi2_max;
        double* out_in = best_in.mutable_data();
        double* out_out = best_out.mutable_data();
        py::gil_scoped_release release;
        trackpipe::triplet_best_cpu(in, out_in, out_out);
      },
      py::arg("src"), py::arg("dst"), py::arg("kappa"), py::arg("theta"), py::arg("n_nodes"), py::arg("kappa_scale"),
      py::arg("theta_scale"), py::arg("chi2_max"), py::arg("best_in"), py::arg("best_out"),
      "Best triplet chi2 into / out of every edge (serial CPU); see trackpipe/triplets.hpp.");

  m.def(
      "build_doublets_cpu",
      [](const carray<float>& r, const carray<float>& phi, const carray<float>& z, const carray<float>& eta,
         const carray<int64_t>& hit_index, const carray<int64_t>& group_offsets, const carray<int32_t>& src_group,
         const carray<int32_t>& dst_group, const carray<float>& cut_min, const carray<float>& cut_max) {
        DoubletInput in;
        in.n_hits = r.size();
        in.r = ptr(r);
        in.phi = ptr(phi);
        in.z = ptr(z);
        in.eta = ptr(eta);
        in.hit_index = ptr(hit_index);
        in.n_groups = group_offsets.size() - 1;
        in.group_offsets = ptr(group_offsets);
        in.n_entries = src_group.size();
        in.src_group = ptr(src_group);
        in.dst_group = ptr(dst_group);
        in.cut_min = ptr(cut_min);
        in.cut_max = ptr(cut_max);
        EdgeList edges;
        {
          py::gil_scoped_release release;
          edges = trackpipe::build_doublets_cpu(in);
        }
        return py::make_tuple(to_numpy(std::move(edges.src)), to_numpy(std::move(edges.dst)));
      },
      py::arg("r"), py::arg("phi"), py::arg("z"), py::arg("eta"), py::arg("hit_index"), py::arg("group_offsets"),
      py::arg("src_group"), py::arg("dst_group"), py::arg("cut_min"), py::arg("cut_max"),
      "Doublets over (group, phi)-sorted hits; use tracking.ops.build_doublets.");

  m.def(
      "doublets_count_cuda",
      [](int64_t n_hits, std::uintptr_t r, std::uintptr_t phi, std::uintptr_t z, std::uintptr_t eta,
         std::uintptr_t hit_index, int64_t n_groups, std::uintptr_t group_offsets, int64_t n_entries,
         std::uintptr_t src_group, std::uintptr_t dst_group, std::uintptr_t cut_min, std::uintptr_t cut_max,
         std::uintptr_t entry_item_offsets, int64_t n_items, std::uintptr_t item_counts, std::uintptr_t stream) {
        const DoubletInput in = doublet_input(n_hits, r, phi, z, eta, hit_index, n_groups, group_offsets, n_entries,
                                              src_group, dst_group, cut_min, cut_max);
        py::gil_scoped_release release;
        trackpipe::doublets_count_cuda(in, dptr<int64_t>(entry_item_offsets), n_items,
                                       reinterpret_cast<int64_t*>(item_counts), reinterpret_cast<void*>(stream));
      },
      py::arg("n_hits"), py::arg("r"), py::arg("phi"), py::arg("z"), py::arg("eta"), py::arg("hit_index"),
      py::arg("n_groups"), py::arg("group_offsets"), py::arg("n_entries"), py::arg("src_group"), py::arg("dst_group"),
      py::arg("cut_min"), py::arg("cut_max"), py::arg("entry_item_offsets"), py::arg("n_items"), py::arg("item_counts"),
      py::arg("stream"), "Doublet count per work item on raw device pointers; use tracking.ops.build_doublets.");

  m.def(
      "doublets_fill_cuda",
      [](int64_t n_hits, std::uintptr_t r, std::uintptr_t phi, std::uintptr_t z, std::uintptr_t eta,
         std::uintptr_t hit_index, int64_t n_groups, std::uintptr_t group_offsets, int64_t n_entries,
         std::uintptr_t src_group, std::uintptr_t dst_group, std::uintptr_t cut_min, std::uintptr_t cut_max,
         std::uintptr_t entry_item_offsets, int64_t n_items, std::uintptr_t item_edge_offsets, std::uintptr_t out_src,
         std::uintptr_t out_dst, std::uintptr_t stream) {
        const DoubletInput in = doublet_input(n_hits, r, phi, z, eta, hit_index, n_groups, group_offsets, n_entries,
                                              src_group, dst_group, cut_min, cut_max);
        py::gil_scoped_release release;
        trackpipe::doublets_fill_cuda(in, dptr<int64_t>(entry_item_offsets), n_items,
                                      dptr<int64_t>(item_edge_offsets), reinterpret_cast<int64_t*>(out_src),
                                      reinterpret_cast<int64_t*>(out_dst), reinterpret_cast<void*>(stream));
      },
      py::arg("n_hits"), py::arg("r"), py::arg("phi"), py::arg("z"), py::arg("eta"), py::arg("hit_index"),
      py::arg("n_groups"), py::arg("group_offsets"), py::arg("n_entries"), py::arg("src_group"), py::arg("dst_group"),
      py::arg("cut_min"), py::arg("cut_max"), py::arg("entry_item_offsets"), py::arg("n_items"),
      py::arg("item_edge_offsets"), py::arg("out_src"), py::arg("out_dst"), py::arg("stream"),
      "Doublets of every work item from its offset, on raw device pointers; use tracking.ops.build_doublets.");

  m.def(
      "radius_graph_cpu",
      [](const carray<float>& points, int dim, float radius, int64_t k_max) {
        const int64_t n = dim > 0 ? points.size() / dim : 0;
        EdgeList edges;
        {
          py::gil_scoped_release release;
          edges = trackpipe::radius_graph_cpu(ptr(points), n, dim, radius, k_max);
        }
        return py::make_tuple(to_numpy(std::move(edges.src)), to_numpy(std::move(edges.dst)), edges.n_capped);
      },
      py::arg("points"), py::arg("dim"), py::arg("radius"), py::arg("k_max"),
      "Fixed-radius neighbours; use tracking.ops.radius_graph.");

  auto grid_input = [](int64_t n, int dim, int n_hash, float radius, std::uintptr_t sorted_points,
                       std::uintptr_t sorted_index, std::uintptr_t cell_coord, int64_t n_cells, std::uintptr_t cell_keys,
                       std::uintptr_t cell_offsets, std::vector<int64_t> extent, std::vector<int64_t> stride) {
    RadiusGridInput in;
    in.n = n;
    in.dim = dim;
    in.n_hash = n_hash;
    in.radius = radius;
    in.sorted_points = dptr<float>(sorted_points);
    in.sorted_index = dptr<int64_t>(sorted_index);
    in.cell_coord = dptr<int32_t>(cell_coord);
    in.n_cells = n_cells;
    in.cell_keys = dptr<int64_t>(cell_keys);
    in.cell_offsets = dptr<int64_t>(cell_offsets);
    for (int k = 0; k < 3; ++k) {
      in.cell_extent[k] = k < static_cast<int>(extent.size()) ? extent[k] : 1;
      in.cell_stride[k] = k < static_cast<int>(stride.size()) ? stride[k] : 0;
    }
    return in;
  };

  m.def("radius_count_cuda", [grid_input](int64_t n, int dim, int n_hash, float radius, std::uintptr_t sorted_points,
                                          std::uintptr_t sorted_index, std::uintptr_t cell_coord, int64_t n_cells,
                                          std::uintptr_t cell_keys, std::uintptr_t cell_offsets,
                                          std::vector<int64_t> extent, std::vector<int64_t> stride,
                                          std::uintptr_t counts, std::uintptr_t stream) {
    const RadiusGridInput in = grid_input(n, dim, n_hash, radius, sorted_points, sorted_index, cell_coord, n_cells,
                                          cell_keys, cell_offsets, std::move(extent), std::move(stride));
    py::gil_scoped_release release;
    trackpipe::radius_count_cuda(in, reinterpret_cast<int64_t*>(counts), reinterpret_cast<void*>(stream));
  },
        py::arg("n"), py::arg("dim"), py::arg("n_hash"), py::arg("radius"), py::arg("sorted_points"),
        py::arg("sorted_index"), py::arg("cell_coord"), py::arg("n_cells"), py::arg("cell_keys"),
        py::arg("cell_offsets"), py::arg("extent"), py::arg("stride"), py::arg("counts"), py::arg("stream"),
        "Neighbour count per sorted point on raw device pointers; use tracking.ops.radius_graph.");

  m.def("radius_fill_cuda", [grid_input](int64_t n, int dim, int n_hash, float radius, std::uintptr_t sorted_points,
                                         std::uintptr_t sorted_index, std::uintptr_t cell_coord, int64_t n_cells,
                                         std::uintptr_t cell_keys, std::uintptr_t cell_offsets,
                                         std::vector<int64_t> extent, std::vector<int64_t> stride,
                                         std::uintptr_t offsets, std::uintptr_t out_src, std::uintptr_t out_dst,
                                         std::uintptr_t out_dist2, std::uintptr_t stream) {
    const RadiusGridInput in = grid_input(n, dim, n_hash, radius, sorted_points, sorted_index, cell_coord, n_cells,
                                          cell_keys, cell_offsets, std::move(extent), std::move(stride));
    py::gil_scoped_release release;
    trackpipe::radius_fill_cuda(in, dptr<int64_t>(offsets), reinterpret_cast<int64_t*>(out_src),
                                reinterpret_cast<int64_t*>(out_dst), reinterpret_cast<float*>(out_dist2),
                                reinterpret_cast<void*>(stream));
  },
        py::arg("n"), py::arg("dim"), py::arg("n_hash"), py::arg("radius"), py::arg("sorted_points"),
        py::arg("sorted_index"), py::arg("cell_coord"), py::arg("n_cells"), py::arg("cell_keys"),
        py::arg("cell_offsets"), py::arg("extent"), py::arg("stride"), py::arg("offsets"), py::arg("out_src"),
        py::arg("out_dst"), py::arg("out_dist2"), py::arg("stream"),
        "Neighbour pairs and squared distances from each point's offset, on raw device pointers; use "
        "tracking.ops.radius_graph.");
}
