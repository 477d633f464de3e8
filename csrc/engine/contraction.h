// Labelled strided operands and the contraction they describe:
//
//   out[batch, m, n] = sum_k a[batch, m, k] * b[batch, n, k]
//
// An index group holds Dims: a size and one stride per operand (in elements, any
// sign; 0 where the operand lacks the index). classify() builds the groups.
#pragma once
#include <string>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {
namespace engine {

// Spatial axes of a zero-padded window view at most (Operand::windows).
constexpr int kMaxWindowAxes = 3;

struct Dim {
  idx_t size;
  idx_t sa, sb, so;
  idx_t sbias = 0;  // the epilogue's bias (an operand over output labels), 0 where it lacks the index
  // a's coordinate along each padded window axis (Contraction::pad) per index step:
  // the window step for an output position, the dilation for a tap, else 0.
  idx_t sw[kMaxWindowAxes] = {0, 0, 0};
};

// One padded spatial axis of a window view: the coordinate c (output position *
// step + tap * dilation, Dim::sw) reads input index c - lo, a zero outside [0, size).
struct PadAxis {
  idx_t lo, size;
};

struct Contraction {
  std::vector<Dim> batch;  // in a, b and out
  std::vector<Dim> m;      // in a and out
  std::vector<Dim> n;      // in b and out
  std::vector<Dim> k;      // summed: in a and/or b, not in out
  std::string batch_labels, m_labels, n_labels, k_labels;  // the labels of each group, in order
  // The epilogue: out = act(out + bias) (bias: an operand over output labels, its
  // strides in the dims' sbias; act: an Act), applied once the sum is complete.
  bool bias = false;
  int act = 0;
  bool epilogue() const { return bias || act != 0; }
  // Zero padding (a's Operand::windows): a's element at coordinates c along the padded
  // axes is the input's at c - lo, zero outside it. The caller's a is the input's data
  // pointer (the view as if every lo were 0); the path reads from pad_origin elements
  // before it, only where the coordinates are inside the input.
  std::vector<PadAxis> pad;
  idx_t pad_origin = 0;
};

// A padded spatial axis of an operand that is a window view (a conv's input): output
// label o and tap label k, input index o*step + k*dilation - lo, zeros outside
// [0, size); x_stride: the input's stride along the axis (elements).
struct WindowAxis {
  char o, k;
  idx_t lo, size, step, dilation, x_stride;
};

// One labelled strided operand: one label per axis, strides in elements. windows
// (a only): the view's padded axes; its data pointer is the input's own (the view
// with every lo taken as 0).
struct Operand {
  std::string labels;
  std::vector<idx_t> shape;
  std::vector<idx_t> strides;
  std::vector<WindowAxis> windows;
};

// Builds the descriptor from labelled operands (b may be null: one operand; bias null:
// no bias, else an operand over some of out's labels). Returns an empty string on
// success, otherwise what is wrong: labels that do not match, sizes that disagree, or
// sizes whose products overflow.
std::string classify(const Operand& a, const Operand* b, const Operand& out, Contraction& d,
                     const Operand* bias = nullptr);

// A C-contiguous operand with these labels, sizes taken from the inputs (strides, no
// memory); a label in no input gets size -1.
Operand virtual_operand(const std::string& labels, const std::vector<const Operand*>& inputs);

// Elements an operand holds (its shape's product).
idx_t elements(const Operand& op);

}  // namespace engine
}  // namespace fastconv
