// Kernel contracts: one argument struct per kernel family, one table of
// function pointers per ISA. Every ISA translation unit fills a KernelTable.
#pragma once
#include <cstddef>

namespace fastconv {

using idx_t = std::ptrdiff_t;

// Tap multiply-reduce (the memory-bound path: depthwise, filter, channel conv).
// For each pixel p < npix, with xp = x + p*x_pix and op = out + p*out_pix:
//   acc[r] = sum_{t < ntaps} xp[taps[t] + r] * w[t*L + r]       for r < L
//   op[j]  = sum_{s < seg} acc[j*seg + s]                        for j < L/seg
// x is unit-stride along r; w is the packed [ntaps][L] weight panel;
// scratch holds L elements (used when seg > 1). L % seg == 0.
template <class T>
struct TapReduceArgs {
  const T* x;
  idx_t x_pix;
  idx_t npix;
  const idx_t* taps;
  idx_t ntaps;
  const T* w;
  idx_t L;
  idx_t seg;
  T* out;
  idx_t out_pix;
  T* scratch;
};

// Zip (interleave) R rows of C elements:  dst[j*R + i] = src[i*src_ld + j]
// for i < R, j < C, repeated for count blocks:
//   src += src_step, dst += dst_step.
// This is the inner transpose of a channel shuffle.
template <class T>
struct ZipArgs {
  const T* src;
  idx_t src_ld;
  idx_t R;
  idx_t C;
  T* dst;
  idx_t count;
  idx_t src_step;
  idx_t dst_step;
};

struct KernelTable {
  const char* name;
  void (*tapreduce_f32)(const TapReduceArgs<float>&);
  void (*tapreduce_f64)(const TapReduceArgs<double>&);
  void (*zip_f32)(const ZipArgs<float>&);
  void (*zip_f64)(const ZipArgs<double>&);
};

template <class T> struct KernelOf;
template <> struct KernelOf<float> {
  static auto tapreduce(const KernelTable& k) { return k.tapreduce_f32; }
  static auto zip(const KernelTable& k) { return k.zip_f32; }
};
template <> struct KernelOf<double> {
  static auto tapreduce(const KernelTable& k) { return k.tapreduce_f64; }
  static auto zip(const KernelTable& k) { return k.zip_f64; }
};

namespace scalar { const KernelTable* table(); }
namespace avx2 { const KernelTable* table(); }
namespace avx512 { const KernelTable* table(); }

}  // namespace fastconv
