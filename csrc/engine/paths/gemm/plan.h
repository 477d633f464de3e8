// The GEMM path's plan: index offsets, K as the kernel reads it, B packed in panels.
// One plan covers a slab of the contraction (some groups, some K indices) whose
// packed B stays under kMaxPackedB; the driver (gemm.cpp) runs the slabs in turn.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "engine/buffer.h"
#include "engine/contraction.h"
#include "engine/dims.h"
#include "engine/scratch.h"

namespace fastconv {
namespace engine {

// K as the kernel reads it from A: segments of `len` indices at stride ks in a
// (contiguous K dims merged), in the same order as B is packed; split into
// pieces of at most KC, grouped into K blocks of at most KC indices.
struct KSegments {
  idx_t ks = 1;
  std::vector<idx_t> k_b;             // B offset of every K index, in packing order
  std::vector<idx_t> off, len;        // pieces
  std::vector<idx_t> block_piece{0};  // block q holds pieces [block_piece[q], block_piece[q+1])
  std::vector<idx_t> block_k{0};      // and K indices [block_k[q], block_k[q+1])
  std::vector<idx_t> coord;           // npad coordinates (Dim::sw) of every K index, in packing order
};

// The K indices [k0, k1) of k, in packing order (dims by decreasing stride in a);
// npad: the padded window axes whose coordinates to list.
KSegments k_segments(const std::vector<Dim>& k, idx_t kc, idx_t k0, idx_t k1, int npad = 0);

// The groups [g0, g1) and K indices [k0, k1) (packing order) one plan covers.
struct Slab {
  idx_t g0, g1, k0, k1;
};
// Packed B of one plan at most, where a whole KC block of one group fits.
constexpr idx_t kMaxPackedB = idx_t(64) << 20;
// Slabs covering d: all of it where its packed B fits kMaxPackedB, else whole K
// blocks of as many groups as fit.
std::vector<Slab> gemm_slabs(const Contraction& d, const GemmBlocking& bl, idx_t item);

// A packed B larger than this is not expected to stay in the last-level cache.
constexpr idx_t kResidentB = idx_t(8) << 20;
// Tiles a kernel call runs where the next-block lookahead issues lines between calls.
constexpr idx_t kAheadRun = 4;
// A rows of at least this many runs per K block, passed by at least this many
// panels, are gathered into contiguous rows first (GemmPlan::rows).
constexpr idx_t kGatherRuns = 8, kGatherPanels = 4;
// A packed B of at most this many bytes stays allocated for the thread's next call.
constexpr size_t kKeepPackedB = size_t(32) << 20;

// The A lines of the next block, prefetched a few at a time while this block's
// tiles compute: a block's rows otherwise come from memory during its first panel's
// pass only, a burst that needs npanels times the bandwidth the whole GEMM does on
// average. A cursor over (row, group, K piece, line).
template <class T>
struct Lookahead {
  const T* a = nullptr;
  const idx_t* rows = nullptr;    // A offsets of the next block's rows
  const idx_t* groups = nullptr;  // A offsets of its groups
  const idx_t *off = nullptr, *len = nullptr;  // its K pieces (unit stride)
  idx_t nrows = 0, ngroups = 0, npieces = 0;
  idx_t per_slot = 0, i = 0, g = 0, sp = 0, e = 0;  // per_slot lines a call of step()

  void step() {
    for (idx_t c = per_slot; c > 0 && i < nrows; --c) {
      // To L2 (locality 2). The builtin stays here: the loop also moves the cursor.
      __builtin_prefetch(a + groups[g] + rows[i] + off[sp] + e, 0, 2);
      if ((e += kLineElems<T>) < len[sp]) continue;
      e = 0;
      if (++sp < npieces) continue;
      sp = 0;
      if (++g < ngroups) continue;
      g = 0, ++i;
    }
  }
};

// The rows of an M block whose windows reach into the zero padding: their indices in
// the block and their npad coordinates each (GemmPlan::padded_rows).
struct PaddedRows {
  idx_t count = 0;
  const idx_t* rows = nullptr;
  const idx_t* coord = nullptr;
};

// One GEMM slab planned. N is cut into panels of at most NR columns, balanced in
// whole vectors (N = 64 on a 48-wide tile: two panels of 32, not 48 + 16).
template <class T>
struct GemmPlan {
  idx_t G = 0, M = 0, N = 0, K = 0, MR = 0, NR = 0, W = 0, npanels = 0, nblocks = 0;
  GemmBlocking bl{};        // the tile's (KernelOf::gemms: chosen by N)
  idx_t cs = 0;             // uniform output stride along N (0: irregular)
  bool ncontig = false;     // N unit-stride in B
  bool accumulate = false;  // a later K slab: the output already holds the earlier ones
  bool interleave = false;  // groups interleave with N in the output (the shuffle)
  bool permute_b = false;   // ... with B's columns pre-permuted for the zip kernel
  idx_t Gi = 1;             // groups computed together in one work item
  idx_t scratch = 0;        // elements of tile scratch a thread needs (rows())
  bool stream = false;      // non-temporal output stores: set by the path (stream_output)
  // Lines of A a row reads in the first K block, for the next-block lookahead; 0
  // (none) where K is strided in A, or where a piece is shorter than a line: rows
  // then share lines and fetch them again (docs/tuning.md).
  idx_t row_lines = 0;
  std::vector<Dim> ms;
  std::vector<idx_t> g_a, g_b, g_o, n_b, n_o;
  std::vector<idx_t> pcol;  // panel p covers columns [pcol[p], pcol[p + 1])
  KSegments seg;
  // Per group and panel, K rows of NR values, zero-padded: the calling thread's scratch,
  // taken by gemm_region where it packs B (null where B is read in place).
  T* bp = nullptr;
  // B's row stride where the kernel can read B in place (0: it cannot): N unit-stride
  // in whole vectors, every K index a row that far from the last, no zip. in_place:
  // it does, this call (gemm_region).
  idx_t ldb = 0;
  bool in_place = false;
  // The epilogue (set_epilogue), applied as the last K block's tiles are stored.
  bool epi = false;
  int act = 0;
  Buffer<T> biasp;  // per group and panel, NR bias values packed as B is (empty: no bias)
  void (*epi_row)(T*, idx_t, const T*, int) = nullptr;
  // Zero padding (Contraction::pad): rows whose windows reach outside the input read
  // copies of their pieces with zeros in place of the outside taps (macrokernel.h).
  // Each piece is cut into runs of one tap: [pos, pos + len) at coordinates coord.
  struct TapRun {
    idx_t pos, len, coord[kMaxWindowAxes];
  };
  int npad = 0;
  PadAxis pad[kMaxWindowAxes] = {};
  idx_t cmin[kMaxWindowAxes] = {}, cmax[kMaxWindowAxes] = {};  // the slab's tap coordinates
  std::vector<TapRun> runs;
  std::vector<idx_t> piece_run{0};  // piece sp's runs: [piece_run[sp], piece_run[sp + 1])
  // Piece sp's least and greatest tap coordinate on each axis (npad values each): a
  // row's copy of a piece wholly inside or wholly outside is one copy or one fill.
  std::vector<idx_t> piece_cmin, piece_cmax;
  // Per K block: its pieces' lowest offset, greatest length and extent from that
  // offset, and how many rows' copies fit side by side between its pieces
  // (pad_block; 0: they do not fit).
  std::vector<idx_t> pad_omin, pad_len, pad_extent, pad_fit;
  void (*kernel)(const GemmArgs<T>&) = nullptr;
  void (*zip_kernel)(const GemmArgs<T>&) = nullptr;
  void (*pack)(const PackArgs<T>&) = nullptr;

  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;
  ~GemmPlan() { scratch::trim(scratch::kPackedB, kKeepPackedB); }

  // whole: sl is all of d (one slab).
  GemmPlan(const Contraction& d, const KernelTable& kt, const Slab& sl, bool whole)
      : G(sl.g1 - sl.g0), M(prod(d.m)), N(prod(d.n)), K(sl.k1 - sl.k0), accumulate(sl.k0 > 0) {
    const GemmKernels<T>& gk = KernelOf<T>::gemms(kt, N);
    kernel = gk.gemm, zip_kernel = gk.gemm_zip, pack = gk.pack_b, bl = gk.blocking;
    MR = bl.mr, NR = bl.nr, W = bl.w;
    ms = without_units(d.m);
    Odometer it(d.batch, sl.g0);
    for (idx_t g = 0; g < G; ++g, it.next()) g_a.push_back(it.a), g_b.push_back(it.b), g_o.push_back(it.o);
    n_b = offsets(d.n, &Dim::sb), n_o = offsets(d.n, &Dim::so);
    npad = int(d.pad.size());
    seg = k_segments(d.k, bl.kc, sl.k0, sl.k1, npad);
    nblocks = idx_t(seg.block_k.size()) - 1;
    const idx_t nvec = (N + W - 1) / W, nv = NR / W;
    npanels = (nvec + nv - 1) / nv;
    for (idx_t p = 0; p <= npanels; ++p) pcol.push_back(std::min(N, nvec * p / npanels * W));
    cs = uniform_stride(n_o.data(), N);
    ncontig = uniform_stride(n_b.data(), N) == 1;
    // The shuffled group conv: groups interleave with N in the output
    // (out[m, n*G + g]). Then the G tiles of the same rows and columns are
    // computed together, all but the last into scratch, and the zip kernel writes
    // each output row whole from the last one's registers and the scratch.
    interleave = whole && G > 1 && nblocks == 1 && cs == G && uniform_stride(g_o.data(), G) == 1;
    Gi = interleave ? G : 1;
    permute_b = interleave && zip_prepermuted(G, W);
    // The zip kernel's scratch, and the zipped rows of a tile (an output of irregular rows).
    scratch = interleave ? (2 * G - 1) * MR * NR : MR * NR;
    constexpr idx_t LINE = kLineElems<T>;
    if (seg.ks == 1 && *std::min_element(seg.len.begin(), seg.len.end()) >= LINE)
      for (idx_t sp = 0; sp < seg.block_piece[1]; ++sp) row_lines += (seg.len[sp] + LINE - 1) / LINE;
    const idx_t kstep = uniform_stride(seg.k_b.data(), K);
    if (ncontig && N % W == 0 && !interleave && K > 0 && kstep > 0) ldb = K > 1 ? kstep : N;  // K = 1: one row
    if (npad) plan_padding(d);
  }

  // The tap runs of every piece and the slab's coordinate range (npad > 0).
  void plan_padding(const Contraction& d) {
    for (int w = 0; w < npad; ++w) pad[w] = d.pad[size_t(w)], cmin[w] = kIdxMax, cmax[w] = -kIdxMax;
    idx_t t = 0;  // K index, in packing order
    for (size_t sp = 0; sp < seg.off.size(); ++sp) {
      for (idx_t j = 0; j < seg.len[sp]; ++j, ++t) {
        const idx_t* c = seg.coord.data() + t * npad;
        bool same = j > 0;
        for (int w = 0; w < npad && same; ++w) same = runs.back().coord[w] == c[w];
        if (same) {
          ++runs.back().len;
          continue;
        }
        TapRun r{j, 1, {}};
        for (int w = 0; w < npad; ++w) {
          r.coord[w] = c[w];
          cmin[w] = std::min(cmin[w], c[w]), cmax[w] = std::max(cmax[w], c[w]);
        }
        runs.push_back(r);
      }
      for (int w = 0; w < npad; ++w) {
        idx_t lo = kIdxMax, hi = -kIdxMax;
        for (size_t ri = size_t(piece_run.back()); ri < runs.size(); ++ri)
          lo = std::min(lo, runs[ri].coord[w]), hi = std::max(hi, runs[ri].coord[w]);
        piece_cmin.push_back(lo), piece_cmax.push_back(hi);
      }
      piece_run.push_back(idx_t(runs.size()));
    }
    for (idx_t q = 0; q < nblocks; ++q) {
      const idx_t s0 = seg.block_piece[q], s1 = seg.block_piece[q + 1];
      std::vector<idx_t> o(seg.off.begin() + s0, seg.off.begin() + s1);
      std::sort(o.begin(), o.end());
      const idx_t L = *std::max_element(seg.len.begin() + s0, seg.len.begin() + s1);
      idx_t gap = kIdxMax, extent = 0;
      for (size_t i = 1; i < o.size(); ++i) gap = std::min(gap, o[i] - o[i - 1]);
      for (idx_t sp = s0; sp < s1; ++sp) extent = std::max(extent, seg.off[sp] - o[0] + seg.len[sp]);
      pad_omin.push_back(o[0]), pad_len.push_back(L), pad_extent.push_back(extent), pad_fit.push_back(gap / L);
    }
  }

  // Why this plan cannot read zero padding ("" where it can): it copies a padded row's
  // pieces, which must be unit-stride and lie apart in memory.
  std::string padding_refused() const {
    if (!npad) return {};
    if (seg.ks != 1) return "zero padding needs the taps' innermost values unit-stride";
    for (const idx_t fit : pad_fit)
      if (fit < 1) return "zero padding needs the taps' pieces apart in memory";
    return {};
  }

  // The rows of [m0, m0 + mcur) whose windows reach outside the input: into rows and
  // coord (mcur and mcur * npad values), in order. A run of rows along the innermost
  // M dim moves each coordinate by a fixed step, so the rows whose windows lie inside
  // are one interval of the run: only the rows outside it are visited.
  PaddedRows padded_rows(idx_t m0, idx_t mcur, idx_t* rows, idx_t* coord) const {
    PaddedRows r{0, rows, coord};
    if (!npad) return r;
    const size_t D = ms.size();
    idx_t ix[Odometer::kMaxDims] = {}, c[kMaxWindowAxes] = {};
    idx_t rest = m0;
    for (size_t q = D; q-- > 0;) {
      ix[q] = rest % ms[q].size, rest /= ms[q].size;
      for (int w = 0; w < npad; ++w) c[w] += ix[q] * ms[q].sw[w];
    }
    auto floor_div = [](idx_t a, idx_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };  // b > 0
    for (idx_t i = 0; i < mcur;) {
      const idx_t len = D ? std::min(ms[D - 1].size - ix[D - 1], mcur - i) : mcur - i;
      // Rows j of the run are inside where, on every axis, lo <= c + j s + cmin and
      // c + j s + cmax < lo + size (s: the step along the run): j in [jlo, jhi).
      idx_t jlo = 0, jhi = len;
      for (int w = 0; w < npad; ++w) {
        const idx_t s = D ? ms[D - 1].sw[w] : 0, a = pad[w].lo - c[w] - cmin[w];
        const idx_t b = pad[w].lo + pad[w].size - 1 - c[w] - cmax[w];  // j s in [a, b]
        if (s == 0) {
          if (a > 0 || b < 0) jhi = 0;
        } else if (s > 0) {
          jlo = std::max(jlo, -floor_div(-a, s)), jhi = std::min(jhi, floor_div(b, s) + 1);
        } else {
          jlo = std::max(jlo, -floor_div(b, -s)), jhi = std::min(jhi, floor_div(-a, -s) + 1);
        }
      }
      jlo = std::min(jlo, len), jhi = std::max(jhi, jlo);
      auto emit = [&](idx_t j0, idx_t j1) {
        for (idx_t j = j0; j < j1; ++j) {
          rows[r.count] = i + j;
          for (int w = 0; w < npad; ++w) coord[r.count * npad + w] = c[w] + j * (D ? ms[D - 1].sw[w] : 0);
          ++r.count;
        }
      };
      emit(0, jlo);
      emit(jhi, len);
      i += len;
      if (!D) break;
      // The next run's first row: the innermost index by len, carried outwards.
      for (int w = 0; w < npad; ++w) c[w] += len * ms[D - 1].sw[w];
      ix[D - 1] += len;
      for (size_t q = D - 1; ix[q] == ms[q].size && q > 0; --q) {
        for (int w = 0; w < npad; ++w) c[w] += ms[q - 1].sw[w] - ms[q].size * ms[q].sw[w];
        ix[q] = 0;
        ++ix[q - 1];
      }
    }
    return r;
  }

  idx_t packed() const { return G * npanels * K * NR; }

  // d's epilogue where this slab completes the sum (its last K index is d's): the
  // bias packed like a one-row B (with the zip kernel's column permutation), so that
  // a tile adds whole vectors of it.
  void set_epilogue(const Contraction& d, const Slab& sl, const T* bias, const KernelTable& kt) {
    if (!d.epilogue() || sl.k1 != prod(d.k)) return;
    epi = true, act = d.act, epi_row = KernelOf<T>::mem(kt).epilogue;
    if (!bias) return;
    std::vector<Dim> gd = d.batch;
    for (Dim& x : gd) x.sa = x.sbias;
    std::vector<idx_t> gb;
    Odometer it(gd, sl.g0);
    for (idx_t g = 0; g < G; ++g, it.next()) gb.push_back(it.a);
    const std::vector<idx_t> nb = offsets(d.n, &Dim::sbias);
    const idx_t k0 = 0;
    biasp.resize(size_t(G * npanels * NR));
    pack({bias, gb.data(), &k0, nb.data(), pcol.data(), npanels, 1, uniform_stride(nb.data(), N) == 1,
          permute_b ? G : 0, 0, G, biasp.data(), 0, npanels});
  }
  // Group g's bias panel jp, or null (no bias).
  const T* bias_panel(idx_t g, idx_t jp) const {
    return biasp.empty() ? nullptr : biasp.data() + (g * npanels + jp) * NR;
  }

  // Packs B's rows (g, k), group-major, [G K part / parts, G K (part + 1) / parts)
  // (one thread's share) of panels [p0, p1) into dst (packed() values: bp, or a
  // thread's own), with the tile's packing kernel.
  void pack_b(const T* b, idx_t part, idx_t parts, T* dst, idx_t p0, idx_t p1) const {
    const PackArgs<T> args{b, g_b.data(), seg.k_b.data(), n_b.data(), pcol.data(), npanels, K, ncontig,
                           permute_b ? G : 0, G * K * part / parts, G * K * (part + 1) / parts, dst, p0, p1};
    pack(args);
  }

  // Group g's panel jp of B from K block q's first row: in the packed B pb, or in
  // B itself (pb then B, in_place).
  const T* panel(const T* pb, idx_t g, idx_t jp, idx_t q) const {
    if (in_place) return pb + g_b[g] + seg.k_b[seg.block_k[q]] + n_b[pcol[jp]];
    return pb + ((g * npanels + jp) * K + seg.block_k[q]) * NR;
  }

  // Prefetches the A rows of a tile (row pointers ptrs[g * ntiles * MR + i]) for
  // K pieces [s0, s0 + ns), a cache line at a time (unit-stride K only).
  void prefetch_tile(const T* const* ptrs, idx_t ntiles, idx_t s0, idx_t ns) const {
    if (seg.ks != 1) return;
    for (idx_t g = 0; g < Gi; ++g)
      for (idx_t i = 0; i < MR; ++i)
        prefetch_row(ptrs[(g * ntiles) * MR + i], seg.off.data() + s0, seg.len.data() + s0, ns);
  }

  // A cursor over the lines that the block of rows [m0, m0 + mcur) of groups
  // [g0, g0 + Gi) reads in its first K block, to be issued over `slots` tiles (its
  // rows' A offsets into ra, mcur of them). Empty where row_lines is 0, and where
  // that takes more than kMaxAheadPerTile lines a tile: bursts of prefetches to
  // memory hold the line-fill buffers the tile's own loads need (docs/tuning.md).
  static constexpr idx_t kMaxAheadPerTile = 4;
  Lookahead<T> lookahead(const T* a, idx_t slots, idx_t m0, idx_t mcur, idx_t g0, idx_t* ra) const {
    Lookahead<T> la;
    const idx_t lines = mcur * Gi * row_lines;
    if (lines == 0 || lines > slots * kMaxAheadPerTile) return la;
    row_offsets(ms, m0, mcur, ra, nullptr);
    la.a = a, la.rows = ra, la.groups = g_a.data() + g0, la.off = seg.off.data(), la.len = seg.len.data();
    la.nrows = mcur, la.ngroups = Gi, la.npieces = seg.block_piece[1];
    la.per_slot = (lines + slots - 1) / slots;
    return la;
  }

  // The tiles of a block of rows (macrokernel.h), B from the packed pb.
  void rows(const T* a, const T* pb, T* out, const idx_t* rows_a, const idx_t* rows_o, idx_t mcur, idx_t p0,
            idx_t p1, idx_t g0, T* tiles, bool fetch_ahead, Lookahead<T>* ahead, const PaddedRows& padded = {}) const;

 private:
  // Copies of the padded rows' pieces of K block q, zeros for the taps outside the
  // input; points their row pointers (ptrs, as rows() lays them out) at the copies.
  void pad_block(const T* a, const idx_t* rows_a, idx_t g0, idx_t q, const PaddedRows& padded, idx_t ntiles,
                 idx_t mcur, const T** ptrs) const;
};

}  // namespace engine
}  // namespace fastconv
