// Kernel contracts: one argument struct (or signature) per kernel family, the kernels
// an ISA provides (IsaKernels, built from registry.inc by config/<isa>.cpp), and the
// table the engine calls (KernelTable: an ISA's kernels and its dispatched GEMM tile).
#pragma once
#include <cstddef>

#include "arch/prefetch.h"

namespace fastconv {

// The activation a kernel's epilogue applies to each output it stores, after adding
// its bias (impl/activation.h): none, max(x, 0), min(max(x, 0), 6), x / (1 + e^-x),
// x (1 + erf(x / sqrt 2)) / 2.
enum class Act : int { none = 0, relu, relu6, silu, gelu };

// Tap multiply-reduce (the memory-bound path: depthwise, filter, channel conv).
// For each pixel p < npix, with xp = x + p*x_pix and op = out + p*out_pix:
//   acc[r] = sum_{t < ntaps} xp[taps[t] + r] * w[t*L + r]       for r < L
//   op[j]  = sum_{s < seg} acc[j*seg + s]                        for j < L/seg
// x is unit-stride along r; w is the packed [ntaps][L] weight panel;
// scratch holds L elements (used when seg > 1). L % seg == 0.
// Epilogue: op[j] = act(op[j] + bias[j]) (bias null: none; act an Act).
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
  const T* bias = nullptr;
  int act = 0;
  // Rows of windows along the pixels (0: none): the taps come in rows of `row`
  // consecutive taps, each x_pix / row_step on from the last (taps[t + j] == taps[t] + j *
  // x_pix / row_step for every row start t = i * row), so neighbouring pixels share a
  // row's inputs.
  idx_t row = 0;
  // The windows' stride along the pixels, in taps of a row: x_pix == row_step * (taps[t + 1]
  // - taps[t]) within a row (1 or 2; with 2, rows of 3 taps: pixel q's taps read inputs
  // 2q, 2q + 1, 2q + 2 of the row, and its last is pixel q + 1's first).
  idx_t row_step = 1;
  // Bytes [ahead, ahead + ahead_bytes) the caller reads next (the next row's new input
  // lines), fetched to L2 a share per pixel over this call (null: none).
  const void* ahead = nullptr;
  idx_t ahead_bytes = 0;
};

// Dot (the dot path's chunk sum): sum_{i < n} a[i] * b[i * b_inc], b_inc 0 or 1, in
// four vector accumulators (each lane a sequential sum of at most n / (4 W) terms)
// combined pairwise, then across lanes. The engine's chunks are of 64 W terms at most,
// so that no lane sums more than 16 terms in sequence.
template <class T>
using DotFn = T (*)(const T* a, const T* b, idx_t n, idx_t b_inc);

// Zip (interleave) R rows of C elements:  dst[j*R + i] = src[i*src_ld + j]
// for i < R, j < C, repeated for count blocks:
//   src += src_step, dst += dst_step.
// This is the inner transpose of a channel shuffle. stream: vector stores to a
// vector-aligned dst may bypass the cache (non-temporal; the caller fences).
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
  bool stream;
};

// GEMM microkernel (register tile MR x NR), A read in place:
//   C[i*rs_c + j*cs_c] (+)= sum_k A_i[k] * b[k*ldb + j]        for i < m, j < n
// Row i of A is read through the pointer a[i]; its K indices are nseg segments,
// segment s covering a[i][seg_off[s] + t*ks] for t < seg_len[s], in order.
// b is the packed B micro-panel (ldb = 0: NR columns interleaved, zero-padded), or
// B itself (ldb > 0: rows ldb apart, each readable for whole vectors covering n),
// with one row per K index in the same order. Rows i >= m must still point at readable
// memory (any valid row); their results are discarded. C has any strides;
// accumulate == false overwrites C. stream: full tiles of unit column stride
// whose rows are vector-aligned may bypass the cache (non-temporal stores; the
// caller fences). prefetch: A is not in cache yet; the kernel fetches each row's
// next segment while it computes this one, and with ntiles > 1 the next tile's
// rows before each tile (unit ks only).
// ntiles > 1: that many tiles one after the other, tile u reading rows
// a[u*MR .. u*MR + MR) and writing C rows from c + u*MR*rs_c; every tile has MR
// rows but the last, which has m (a call then costs the tile loop once, not once
// a tile: with a short K that overhead is a third of a tile).
// Epilogue: C[i, j] = act(C[i, j] + bias[j]) as the tile is stored (bias: the panel's
// NR values, null: none; act an Act): the engine passes it with the last K block only.
template <class T>
struct GemmArgs {
  const T* const* a;
  const idx_t* seg_off;
  const idx_t* seg_len;
  idx_t nseg;
  idx_t ks;
  const T* b;
  T* c;
  idx_t rs_c;
  idx_t cs_c;
  idx_t m;
  idx_t n;
  bool accumulate;
  bool stream;
  bool prefetch = false;
  idx_t ntiles = 1;
  // The zip kernel only (gemm_zip, below).
  idx_t groups = 1;
  idx_t a_gs = 0, b_gs = 0;
  T* zip_src = nullptr;
  const T* bias = nullptr;
  int act = 0;
  idx_t bias_gs = 0;  // the zip kernel: group q's bias panel at bias + q*bias_gs
  // B's row stride: 0 for packed panels (NR); more where B is read in place (its
  // rows then hold whole vectors past n: only lanes below n reach the output).
  idx_t ldb = 0;
};

// Group counts the zip kernel interleaves with code for that count; more go
// element by element.
constexpr int kMaxZipGroups = 8;
constexpr idx_t gcd(idx_t a, idx_t b) { return b == 0 ? a : gcd(b, a % b); }
// Where the zip kernel takes each group's B vectors (of W columns) pre-permuted,
// column c of a vector at lane (c*G + q) % W in group q's: for G coprime with W,
// where that puts every column at the lane it has in the output, and the zip is
// then blends only, no permutes.
constexpr bool zip_prepermuted(idx_t G, idx_t W) { return G <= kMaxZipGroups && gcd(G, W) == 1; }
// GEMM zip microkernel: the tiles of G = groups groups over the same rows and
// columns, whose outputs interleave (the shuffled group conv, out[m, j*G + q]):
//   C[i*rs_c + j*G + q] = sum_k A_qi[k] * b[q*b_gs + k*NR + j]    for q < G, i < m, j < n
// Group q's row i is a[q*a_gs + i], read as in GemmArgs (its tile u's rows from
// a[q*a_gs + u*MR]); group q's packed B panel is at b + q*b_gs, its columns
// pre-permuted where zip_prepermuted(G, W) (b then holds column j of the formula
// at its permuted place). Tile by tile, the
// groups' tiles are computed in turn, all but the last into zip_src (scratch of
// (G - 1) * MR * NR elements), and each output row is written whole, the groups'
// values zipped in registers. ntiles, prefetch and stream as in GemmArgs; cs_c and
// accumulate are not used (one K block).

// Pack B into the GEMM's panels: the rows (g, k) of r0 <= r < r1 (r = g*K + k), each
// into every panel p0 <= p < p1 (of npanels) of the columns [pcol[p], pcol[p + 1]):
//   dst[((g*npanels + p)*K + k)*NR + j] = b[g_b[g] + k_b[k] + n_b[pcol[p] + j]]
// for j < pcol[p + 1] - pcol[p], zeros up to NR (the tile's). ncontig: n_b[j] ==
// n_b[0] + j. zip_groups G > 0: the zip kernel's B, where zip_prepermuted(G, W):
// column c of each vector of W columns at lane (c*G + g) % W instead.
template <class T>
struct PackArgs {
  const T* b;
  const idx_t *g_b, *k_b, *n_b, *pcol;
  idx_t npanels, K;
  bool ncontig;
  idx_t zip_groups;
  idx_t r0, r1;
  T* dst;
  idx_t p0, p1;
};

// Register tile and cache blocks of one GEMM microkernel, for one dtype.
struct GemmBlocking {
  idx_t mr, nr;  // register tile
  idx_t w;       // vector width: a tile of n <= nr columns costs ceil(n / w) vectors
  idx_t kc;      // K block: the kernel passes over KC x NR of B per tile
  idx_t l2;      // bytes of A (MC rows x KC) to keep in L2
  // B read in place (GemmArgs::ldb) where each thread's share of the rows is at most
  // this many tiles a panel: the packing then costs more than strided B rows do.
  idx_t in_place_tiles;
};

// The memory-bound kernels of one ISA and dtype.
template <class T>
struct MemKernels {
  void (*tapreduce)(const TapReduceArgs<T>&) = nullptr;
  DotFn<T> dot = nullptr;
  void (*zip)(const ZipArgs<T>&) = nullptr;
  // x[i] = act(x[i] + bias[i]) for i < n (bias null: none; act an Act): an epilogue
  // for outputs a path did not store through a kernel's own.
  void (*epilogue)(T* x, idx_t n, const T* bias, int act) = nullptr;
  idx_t w = 1;  // vector lanes
};

// One GEMM register tile of one ISA and dtype: the tile, its zip variant, its packing.
template <class T>
struct GemmKernels {
  const char* name = nullptr;  // "<isa> <dtype> gemm <MR>x<NV>"
  void (*gemm)(const GemmArgs<T>&) = nullptr;
  void (*gemm_zip)(const GemmArgs<T>&) = nullptr;
  void (*pack_b)(const PackArgs<T>&) = nullptr;
  GemmBlocking blocking{};
};

// ISA levels, lowest first per architecture.
enum class Isa { scalar, avx2, avx512, neon };

// One ISA's GEMM tiles of one dtype, in registry order. A fixed array, not a
// std::vector: the ISA's TU fills it, and a std::vector's out-of-line code (its growth
// in emplace_back) instantiated there, with that ISA's flags, is one weak symbol that
// the linker may keep for the baseline TUs too (zig's Clang did: an AVX move in the
// scalar path, SIGILL on a CPU without AVX). The ISA TUs write items and n directly.
template <class T>
struct GemmList {
  static constexpr size_t kMax = 4;  // table.h checks the registry's lines against it
  GemmKernels<T> items[kMax];
  size_t n = 0;
  const GemmKernels<T>* begin() const { return items; }
  const GemmKernels<T>* end() const { return items + n; }
  const GemmKernels<T>& operator[](size_t i) const { return items[i]; }
};

// Every kernel an ISA's TU built from registry.inc, and the tiles it dispatches.
struct IsaKernels {
  static constexpr size_t kNone = ~size_t(0);
  const char* isa;
  MemKernels<float> mem_f32;
  MemKernels<double> mem_f64;
  GemmList<float> gemm_f32;
  GemmList<double> gemm_f64;
  size_t dispatch_f32 = 0, dispatch_f64 = 0;  // the tiles the engine runs (config/<isa>.cpp)
  size_t fit_f32 = kNone, fit_f64 = kNone;    // ... where N is their width (kNone: no such tile)
};

// What the engine calls: one ISA's kernels, with one GEMM tile per dtype, and a second
// one (its gemm null where the ISA has none) for the GEMMs whose N takes exactly its
// vectors, which the first would cut into narrower panels (KernelOf::gemms).
struct KernelTable {
  const char* name;
  MemKernels<float> mem_f32;
  MemKernels<double> mem_f64;
  GemmKernels<float> gemm_f32;
  GemmKernels<double> gemm_f64;
  GemmKernels<float> fit_f32;
  GemmKernels<double> fit_f64;
};

// The tile a GEMM of N columns runs: fit where N takes exactly its NR / W vectors
// (N = 64 floats on AVX-512: one panel of 4 vectors, not two of 2), else the tile.
template <class T>
const GemmKernels<T>& gemm_for(const GemmKernels<T>& tile, const GemmKernels<T>& fit, idx_t N) {
  if (!fit.gemm) return tile;
  const idx_t w = fit.blocking.w;
  return (N + w - 1) / w == fit.blocking.nr / w ? fit : tile;
}

template <class T> struct KernelOf;
template <> struct KernelOf<float> {
  static const MemKernels<float>& mem(const KernelTable& k) { return k.mem_f32; }
  static const GemmKernels<float>& gemms(const KernelTable& k, idx_t N) { return gemm_for(k.gemm_f32, k.fit_f32, N); }
  static auto tapreduce(const KernelTable& k) { return k.mem_f32.tapreduce; }
  static auto dot(const KernelTable& k) { return k.mem_f32.dot; }
  static auto zip(const KernelTable& k) { return k.mem_f32.zip; }
};
template <> struct KernelOf<double> {
  static const MemKernels<double>& mem(const KernelTable& k) { return k.mem_f64; }
  static const GemmKernels<double>& gemms(const KernelTable& k, idx_t N) { return gemm_for(k.gemm_f64, k.fit_f64, N); }
  static auto tapreduce(const KernelTable& k) { return k.mem_f64.tapreduce; }
  static auto dot(const KernelTable& k) { return k.mem_f64.dot; }
  static auto zip(const KernelTable& k) { return k.mem_f64.zip; }
};

// Each ISA's kernels (config/<isa>.cpp); only the architecture's ISAs are built.
namespace scalar { const IsaKernels& kernels(); }
namespace avx2 { const IsaKernels& kernels(); }
namespace avx512 { const IsaKernels& kernels(); }
namespace neon { const IsaKernels& kernels(); }

}  // namespace fastconv
