// The engine: every operation is a contraction over strided views.
//
//   out[batch, m, n] = sum_k a[batch, m, k] * b[batch, n, k]
//
// An index group holds Dims: a size and one stride per operand (in elements, any
// sign; 0 where the operand lacks the index). The driver picks a path from the
// groups: the memory-bound tap-reduce path when N is empty (depthwise, filter,
// channel conv), the permutation path for one operand (channel shuffle).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {
namespace engine {

struct Dim {
  idx_t size;
  idx_t sa, sb, so;
};

struct Contraction {
  std::vector<Dim> batch;  // in a, b and out
  std::vector<Dim> m;      // in a and out
  std::vector<Dim> n;      // in b and out
  std::vector<Dim> k;      // summed: in a and/or b, not in out
  std::string batch_labels, m_labels, n_labels, k_labels;  // the labels of each group, in order
};

// One labelled strided operand: one label per axis, strides in elements.
struct Operand {
  std::string labels;
  std::vector<idx_t> shape;
  std::vector<idx_t> strides;
};

// Builds the descriptor from labelled operands (b may be null: one operand).
// Returns an empty string on success, otherwise what is wrong.
std::string classify(const Operand& a, const Operand* b, const Operand& out, Contraction& d);

// Run a contraction (b null: one operand, a permutation). Returns an empty
// string on success, otherwise why the engine has no path for this descriptor
// (nothing has been written to out then).
template <class T>
std::string run(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt,
                int nthreads);

// The path run() would take ("permute", "tapreduce" or "gemm") and, where it has
// none, why (as run() would return). Reads no operand data.
std::pair<std::string, std::string> explain(const Contraction& d, bool has_b);

// A chain: D = a x b (a tap-reduce stage, N empty), then out = D x c (a GEMM).
// d1 and d2 describe D as a virtual C-contiguous operand: D is computed a block
// of rows at a time into a cache-resident buffer and never stored whole.
template <class T>
std::string run_fused(const Contraction& d1, const Contraction& d2, const T* a, const T* b, const T* c, T* out,
                      const KernelTable& kt, int nthreads);

}  // namespace engine
}  // namespace fastconv
