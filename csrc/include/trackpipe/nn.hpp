// Row-wise kernels for the CPU inference of the edge classifiers (tracking.nn.fused): the element-wise steps
// between their matrix products, fused so that each row block is read and written once per step instead of
// once per torch operator. Plain C++ (x86-64 gets an AVX2 + FMA path chosen at run time); no torch.
#pragma once

#include <cstdint>

namespace trackpipe {

enum class Activation : int { none = 0, silu = 1, relu = 2 };

// In place, each row of x [rows, width]: with v = x + bias (bias may be null: v = x),
// act(gamma * (v - mean) / sqrt(var + eps) + beta), with the mean and the biased variance of v over the row
// (a Linear layer's bias, torch.nn.LayerNorm over the last dimension, then the activation).
void layer_norm_act_cpu(float* x, int64_t rows, int64_t width, const float* bias, const float* gamma,
                        const float* beta, float eps, Activation act, int threads);

// out[i, :] += table[index[i], :] for i < rows (table has table_rows rows; an index outside it throws
// std::out_of_range before anything is written).
void gather_add_cpu(float* out, const float* table, int64_t table_rows, const int64_t* index, int64_t rows,
                    int64_t width, int threads);

// out[index[i], :] += values[i, :] for i < rows, in increasing i for every element (the order of torch's
// index_add_ on the CPU, so the same sums); out has out_rows rows (an index outside throws std::out_of_range
// before anything is written).
void index_add_rows_cpu(float* out, int64_t out_rows, const float* values, const int64_t* index, int64_t rows,
                        int64_t width, int threads);

// For every row i < out_rows: out[i, column : column + width] = sum over k in [offsets[i], offsets[i + 1]) of
// values[order[k], :], summed in increasing k (out has out_width columns; values has value_rows rows of width
// columns). With order a stable sort of an index by node, the same sums as index_add_ in edge order, written
// once per row (no zero fill, no scatter). Bad offsets or order entries throw before anything is written.
void segment_sum_rows_cpu(float* out, int64_t out_rows, int64_t out_width, int64_t column, const float* values,
                          int64_t value_rows, int64_t width, const int64_t* order, const int64_t* offsets,
                          int threads);

// Whether the AVX2 + FMA path runs on this CPU.
bool nn_kernels_vectorised() noexcept;

}  // namespace trackpipe

namespace trackpipe {

// One Linear layer of an MLP and what follows it: y = act(LayerNorm(x @ weight^T + bias)), the LayerNorm left
// out when gamma is null (then y = act(x @ weight^T + bias)); bias may be null.
struct DenseLayer {
  const float* weight;  // [out, in], row-major (torch.nn.Linear.weight)
  const float* bias;    // [out] or null
  const float* gamma;   // [out] LayerNorm weight, or null (no LayerNorm)
  const float* beta;    // [out] LayerNorm bias (with gamma)
  float eps;
  Activation act;
  int64_t in;
  int64_t out;
};

// A block of the first layer's input that is multiplied once per table row beforehand: row r of the first
// layer's output gets table[index[r]] added (table [table_rows, layers[0].out], rows at stride ld).
struct RowGather {
  const float* table;
  int64_t table_rows;
  int64_t ld;
  const int64_t* index;
};

// A whole MLP on rows, fused: for every row r < rows, the first layer's product is
// dense[r, :] @ layers[0].weight^T (dense: layers[0].in floats per row at stride ld_dense; in = 0: no dense
// block) plus table[index[r]] of every gather, then layer 0's bias, LayerNorm and activation, then each further
// layer in turn. The last layer's output (layers[n_layers - 1].out columns) is written to row r of out (row
// stride ld_out), or added to it (accumulate: residual updates). Rows are processed in small chunks whose
// activations stay in the L1/L2 cache from layer to layer; the matrix products use register-tiled AVX2 + FMA
// kernels (scalar loops elsewhere), each output summed over k in increasing order. Every hidden width must be a
// multiple of 16, the last one too or 1 (a bare Linear: a dot product per row). A chunk reads its own rows of
// dense and writes its own rows of out only, so out may alias dense row by row (an in-place residual update).
// Bad shapes or an index outside its table throw before anything is written.
void mlp_rows_cpu(const float* dense, int64_t ld_dense, int64_t rows, const RowGather* gathers, int n_gathers,
                  const DenseLayer* layers, int n_layers, float* out, int64_t ld_out, bool accumulate, int threads);

}  // namespace trackpipe
