// The GEMM path's macrokernel: the register tiles of one block of rows by a share of
// the panels, K block by K block (GemmPlan::rows).
#pragma once
#include <algorithm>
#include <cstring>

#include "engine/paths/gemm/plan.h"

namespace fastconv {
namespace engine {

// The tiles of rows [0, mcur) (A row i at a + g_a[g] + rows_a[i], output row i at
// out + g_o[g] + rows_o[i]) by panels [p0, p1), for groups [g0, g0 + Gi).
// fetch_ahead: A comes from memory; the first panel's pass prefetches the next
// tile's rows while this one computes (the hardware prefetchers do not follow
// rows made of short strided segments far enough ahead). Rows of many runs are
// gathered into contiguous rows per K block instead (kGatherRuns).
// tiles: scratch (GemmPlan::scratch). Row pointers and row strides are set up once
// per call, not per tile: with a short K the tile loop is the overhead that shows.
// ahead: the next block's lines, issued over the tiles of the last K block's
// passes ((p1 - p0) x ceil(mcur / MR) of them).
// padded: the rows whose windows reach into the zero padding, which read copies of
// their pieces (pad_block) instead of a.
template <class T>
void GemmPlan<T>::rows(const T* a, const T* pb, T* out, const idx_t* rows_a, const idx_t* rows_o, idx_t mcur,
                       idx_t p0, idx_t p1, idx_t g0, T* tiles, bool fetch_ahead, Lookahead<T>* ahead,
                       const PaddedRows& padded) const {
  const idx_t ntiles = (mcur + MR - 1) / MR;
  const size_t nptr = size_t(Gi * ntiles * MR);
  // Row pointers (in place and gathered) and tile row strides, in this thread's scratch.
  char* mem = scratch::get<char>(scratch::kRowPtrs, 2 * nptr * sizeof(const T*) + size_t(ntiles) * sizeof(idx_t));
  const T** ptrs = reinterpret_cast<const T**>(mem);
  const T** bptrs = ptrs + nptr;
  idx_t* tile_rs = reinterpret_cast<idx_t*>(bptrs + nptr);
  for (idx_t t = 0; t < ntiles; ++t) {
    const idx_t ir = t * MR, mm = std::min(MR, mcur - ir);
    tile_rs[t] = uniform_stride(rows_o + ir, mm);
    for (idx_t g = 0; g < Gi; ++g)
      for (idx_t i = 0; i < MR; ++i)  // rows past the end repeat the tile's first row
        ptrs[(g * ntiles + t) * MR + i] = a + g_a[g0 + g] + rows_a[ir + (i < mm ? i : 0)];
  }
  // One stride between all output rows (0: none): tiles then run back to back.
  const idx_t orows = cs != 0 ? uniform_stride(rows_o, mcur) : 0;
  const idx_t zero = 0;
  for (idx_t q = 0; q < nblocks; ++q) {
    const idx_t s0 = seg.block_piece[q], ns = seg.block_piece[q + 1] - s0;
    const idx_t kq = seg.block_k[q + 1] - seg.block_k[q];
    const bool add = q > 0 || accumulate;  // the output holds earlier K blocks' sums
    if (padded.count) pad_block(a, rows_a, g0, q, padded, ntiles, mcur, ptrs);
    // Rows of many short runs (a patch row: one run per kernel row) are copied into
    // contiguous rows once per block, where enough panels pass over them: the
    // kernel then streams each row as one run. Rows of few, long runs are read in
    // place; copying them cost more (docs/tuning.md).
    const bool gather = seg.ks == 1 && ns >= kGatherRuns && p1 - p0 >= kGatherPanels;
    if (gather) {
      T* abuf = scratch::get<T>(scratch::kGather, nptr * size_t(kq));
      for (size_t u = 0; u < nptr; ++u) {
        T* dst = abuf + u * size_t(kq);
        bptrs[u] = dst;
        for (idx_t sp = s0; sp < s0 + ns; ++sp) {
          std::memcpy(dst, ptrs[u] + seg.off[sp], size_t(seg.len[sp]) * sizeof(T));
          dst += seg.len[sp];
        }
      }
    }
    const T* const* rowp = gather ? bptrs : ptrs;
    const bool steps = ahead && q + 1 == nblocks;  // the lookahead issues lines in this block
    const bool last = epi && q + 1 == nblocks;       // the epilogue, as this block's tiles are stored
    for (idx_t jp = p0; jp < p1; ++jp) {
      const idx_t jr = pcol[jp], nn = pcol[jp + 1] - jr;
      GemmArgs<T> args{nullptr, seg.off.data() + s0, seg.len.data() + s0, ns, seg.ks, nullptr,
                       nullptr, NR, 1, 0, nn, false, false};
      args.ldb = in_place ? ldb : 0;
      if (gather) args.seg_off = &zero, args.seg_len = &kq, args.nseg = 1;
      // Only the first panel's pass reads A from memory (gathered rows are in
      // cache); later ones find it in cache.
      args.prefetch = fetch_ahead && jp == p0 && !gather;
      // Passes over output rows at one stride hand the kernel runs of tiles: the
      // tile loop's overhead is then paid once a run (kAheadRun tiles where the
      // lookahead issues its lines between runs). The kernel prefetches the next
      // tile of its run; the next run's first tile is prefetched here.
      // The shuffle (groups interleaved with N in the output) goes to the zip
      // kernel, which takes every group's tiles in turn and writes each output
      // row whole, the groups interleaved.
      if (interleave)  // b_gs: panel()'s group stride
        args.groups = G, args.a_gs = ntiles * MR, args.b_gs = npanels * K * NR, args.zip_src = tiles;
      if (last) args.bias = bias_panel(g0, jp), args.act = act, args.bias_gs = npanels * NR;
      auto* run_kernel = interleave ? zip_kernel : kernel;
      if (orows != 0) {
        const idx_t run = steps ? kAheadRun : ntiles;
        args.b = panel(pb, g0, jp, q), args.rs_c = orows, args.cs_c = cs, args.accumulate = add, args.stream = stream;
        for (idx_t t = 0; t < ntiles; t += run) {
          const idx_t nt = std::min(run, ntiles - t);
          if (steps)
            for (idx_t u = 0; u < nt; ++u) ahead->step();
          if (args.prefetch && t + nt < ntiles) prefetch_tile(ptrs + (t + nt) * MR, ntiles, s0, ns);
          args.ntiles = nt, args.m = std::min(MR, mcur - (t + nt - 1) * MR);
          args.a = rowp + t * MR, args.c = out + g_o[g0] + rows_o[t * MR] + n_o[jr];
          run_kernel(args);
        }
        continue;
      }
      for (idx_t t = 0; t < ntiles; ++t) {
        const idx_t ir = t * MR, mm = std::min(MR, mcur - ir), rs = tile_rs[t];
        const bool direct = rs != 0 && cs != 0;
        args.m = mm;
        if (args.prefetch && t + 1 < ntiles) prefetch_tile(ptrs + (t + 1) * MR, ntiles, s0, ns);
        if (steps) ahead->step();
        if (interleave) {  // rows at no one stride: zipped into scratch, then copied
          T* o = out + g_o[g0] + rows_o[ir] + n_o[jr];
          T* zipped = tiles + (G - 1) * MR * NR;
          args.a = rowp + t * MR, args.b = panel(pb, g0, jp, q), args.accumulate = false;
          args.c = rs != 0 ? o : zipped, args.rs_c = rs != 0 ? rs : G * NR, args.stream = rs != 0 && stream;
          zip_kernel(args);
          if (rs == 0)
            for (idx_t i = 0; i < mm; ++i)
              std::memcpy(o + rows_o[ir + i] - rows_o[ir], zipped + i * G * NR, size_t(G * nn) * sizeof(T));
          continue;
        }
        for (idx_t g = g0; g < g0 + Gi; ++g) {
          T* tile = tiles + (g - g0) * MR * NR;
          args.a = rowp + ((g - g0) * ntiles + t) * MR;
          args.b = panel(pb, g, jp, q);
          if (last) args.bias = bias_panel(g, jp), args.act = act;
          if (direct) {
            args.c = out + g_o[g] + rows_o[ir] + n_o[jr], args.rs_c = rs, args.cs_c = cs;
            args.accumulate = add, args.stream = stream;
          } else {
            args.c = tile, args.rs_c = NR, args.cs_c = 1, args.accumulate = false, args.stream = false;
            args.bias = nullptr, args.act = 0;  // the epilogue follows the earlier blocks' sums, below
          }
          kernel(args);
          if (direct) continue;
          // Irregular output indices: scattered from the tile by offset.
          T* og = out + g_o[g];
          for (idx_t i = 0; i < mm; ++i) {
            T* row = tile + i * NR;
            if (add)
              for (idx_t j = 0; j < nn; ++j) row[j] += og[rows_o[ir + i] + n_o[jr + j]];
            if (last) epi_row(row, nn, bias_panel(g, jp), act);
            for (idx_t j = 0; j < nn; ++j) og[rows_o[ir + i] + n_o[jr + j]] = row[j];
          }
        }
      }
    }
  }
}

// A padded row's copy holds each of the block's pieces at the piece's offset from
// the block's lowest one, as the kernel reads them from a row pointer (seg_off):
// pad_fit copies side by side, len values apart, fit between the pieces, and a
// stripe of them spans the pieces' extent plus that width.
template <class T>
void GemmPlan<T>::pad_block(const T* a, const idx_t* rows_a, idx_t g0, idx_t q, const PaddedRows& padded,
                            idx_t ntiles, idx_t mcur, const T** ptrs) const {
  const idx_t s0 = seg.block_piece[q], s1 = seg.block_piece[q + 1], omin = pad_omin[size_t(q)];
  const idx_t L = pad_len[size_t(q)], n = padded.count * Gi, fit = std::min(pad_fit[size_t(q)], n);
  const idx_t span = pad_extent[size_t(q)] + (fit - 1) * L;
  T* arena = scratch::get<T>(scratch::kPadArena, size_t((n + fit - 1) / fit * span));
  for (idx_t g = 0; g < Gi; ++g)
    for (idx_t j = 0; j < padded.count; ++j) {
      const idx_t u = g * padded.count + j, r = padded.rows[j];
      const idx_t* c = padded.coord + j * npad;
      T* copy = arena + u / fit * span + u % fit * L;
      const T* src = a + g_a[g0 + g] + rows_a[r];
      for (idx_t sp = s0; sp < s1; ++sp) {
        T* dst = copy + (seg.off[sp] - omin);
        const T* from = src + seg.off[sp];
        const idx_t len = seg.len[sp];
        bool all_in = true, all_out = false;
        for (int w = 0; w < npad; ++w) {
          const idx_t x0 = c[w] + piece_cmin[size_t(sp * npad + w)], x1 = c[w] + piece_cmax[size_t(sp * npad + w)];
          const idx_t lo = pad[w].lo, hi = pad[w].lo + pad[w].size;
          all_in = all_in && x0 >= lo && x1 < hi;
          all_out = all_out || x1 < lo || x0 >= hi;
        }
        if (all_in || all_out) {
          if (all_in)
            std::memcpy(dst, from, size_t(len) * sizeof(T));
          else
            std::fill(dst, dst + len, T(0));
          continue;
        }
        // A piece's runs lie end to end: neighbours on the same side of the border
        // are copied (or zeroed) as one span.
        idx_t pos = 0, end = 0;
        bool span_inside = false;
        auto flush = [&] {
          if (span_inside)
            std::memcpy(dst + pos, from + pos, size_t(end - pos) * sizeof(T));
          else
            std::fill(dst + pos, dst + end, T(0));
        };
        for (idx_t ri = piece_run[sp]; ri < piece_run[sp + 1]; ++ri) {
          const TapRun& run = runs[size_t(ri)];
          bool inside = true;
          for (int w = 0; w < npad; ++w) {
            const idx_t x = c[w] + run.coord[w];
            inside = inside && x >= pad[w].lo && x < pad[w].lo + pad[w].size;
          }
          if (end > pos && inside != span_inside) flush(), pos = end;
          span_inside = inside, end = run.pos + run.len;
        }
        if (end > pos) flush();
      }
      ptrs[(g * ntiles + r / MR) * MR + r % MR] = copy - omin;
    }
  // The last tile's rows past mcur repeat its first row, which may be a padded one.
  const idx_t t = ntiles - 1, mm = mcur - t * MR;
  for (idx_t g = 0; g < Gi; ++g)
    for (idx_t i = mm; i < MR; ++i) ptrs[(g * ntiles + t) * MR + i] = ptrs[(g * ntiles + t) * MR];
}

}  // namespace engine
}  // namespace fastconv
