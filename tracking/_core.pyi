# Stubs for the compiled module tracking._core (csrc/bindings/*.cpp). Private: use tracking.ops.
# CPU entry points take numpy arrays (array_t arguments convert array-likes; plain ndarray arguments must
# already have the right dtype and be C-contiguous, outputs are written in place). CUDA entry points take
# device pointers as integers (torch's data_ptr()) and the CUDA stream handle as an integer.
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__version__: str
NUM_CUT_VARIABLES: int

class NoCudaError(RuntimeError): ...
class CudaError(RuntimeError): ...

# bind_info.cpp
def cuda_compiled() -> bool: ...
def cuda_device_count() -> int: ...
def cuda_device_description(index: int) -> str: ...
def openmp_compiled() -> bool: ...
def max_threads() -> int: ...
def set_max_threads(n: int) -> None: ...

# bind_graph.cpp
def triplet_best_cpu(
    src: npt.ArrayLike,
    dst: npt.ArrayLike,
    kappa: npt.ArrayLike,
    theta: npt.ArrayLike,
    n_nodes: int,
    kappa_scale: float,
    theta_scale: float,
    chi2_max: float,
    best_in: npt.NDArray[np.float64],
    best_out: npt.NDArray[np.float64],
) -> None: ...
def build_doublets_cpu(
    r: npt.ArrayLike,
    phi: npt.ArrayLike,
    z: npt.ArrayLike,
    eta: npt.ArrayLike,
    hit_index: npt.ArrayLike,
    group_offsets: npt.ArrayLike,
    src_group: npt.ArrayLike,
    dst_group: npt.ArrayLike,
    cut_min: npt.ArrayLike,
    cut_max: npt.ArrayLike,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def doublets_count_cuda(
    n_hits: int,
    r: int,
    phi: int,
    z: int,
    eta: int,
    hit_index: int,
    n_groups: int,
    group_offsets: int,
    n_entries: int,
    src_group: int,
    dst_group: int,
    cut_min: int,
    cut_max: int,
    entry_item_offsets: int,
    n_items: int,
    item_counts: int,
    stream: int,
) -> None: ...
def doublets_fill_cuda(
    n_hits: int,
    r: int,
    phi: int,
    z: int,
    eta: int,
    hit_index: int,
    n_groups: int,
    group_offsets: int,
    n_entries: int,
    src_group: int,
    dst_group: int,
    cut_min: int,
    cut_max: int,
    entry_item_offsets: int,
    n_items: int,
    item_edge_offsets: int,
    out_src: int,
    out_dst: int,
    stream: int,
) -> None: ...
def radius_graph_cpu(
    points: npt.ArrayLike, dim: int, radius: float, k_max: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]: ...
def radius_count_cuda(
    n: int,
    dim: int,
    n_hash: int,
    radius: float,
    sorted_points: int,
    sorted_index: int,
    cell_coord: int,
    n_cells: int,
    cell_keys: int,
    cell_offsets: int,
    extent: Sequence[int],
    stride: Sequence[int],
    counts: int,
    stream: int,
) -> None: ...
def radius_fill_cuda(
    n: int,
    dim: int,
    n_hash: int,
    radius: float,
    sorted_points: int,
    sorted_index: int,
    cell_coord: int,
    n_cells: int,
    cell_keys: int,
    cell_offsets: int,
    extent: Sequence[int],
    stride: Sequence[int],
    offsets: int,
    out_src: int,
    out_dst: int,
    out_dist2: int,
    stream: int,
) -> None: ...

# bind_components.cpp
def connected_components_cpu(
    edge_index: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32] | None,
    cut: float,
    num_nodes: int,
    min_hits: int,
    labels: npt.NDArray[np.int64],
) -> int: ...
def connected_components_cuda(
    src: int,
    dst: int,
    num_edges: int,
    scores: int,
    cut: float,
    num_nodes: int,
    min_hits: int,
    labels: int,
    stream: int,
) -> int: ...
def junction_removal_cpu(
    edge_index: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    cut: float,
    num_nodes: int,
    keep: npt.NDArray[np.bool_],
) -> None: ...
def junction_removal_cuda(
    src: int, dst: int, num_edges: int, scores: int, cut: float, num_nodes: int, keep: int, stream: int
) -> None: ...
def walkthrough_cpu(
    edge_index: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32] | None,
    cut: float,
    walk_cut: float,
    num_nodes: int,
    order: npt.NDArray[np.float32] | None,
    min_hits: int,
    labels: npt.NDArray[np.int64],
) -> int: ...

# bind_nn.cpp
def mlp_rows_cpu(
    dense: npt.NDArray[np.float32] | None,
    rows: int,
    gathers: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]],
    layers: list[tuple[object, ...]],
    out: npt.NDArray[np.float32],
    accumulate: bool,
    threads: int,
) -> None: ...
def layer_norm_act_cpu(
    x: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None,
    gamma: npt.NDArray[np.float32],
    beta: npt.NDArray[np.float32],
    eps: float,
    activation: int,
    threads: int,
) -> None: ...
def gather_add_cpu(
    out: npt.NDArray[np.float32], table: npt.NDArray[np.float32], index: npt.NDArray[np.int64], threads: int
) -> None: ...
def index_add_rows_cpu(
    out: npt.NDArray[np.float32], values: npt.NDArray[np.float32], index: npt.NDArray[np.int64], threads: int
) -> None: ...
def segment_sum_rows_cpu(
    out: npt.NDArray[np.float32],
    column: int,
    values: npt.NDArray[np.float32],
    order: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    threads: int,
) -> None: ...
def doublet_features_cpu(
    r: npt.NDArray[np.float32],
    phi: npt.NDArray[np.float32],
    z: npt.NDArray[np.float32],
    eta: npt.NDArray[np.float32],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    scales: dict[str, float],
    out: npt.NDArray[np.float32],
    stride: int,
    threads: int,
) -> None: ...
def triplet_features_cpu(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    z: npt.NDArray[np.float32],
    src: npt.NDArray[np.int64],
    dst: npt.NDArray[np.int64],
    scales: dict[str, float | bool],
    out: npt.NDArray[np.float32],
    stride: int,
    offset: int,
    threads: int,
) -> None: ...
def nn_kernels_vectorised() -> bool: ...
