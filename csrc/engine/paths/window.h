// Depthwise convolution over strided, dilated, zero-padded windows, read in place: each
// output pixel sums the taps of its window that lie inside x (the others are the
// padding's zeros, never read), with the tap-reduce kernel. A call does what a padded
// copy of x would give, without the copy.
#pragma once
#include "engine/contraction.h"

namespace fastconv {
namespace engine {

// out[b, O, c] = act(sum_K x[b, O * stride + K * dilation - lo, c] * w[K, c] + bias[c])
// over the taps inside x; n spatial axes (1 to 3); strides in elements, channels unit.
struct WindowConv {
  static constexpr int kMaxAxes = 3;
  int n = 0, act = 0;
  idx_t batch = 0, c = 0;
  idx_t S[kMaxAxes] = {}, K[kMaxAxes] = {}, O[kMaxAxes] = {};
  idx_t stride[kMaxAxes] = {}, dilation[kMaxAxes] = {}, lo[kMaxAxes] = {};
  idx_t xb = 0, xs[kMaxAxes] = {};  // x's batch and spatial strides
  idx_t ob = 0, os[kMaxAxes] = {};  // out's
  idx_t ws[kMaxAxes] = {};          // w's kernel-axis strides
};

// bias: c values (unit stride) or null.
template <class T>
void depthwise_window(const WindowConv& g, const T* x, const T* w, const T* bias, T* out, const KernelTable& kt,
                      int nthreads);

}  // namespace engine
}  // namespace fastconv
