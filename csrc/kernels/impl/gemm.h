// The GEMM microkernels (contracts.h: GemmArgs): the MR x NV-vector register tile,
// and its zip variant for the shuffled group conv. Written once over the SIMD traits
// Vec<T> (simd/*.h) and a register tile Tl (Tile<MR, NV>, registry.inc): textually
// included by each ISA's kernel TU (config/*.cpp) inside its namespace; includes no
// headers.

// A register tile: MR rows of A by NV vectors of B's columns.
template <int MR_, int NV_>
struct Tile {
  static constexpr int MR = MR_, NV = NV_;
};
//
// A tile narrower than NR runs a kernel of only the vectors it needs (NVU <= NV
// accumulators per row): a 16-column tail of a 48-wide tile costs a third of it,
// not all of it. The last vector of a row may be partial (masked stores).

// Whether Vec has FMA by lane (fmadd_lane<L>(b, a, c) = c + b * a[L]: NEON's FMLA by
// element). Then a row's W consecutive K values are one load, each lane feeding one
// step of K; other ISAs broadcast each value (an FMA's memory operand on x86).
template <class V, class = void>
struct LaneFma : std::false_type {};
template <class V>
struct LaneFma<V, std::void_t<decltype(V::kLaneFma)>> : std::integral_constant<bool, V::kLaneFma> {};

// Steps L .. W-1 of K from the rows' vectors av (their lane L each), B rows from b,
// ldb apart.
template <class T, class Tl, int NVU, int L = 0>
__attribute__((always_inline)) static inline void lane_steps(const T* b, idx_t ldb,
                                                             const typename Vec<T>::reg (&av)[Tl::MR],
                                                             typename Vec<T>::reg (&acc)[Tl::MR][NVU]) {
  using V = Vec<T>;
  if constexpr (L < V::W) {
    constexpr int W = V::W;
    typename V::reg bv[NVU];
#pragma GCC unroll 8
    for (int j = 0; j < NVU; ++j) bv[j] = V::load(b + L * ldb + j * W);
#pragma GCC unroll 32
    for (int i = 0; i < Tl::MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NVU; ++j) acc[i][j] = V::template fmadd_lane<L>(bv[j], av[i], acc[i][j]);
    lane_steps<T, Tl, NVU, L + 1>(b, ldb, av, acc);
  }
}

// The accumulators are a local array, copied in and out: acc itself is memory the
// loads of A and B may alias (a vector type aliases its element type), so where this
// function is not inlined, GCC stored every accumulator back after every FMA step.
// Always inlined: GCC's budget for a unit's growth by inlining otherwise decides, and
// the tap-reduce tiles' own inlining left this K loop a call in some tiles.
template <class T, class Tl, int NVU, bool unit>
__attribute__((always_inline)) static inline void gemm_segments(const GemmArgs<T>& g, const T* const* a,
                                                                typename Vec<T>::reg (&acc_out)[Tl::MR][NVU]) {
  using V = Vec<T>;
  constexpr int MR = Tl::MR, W = V::W, NR = Tl::NV * W;
  typename V::reg acc[MR][NVU];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NVU; ++j) acc[i][j] = acc_out[i][j];
  const T* rows[MR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) rows[i] = a[i];
  const T* b = g.b;
  const idx_t ldb = g.ldb > 0 ? g.ldb : idx_t(NR);  // B's row stride: packed panels, or B in place
  const idx_t ks = unit ? 1 : g.ks;
  constexpr idx_t LINE = kLineElems<T>;
  for (idx_t s = 0; s < g.nseg; ++s) {
    const idx_t off = g.seg_off[s], len = g.seg_len[s];
    const T* r[MR];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) r[i] = rows[i] + off;
    // Rows made of short segments (a patch: one run per kernel row) defeat the
    // hardware prefetchers: fetch the next segment's lines while this one runs.
    if (unit && g.prefetch && s + 1 < g.nseg && g.seg_len[s + 1] >= LINE) {
      const idx_t noff = g.seg_off[s + 1], nlen = g.seg_len[s + 1];
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
        for (idx_t e = 0; e < nlen; e += LINE) __builtin_prefetch(rows[i] + noff + e);
    }
    idx_t k = 0;
    if constexpr (unit && LaneFma<V>::value) {
      // U vectors of each row an iteration: at W = 2 (double) one is only 2 steps of
      // K, and the loop's own instructions (index steps, compare, branch) would weigh
      // twice as much against its FMAs (docs/neon.md).
      constexpr int U = W == 2 ? 2 : 1;
      for (; k + U * W <= len; k += U * W, b += U * W * ldb) {
#pragma GCC unroll 2
        for (int u = 0; u < U; ++u) {
          typename V::reg av[MR];
#pragma GCC unroll 32
          for (int i = 0; i < MR; ++i) av[i] = V::load(r[i] + k + u * W);
          lane_steps<T, Tl, NVU>(b + u * W * ldb, ldb, av, acc);
        }
      }
      if constexpr (U > 1) {
        for (; k + W <= len; k += W, b += W * ldb) {
          typename V::reg av[MR];
#pragma GCC unroll 32
          for (int i = 0; i < MR; ++i) av[i] = V::load(r[i] + k);
          lane_steps<T, Tl, NVU>(b, ldb, av, acc);
        }
      }
    }
#pragma GCC unroll 4
    for (; k < len; ++k) {
      typename V::reg bv[NVU];
#pragma GCC unroll 8
      for (int j = 0; j < NVU; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const auto av = V::broadcast(r[i] + k * ks);
#pragma GCC unroll 8
        for (int j = 0; j < NVU; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
      }
      b += ldb;
    }
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NVU; ++j) acc_out[i][j] = acc[i][j];
}

// The zip kernel's output rows (contracts.h): row i of the last group's tile t
// (its registers, stored at a row stride of NR) with the same rows of groups
// 0 .. G-2 from zs (tiles of MR x NR), zipped a vector of columns at a time, G
// vectors out. Inlined into the tile, but not unrolled: the loops, not the tile's
// K loop, are what each group count adds to the build (docs/tuning.md). stream:
// every vector full, rows vector-aligned.
template <class T, class Tl, int G>
__attribute__((always_inline)) static inline void zip_rows_out(const GemmArgs<T>& g, const T* t, T* c, idx_t m, const T* zs, bool stream) {
  using V = Vec<T>;
  constexpr int W = V::W, NR = Tl::NV * W;
  constexpr bool permuted = zip_prepermuted(G, W);  // B's columns in place: blends only
  const ZipTables<T, G>* zt = nullptr;
  if constexpr (!permuted) {
    static const ZipTables<T, G> tables;  // built once
    zt = &tables;
  }
  for (idx_t i = 0; i < m; ++i)
    for (idx_t j = 0; j < g.n; j += W) {
      typename V::reg rows[G], o[G];
      for (int q = 0; q < G - 1; ++q) rows[q] = V::load(zs + (q * Tl::MR + i) * NR + j);
      rows[G - 1] = V::load(t + i * NR + j);
      T* cj = c + i * g.rs_c + j * G;
      if constexpr (!permuted && G <= Interleave<V>::value) {  // one interleaving store
        if (g.n - j >= W) {
          V::template store_interleaved<G>(cj, rows);
          continue;
        }
      }
      if constexpr (permuted)
        zip_regs_permuted<T, G>(rows, o);
      else
        zip_regs<T, G>(zt->perm, zt->mask, rows, o);
      const idx_t vals = G * (g.n - j < W ? g.n - j : W);  // this vector's columns, zipped
      for (int v = 0; v < G; ++v) {
        if (stream)
          V::stream(cj + v * W, o[v]);
        else if (vals - v * W >= W)
          V::store(cj + v * W, o[v]);
        else if (vals > v * W)
          V::maskstore(cj + v * W, vals - v * W, o[v]);
      }
    }
}

// More than kMaxZipGroups groups: element by element.
template <class T, class Tl>
static void zip_rows_out_any(const GemmArgs<T>& g, const T* t, T* c, idx_t m, const T* zs, bool) {
  constexpr int MR = Tl::MR, NR = Tl::NV * Vec<T>::W;
  const idx_t G = g.groups;
  for (idx_t i = 0; i < m; ++i) {
    T* ci = c + i * g.rs_c;
    for (idx_t j = 0; j < g.n; ++j) {
      for (idx_t q = 0; q < G - 1; ++q) ci[j * G + q] = zs[(q * MR + i) * NR + j];
      ci[j * G + G - 1] = t[i * NR + j];
    }
  }
}

// zip_rows_out for g.groups groups.
template <class T, class Tl, int G = 2>
__attribute__((always_inline)) static inline void zip_out(const GemmArgs<T>& g, const T* t, T* c, idx_t m,
                                                          const T* zs, bool stream) {
  if constexpr (G <= kMaxZipGroups) {
    if (g.groups == G) return zip_rows_out<T, Tl, G>(g, t, c, m, zs, stream);
    zip_out<T, Tl, G + 1>(g, t, c, m, zs, stream);
  } else {
    zip_rows_out_any<T, Tl>(g, t, c, m, zs, stream);
  }
}

// One tile: rows a[0 .. MR), C from c, m rows kept. Z: the zip kernel's tile,
// written with the other groups' rows from zs.
template <class T, class Tl, int NVU, bool Z>
static inline void gemm_tile(const GemmArgs<T>& g, const T* const* a, T* c, idx_t m, const T* zs = nullptr) {
  using V = Vec<T>;
  constexpr int MR = Tl::MR, W = V::W;
  typename V::reg acc[MR][NVU];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NVU; ++j) acc[i][j] = V::zero();
  // A later K block adds to C: fetch the tile's lines while it computes, not at
  // its stores (docs/tuning.md).
  if (g.accumulate && g.cs_c == 1)
    for (idx_t i = 0; i < m; ++i)
      for (idx_t j = 0; j < g.n; j += kLineElems<T>) __builtin_prefetch(c + i * g.rs_c + j, 1);
  if (g.ks == 1)
    gemm_segments<T, Tl, NVU, true>(g, a, acc);
  else
    gemm_segments<T, Tl, NVU, false>(g, a, acc);
  // Streamed stores: a full tile whose rows are vector-aligned.
  const bool stream = g.stream && m == MR && g.n == NVU * W &&
                      (reinterpret_cast<size_t>(c) | size_t(g.rs_c) * sizeof(T)) % (W * sizeof(T)) == 0;
  const Epilogue<T> epi{g.bias, g.act};  // the bias panel holds NR values: whole vectors
  if constexpr (Z) {
    alignas(64) T t[MR * Tl::NV * W];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NVU; ++j) V::store(t + i * Tl::NV * W + j * W, epi.active() ? epi(acc[i][j], j * W) : acc[i][j]);
    zip_out<T, Tl>(g, t, c, m, zs, stream);
    return;
  }
  if (stream && g.cs_c == 1 && !g.accumulate) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NVU; ++j) V::stream(c + i * g.rs_c + j * W, epi.active() ? epi(acc[i][j], j * W) : acc[i][j]);
    return;
  }
  if (g.cs_c == 1) {
    const idx_t last = g.n - (NVU - 1) * W;  // columns in the last vector: 1..W
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
      T* ci = c + i * g.rs_c;
#pragma GCC unroll 8
      for (int j = 0; j < NVU - 1; ++j) {
        const auto v = g.accumulate ? V::add(acc[i][j], V::load(ci + j * W)) : acc[i][j];
        V::store(ci + j * W, epi.active() ? epi(v, j * W) : v);
      }
      T* cl = ci + (NVU - 1) * W;
      if (last == W) {
        const auto v = g.accumulate ? V::add(acc[i][NVU - 1], V::load(cl)) : acc[i][NVU - 1];
        V::store(cl, epi.active() ? epi(v, (NVU - 1) * W) : v);
      } else {
        const auto v = g.accumulate ? V::add(acc[i][NVU - 1], V::maskload(cl, last)) : acc[i][NVU - 1];
        V::maskstore(cl, last, epi.active() ? epi(v, (NVU - 1) * W) : v);
      }
    }
    return;
  }
  T buf[MR * NVU * W];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NVU; ++j) V::store(buf + (i * NVU + j) * W, acc[i][j]);
  for (idx_t i = 0; i < m; ++i) {
    T* ci = c + i * g.rs_c;
    const T* bi = buf + i * NVU * W;
    for (idx_t j = 0; j < g.n; ++j) {
      const T v = g.accumulate ? ci[j * g.cs_c] + bi[j] : bi[j];
      ci[j * g.cs_c] = epi.active() ? epi.one(v, j) : v;
    }
  }
}

// Prefetches the MR rows a[0 .. MR) of a tile, every K segment, a line at a time.
template <class T, class Tl>
static inline void prefetch_rows(const GemmArgs<T>& g, const T* const* a) {
  constexpr int MR = Tl::MR;
  for (int i = 0; i < MR; ++i) prefetch_row(a[i], g.seg_off, g.seg_len, g.nseg);
}

template <class T, class Tl, int NVU, bool Z>
static void gemm_nv(const GemmArgs<T>& g) {
  constexpr int MR = Tl::MR, NR = Tl::NV * Vec<T>::W;
  const bool next = g.prefetch && g.ks == 1;
  if constexpr (Z) {
    // Tile by tile, every group's in turn: each tile's output rows leave right
    // after its FMAs and before the next tile's, as the unshuffled GEMM's do (a
    // burst of stores after a run of tiles made the shuffle cost; docs/tuning.md).
    GemmArgs<T> gs = g;  // a group's tile into scratch, whole vectors (B's columns may be permuted)
    gs.rs_c = NR, gs.cs_c = 1, gs.n = NVU * Vec<T>::W, gs.accumulate = false, gs.stream = false;
    GemmArgs<T> gl = g;  // the last group's
    gl.b = g.b + (g.groups - 1) * g.b_gs;
    if (g.bias) gl.bias = g.bias + (g.groups - 1) * g.bias_gs;
    for (idx_t u = 0; u < g.ntiles; ++u) {
      for (idx_t q = 0; q < g.groups; ++q) {
        const T* const* a = g.a + q * g.a_gs + u * MR;
        if (next && u + 1 < g.ntiles) prefetch_rows<T, Tl>(g, a + MR);
        if (q + 1 == g.groups) break;
        gs.b = g.b + q * g.b_gs;
        if (g.bias) gs.bias = g.bias + q * g.bias_gs;
        gemm_tile<T, Tl, NVU, false>(gs, a, g.zip_src + q * MR * NR, MR);
      }
      gemm_tile<T, Tl, NVU, true>(gl, g.a + (g.groups - 1) * g.a_gs + u * MR, g.c + u * MR * g.rs_c,
                              u + 1 < g.ntiles ? MR : g.m, g.zip_src);
    }
  } else {
    for (idx_t u = 0; u + 1 < g.ntiles; ++u) {
      if (next) prefetch_rows<T, Tl>(g, g.a + (u + 1) * MR);
      gemm_tile<T, Tl, NVU, false>(g, g.a + u * MR, g.c + u * MR * g.rs_c, MR);
    }
    gemm_tile<T, Tl, NVU, false>(g, g.a + (g.ntiles - 1) * MR, g.c + (g.ntiles - 1) * MR * g.rs_c, g.m);
  }
}

// The kernel of the fewest vectors that cover g.n columns (Z: as gemm_tile).
template <class T, class Tl, bool Z, int NVU = Tl::NV>
static void gemm_fit(const GemmArgs<T>& g) {
  if constexpr (NVU > 1)
    if (g.n <= (NVU - 1) * Vec<T>::W) return gemm_fit<T, Tl, Z, NVU - 1>(g);
  gemm_nv<T, Tl, NVU, Z>(g);
}

template <class T, class Tl>
static void gemm(const GemmArgs<T>& g) {
  gemm_fit<T, Tl, false>(g);
}

template <class T, class Tl>
static void gemm_zip(const GemmArgs<T>& g) {
  gemm_fit<T, Tl, true>(g);
}
