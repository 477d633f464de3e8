// Kernel contracts: one argument struct per kernel family, one table of
// function pointers per ISA. Every ISA translation unit fills a KernelTable.
#pragma once
#include <cstddef>

namespace fastconv {

using idx_t = std::ptrdiff_t;

// Bytes per cache line, for prefetching a run a line at a time.
constexpr idx_t kCacheLine = 64;
// Fetches the cache line holding p into L1. An asm statement, not
// __builtin_prefetch: GCC deletes a loop whose only statement is the builtin (it
// counts as free of effects), and a loop is how a row's lines are fetched. The
// next-tile prefetch of a block's first pass was compiled away that way until
// this helper; made real, it ran grouped2x2_g4_128 1.30x (1 thread 1.22x) and
// stem4x4_c96 1.02x (1.09x) faster (2-core AMD, in-process A/B, 24 and 16 pairs).
// The kernel's segment and C-tile prefetches are compiled as written (checked
// with objdump) and keep the builtin: this helper there measured 3 % slower on
// grouped2x2.
inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  asm volatile("prfm pldl1keep, %0" : : "Q"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

// Elements of T in a cache line.
template <class T>
constexpr idx_t kLineElems = kCacheLine / idx_t(sizeof(T));

// Every line of one A row's unit-stride K segments [off[s], off[s] + len[s]),
// s < nseg, a line at a time from each segment's start (the kernel's next tile and
// the engine's). Always inlined, so it is built with each caller's ISA flags.
template <class T>
__attribute__((always_inline)) inline void prefetch_row(const T* row, const idx_t* off, const idx_t* len,
                                                         idx_t nseg) {
  for (idx_t s = 0; s < nseg; ++s)
    for (idx_t e = 0; e < len[s]; e += kLineElems<T>) prefetch_line(row + off[s] + e);
}

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
//   C[i*rs_c + j*cs_c] (+)= sum_k A_i[k] * b[k*NR + j]        for i < m, j < n
// Row i of A is read through the pointer a[i]; its K indices are nseg segments,
// segment s covering a[i][seg_off[s] + t*ks] for t < seg_len[s], in order.
// b is the packed B micro-panel (NR columns interleaved, zero-padded), with one
// row per K index in the same order. Rows i >= m must still point at readable
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

// Register tile and cache blocks of one ISA's GEMM microkernel, for one dtype.
struct GemmBlocking {
  idx_t mr, nr;  // register tile
  idx_t w;       // vector width: a tile of n <= nr columns costs ceil(n / w) vectors
  idx_t kc;      // K block: the kernel passes over KC x NR of B per tile
  idx_t l2;      // bytes of A (MC rows x KC) to keep in L2
};

struct KernelTable {
  const char* name;
  void (*tapreduce_f32)(const TapReduceArgs<float>&);
  void (*tapreduce_f64)(const TapReduceArgs<double>&);
  DotFn<float> dot_f32;
  DotFn<double> dot_f64;
  void (*zip_f32)(const ZipArgs<float>&);
  void (*zip_f64)(const ZipArgs<double>&);
  void (*gemm_f32)(const GemmArgs<float>&);
  void (*gemm_f64)(const GemmArgs<double>&);
  void (*gemm_zip_f32)(const GemmArgs<float>&);
  void (*gemm_zip_f64)(const GemmArgs<double>&);
  GemmBlocking gemm_blocking_f32;
  GemmBlocking gemm_blocking_f64;
};

template <class T> struct KernelOf;
template <> struct KernelOf<float> {
  static auto tapreduce(const KernelTable& k) { return k.tapreduce_f32; }
  static auto dot(const KernelTable& k) { return k.dot_f32; }
  static auto zip(const KernelTable& k) { return k.zip_f32; }
  static auto gemm(const KernelTable& k) { return k.gemm_f32; }
  static auto gemm_zip(const KernelTable& k) { return k.gemm_zip_f32; }
  static const GemmBlocking& blocking(const KernelTable& k) { return k.gemm_blocking_f32; }
};
template <> struct KernelOf<double> {
  static auto tapreduce(const KernelTable& k) { return k.tapreduce_f64; }
  static auto dot(const KernelTable& k) { return k.dot_f64; }
  static auto zip(const KernelTable& k) { return k.zip_f64; }
  static auto gemm(const KernelTable& k) { return k.gemm_f64; }
  static auto gemm_zip(const KernelTable& k) { return k.gemm_zip_f64; }
  static const GemmBlocking& blocking(const KernelTable& k) { return k.gemm_blocking_f64; }
};

namespace scalar { const KernelTable* table(); }
namespace avx2 { const KernelTable* table(); }
namespace avx512 { const KernelTable* table(); }

}  // namespace fastconv
