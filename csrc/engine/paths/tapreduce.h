// The memory-bound paths of contractions without an N group (depthwise, filter,
// channel conv, reductions): the tap-reduce stage's plan, shared with the fused
// chain, and the choice between tap-reduce and the dot path.
#pragma once
#include <string>
#include <vector>

#include "engine/contraction.h"
#include "engine/buffer.h"

namespace fastconv {
namespace engine {

// The tap-reduce stage's shape: a vector axis of L lanes unit-stride in a (an output
// axis, or a summed one of `seg` lanes under an output axis that tiles it), the
// taps (the other summed dims), and the pixel space (outer dims x one inner dim).
struct TapShape {
  Dim lane{1, 1, 0, 1}, tile{1, 0, 0, 0};
  std::vector<Dim> ks;
  std::vector<Dim> outer;
  Dim inner{1, 0, 0, 0};
  idx_t L = 1, seg = 1, ntaps = 1;
  idx_t npix() const;
};

// Requires N empty. An error where b varies along an output axis other than the
// vector axis (the dot path serves that).
std::string tap_shape(const Contraction& d, TapShape& s);

// The stage planned whole: taps and packed weights for every tap.
template <class T>
struct TapPlan {
  TapShape s;
  std::vector<idx_t> taps;
  Buffer<T> w;     // [ntaps][L]
  Buffer<T> bias;  // the epilogue's bias of each output lane ([L / seg]; empty: none)
  int act = 0;
  idx_t row = 0;   // the kernel's rows of stride-1 windows (contracts.h; 0: none)
};

// Whether d's bias varies only along the lanes (what tap-reduce's epilogue adds).
bool tap_bias_on_lanes(const TapShape& s);
// The bias of each output lane j < L / seg (lane index j * seg).
template <class T>
void tap_bias(const TapShape& s, const T* bias, Buffer<T>& out);

// Sums of at most this many taps are computed in one pass (a sequential sum per
// lane); longer ones tap chunk by tap chunk, the chunks summed pairwise.
constexpr idx_t kTapChunk = 256;
// Weights of at most this many elements are packed once for the whole call.
constexpr idx_t kMaxPackedTaps = idx_t(1) << 18;

// Rows of k taps, windows step taps apart along the pixels, have the kernel's sliding
// tiles (TapReduceArgs::row and row_step; kernels/impl/tapreduce.h: slide_pixels).
inline bool tap_row_slides(idx_t k, idx_t step = 1) {
  return step == 1 ? k == 3 || k == 5 || k == 7 : step == 2 && k == 3;
}

// Which path serves a contraction without an N group.
enum class Reduce { kTap, kTapLong, kDot };
Reduce reduce_route(const Contraction& d);

// long_run: the pixels the kernel walks may be along the longest pixel dim where the
// innermost is short (tapreduce.cpp: prefer_long_run).
template <class T>
std::string make_tap_plan(const Contraction& d, const T* b, TapPlan<T>& p, const T* bias = nullptr,
                          bool long_run = false);

template <class T>
TapReduceArgs<T> tap_args(const TapPlan<T>& p, const T* a, T* out, idx_t npix, T* scratch) {
  return {a,         p.s.inner.sa, npix,    p.taps.data(), p.s.ntaps, p.w.data(), p.s.L, p.s.seg, out,
          p.s.inner.so, scratch,  p.bias.empty() ? nullptr : p.bias.data(), p.act, p.row};
}

}  // namespace engine
}  // namespace fastconv
