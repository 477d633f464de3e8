// GEMM microkernel, written once over the SIMD traits Vec<T> and the ISA's
// GemmTile<T> (MR rows x NV vectors, and the cache blocks). Textually included
// by each ISA translation unit inside its namespace; includes no headers.
//
// A tile narrower than NR runs a kernel of only the vectors it needs (NVU <= NV
// accumulators per row): a 16-column tail of a 48-wide tile costs a third of it,
// not all of it. The last vector of a row may be partial (masked stores).

template <class T, int NVU, bool unit>
static inline void gemm_segments(const GemmArgs<T>& g, const T* const* a, typename Vec<T>::reg (&acc)[GemmTile<T>::MR][NVU]) {
  using V = Vec<T>;
  constexpr int MR = GemmTile<T>::MR, W = V::W, NR = GemmTile<T>::NV * W;
  const T* rows[MR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) rows[i] = a[i];
  const T* b = g.b;
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
#pragma GCC unroll 4
    for (idx_t k = 0; k < len; ++k) {
      typename V::reg bv[NVU];
#pragma GCC unroll 8
      for (int j = 0; j < NVU; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const auto av = V::broadcast(r[i] + k * ks);
#pragma GCC unroll 8
        for (int j = 0; j < NVU; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
      }
      b += NR;
    }
  }
}

// One tile: rows a[0 .. MR), C from c, m rows kept.
template <class T, int NVU>
static inline void gemm_tile(const GemmArgs<T>& g, const T* const* a, T* c, idx_t m) {
  using V = Vec<T>;
  constexpr int MR = GemmTile<T>::MR, W = V::W;
  typename V::reg acc[MR][NVU];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NVU; ++j) acc[i][j] = V::zero();
  // A later K block adds to C: fetch the tile's lines while it computes, not at
  // its stores (2048^3 on AVX2, 1 and 2 threads: 1.04x).
  if (g.accumulate && g.cs_c == 1)
    for (idx_t i = 0; i < m; ++i)
      for (idx_t j = 0; j < g.n; j += kLineElems<T>) __builtin_prefetch(c + i * g.rs_c + j, 1);
  if (g.ks == 1)
    gemm_segments<T, NVU, true>(g, a, acc);
  else
    gemm_segments<T, NVU, false>(g, a, acc);
  if (g.stream && m == MR && g.n == NVU * W && g.cs_c == 1 && !g.accumulate &&
      (reinterpret_cast<size_t>(c) | size_t(g.rs_c) * sizeof(T)) % (W * sizeof(T)) == 0) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NVU; ++j) V::stream(c + i * g.rs_c + j * W, acc[i][j]);
    return;
  }
  if (g.cs_c == 1) {
    const idx_t last = g.n - (NVU - 1) * W;  // columns in the last vector: 1..W
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
      T* ci = c + i * g.rs_c;
#pragma GCC unroll 8
      for (int j = 0; j < NVU - 1; ++j)
        V::store(ci + j * W, g.accumulate ? V::add(acc[i][j], V::load(ci + j * W)) : acc[i][j]);
      T* cl = ci + (NVU - 1) * W;
      if (last == W)
        V::store(cl, g.accumulate ? V::add(acc[i][NVU - 1], V::load(cl)) : acc[i][NVU - 1]);
      else
        V::maskstore(cl, last, g.accumulate ? V::add(acc[i][NVU - 1], V::maskload(cl, last)) : acc[i][NVU - 1]);
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
    for (idx_t j = 0; j < g.n; ++j) ci[j * g.cs_c] = g.accumulate ? ci[j * g.cs_c] + bi[j] : bi[j];
  }
}

// Prefetches the MR rows a[0 .. MR) of a tile, every K segment, a line at a time.
template <class T>
static inline void prefetch_rows(const GemmArgs<T>& g, const T* const* a) {
  constexpr int MR = GemmTile<T>::MR;
  for (int i = 0; i < MR; ++i) prefetch_row(a[i], g.seg_off, g.seg_len, g.nseg);
}

template <class T, int NVU>
static void gemm_nv(const GemmArgs<T>& g) {
  constexpr int MR = GemmTile<T>::MR;
  const bool next = g.prefetch && g.ks == 1;
  for (idx_t u = 0; u + 1 < g.ntiles; ++u) {
    if (next) prefetch_rows(g, g.a + (u + 1) * MR);
    gemm_tile<T, NVU>(g, g.a + u * MR, g.c + u * MR * g.rs_c, MR);
  }
  gemm_tile<T, NVU>(g, g.a + (g.ntiles - 1) * MR, g.c + (g.ntiles - 1) * MR * g.rs_c, g.m);
}

// The kernel of the fewest vectors that cover g.n columns.
template <class T, int NVU = GemmTile<T>::NV>
static void gemm(const GemmArgs<T>& g) {
  if constexpr (NVU > 1)
    if (g.n <= (NVU - 1) * Vec<T>::W) return gemm<T, NVU - 1>(g);
  gemm_nv<T, NVU>(g);
}

template <class T>
static constexpr GemmBlocking gemm_blocking() {
  return {GemmTile<T>::MR, GemmTile<T>::NV * Vec<T>::W, Vec<T>::W, GemmTile<T>::KC, GemmTile<T>::L2};
}

static const KernelTable kTable = {
    kIsaName,         &tapreduce<float>,        &tapreduce<double>,        &zip<float>, &zip<double>,
    &gemm<float>,     &gemm<double>,            gemm_blocking<float>(),    gemm_blocking<double>(),
};

const KernelTable* table() { return &kTable; }
