// Walk-through track building on the CPU: ACORN's "CC and walk" (GNN4ITk track building), with a
// greedy best-edge walk instead of ACORN's enumeration of every branch above its add-on threshold,
// so that the cost stays linear in the number of edges.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "trackpipe/components.hpp"

namespace trackpipe {

int64_t walkthrough_cpu(const int64_t* src, const int64_t* dst, int64_t num_edges, const float* scores, float cut,
                        float walk_cut, int64_t num_nodes, const float* order, int64_t min_hits, int64_t* labels) {
  if (num_nodes <= 0) return 0;
  const auto n = static_cast<size_t>(num_nodes);
  auto walkable = [&](int64_t e) { return src[e] != dst[e] && (scores == nullptr || scores[e] > cut); };

  // Components of the kept graph; a self-loop never joins two nodes, so it may stay in.
  std::vector<int64_t> component(n);
  const int64_t num_components =
      connected_components_cpu(src, dst, num_edges, scores, cut, num_nodes, 1, component.data());

  std::vector<int32_t> in_degree(n, 0);
  std::vector<int64_t> out_offset(n + 1, 0);
  for (int64_t e = 0; e < num_edges; ++e) {
    if (!walkable(e)) continue;
    ++in_degree[dst[e]];
    ++out_offset[src[e] + 1];
  }
  std::partial_sum(out_offset.begin(), out_offset.end(), out_offset.begin());

  // A component is a simple path when no node branches or merges and it has no cycle (edges = nodes - 1).
  std::vector<int64_t> component_nodes(num_components, 0);
  std::vector<int64_t> component_edges(num_components, 0);
  std::vector<uint8_t> branching(num_components, 0);
  for (size_t v = 0; v < n; ++v) {
    const int64_t c = component[v];
    const int64_t out_degree = out_offset[v + 1] - out_offset[v];
    ++component_nodes[c];
    component_edges[c] += out_degree;
    if (out_degree > 1 || in_degree[v] > 1) branching[c] = 1;
  }
  std::vector<uint8_t> is_path(num_components);
  for (int64_t c = 0; c < num_components; ++c) {
    is_path[c] = !branching[c] && component_edges[c] == component_nodes[c] - 1;
  }

  // Raw track ids: a path component keeps its component id; walk number w gets num_components + w.
  constexpr int64_t kNoTrack = -1;
  std::vector<int64_t> raw(n, kNoTrack);
  std::vector<int64_t> walk_starts;
  for (size_t v = 0; v < n; ++v) {
    const int64_t c = component[v];
    if (!is_path[c]) {
      walk_starts.push_back(static_cast<int64_t>(v));
    } else if (component_nodes[c] >= min_hits) {
      raw[v] = c;
    }
  }
  if (!walk_starts.empty()) {
    if (order != nullptr) {
      // Stable on indices already ascending: ties in `order` fall back to the node index.
      std::stable_sort(walk_starts.begin(), walk_starts.end(),
                       [order](int64_t a, int64_t b) { return order[a] < order[b]; });
    }
    std::vector<int64_t> out_edges(static_cast<size_t>(out_offset[n]));
    {
      std::vector<int64_t> fill(out_offset.begin(), out_offset.end() - 1);
      for (int64_t e = 0; e < num_edges; ++e) {
        if (walkable(e)) out_edges[fill[src[e]]++] = e;
      }
    }
    std::vector<uint8_t> used(n, 0);
    std::vector<int64_t> track;
    int64_t num_walks = 0;
    auto walk_from = [&](int64_t start) {
      track.clear();
      int64_t current = start;
      used[current] = 1;
      track.push_back(current);
      while (true) {
        int64_t best = -1;
        // Edges of a node are stored in ascending index order, so a strict > keeps the lower index on ties.
        for (int64_t i = out_offset[current]; i < out_offset[current + 1]; ++i) {
          const int64_t e = out_edges[i];
          if (used[dst[e]]) continue;
          if (scores != nullptr && !(scores[e] > walk_cut)) continue;
          if (best < 0 || (scores != nullptr && scores[e] > scores[best])) best = e;
        }
        if (best < 0) break;
        current = dst[best];
        used[current] = 1;
        track.push_back(current);
      }
      if (static_cast<int64_t>(track.size()) >= min_hits) {
        for (int64_t v : track) raw[v] = num_components + num_walks;
        ++num_walks;
      }
    };
    for (int64_t v : walk_starts) {
      if (!used[v] && in_degree[v] == 0) walk_from(v);
    }
    // Nodes left over: targets of edges the walks did not take, and cycles with no entry point.
    for (int64_t v : walk_starts) {
      if (!used[v]) walk_from(v);
    }
  }

  // Compact: tracks numbered by their smallest node index, like connected_components_cpu.
  std::vector<int64_t> compact(static_cast<size_t>(num_components) + n, kNoTrack);
  int64_t next = 0;
  for (size_t v = 0; v < n; ++v) {
    const int64_t r = raw[v];
    if (r < 0) {
      labels[v] = kNoTrack;
      continue;
    }
    if (compact[r] < 0) compact[r] = next++;
    labels[v] = compact[r];
  }
  return next;
}

}  // namespace trackpipe
